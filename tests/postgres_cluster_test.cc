// The PostgreSQL sink's exactly-once contract with real processes: kill -9 of the driver and
// of an executor while partitions are being written, a restart, and the table holds every
// input line exactly once.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "tests/cluster_harness.h"
#include "tests/postgres_server.h"

namespace ember {
namespace clustertest {
namespace {

using testing::PostgresServer;

// The process on this machine with a TCP socket whose local port is `port`: /proc/net/tcp
// gives the socket's inode, a /proc/PID/fd link names it. -1 if none.
pid_t SocketOwner(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line, inode;
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, node;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> node;
    if (std::stoi(local.substr(local.find(':') + 1), nullptr, 16) == port) {
      inode = node;
      break;
    }
  }
  if (inode.empty()) return -1;
  const std::string target = "socket:[" + inode + "]";
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) {
      if (std::filesystem::read_symlink(fd.path(), ec).string() == target) return std::stoi(pid);
    }
  }
  return -1;
}

pid_t ParentOf(pid_t pid) {
  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after ')'.
  std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

TEST(PostgresClusterTest, KillingTheDriverAndAnExecutorMidWriteWritesEveryLineOnce) {
  PostgresServer pg;
  ASSERT_TRUE(pg.error().empty()) << pg.error();
  // Every COPY into the table holds its transaction open a while, marker inserted and rows
  // sent but not committed: the kills below land inside such transactions.
  pg.Query(
      "CREATE TABLE lines (id bigint, word text);"
      "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
      "  $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;"
      "CREATE TRIGGER slow AFTER INSERT ON lines FOR EACH STATEMENT EXECUTE FUNCTION slow();");

  std::string dir = MakeTempDir("postgres-kill");
  const std::string in = dir + "/in", staging = dir + "/staging";
  for (const auto& d : {in, staging}) std::filesystem::create_directories(d);
  Cluster cluster(dir, 3);
  ASSERT_TRUE(cluster.WaitForExecutors(3));
  Subprocess submit(
      cluster.Submit({"--detach", "--name", "pg-exactly-once", "tests/jobs/libfile_to_postgres.so",
                      "--", in, pg.connInfo(), "lines", dir + "/cp", "1000", "600000"}),
      dir, "job");
  ASSERT_EQ(submit.Wait(30s), 0) << submit.Stderr();
  const std::string app = AppIdIn(submit.Stdout());

  // Files of 50 lines with ids unique across files, staged beside the input and renamed in.
  std::set<int64_t> expected;
  int files = 0;
  auto write_file = [&] {
    const std::string name = "f" + std::to_string(files);
    std::ofstream out(staging + "/" + name);
    for (int i = 0; i < 50; ++i) {
      const int64_t id = files * 1000 + i;
      out << id << " w" << id % 13 << "\n";
      expected.insert(id);
    }
    out.close();
    std::filesystem::rename(staging + "/" + name, in + "/" + name);
    ++files;
  };
  auto rows = [&] { return std::stoll(*pg.Query("SELECT count(*) FROM lines")[0][0]); };
  auto writing = [&] {
    return std::stoll(
        *pg.Query("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                  " AND query LIKE 'COPY%lines%'")[0][0]);
  };

  // A file at a time, each seen in the table before the next.
  for (int round = 0; round < 3; ++round) {
    write_file();
    ASSERT_TRUE(Eventually([&] { return rows() == static_cast<int64_t>(expected.size()); }, 60s))
        << cluster.driver().Stderr();
  }
  // Six files in one batch (a partition each, over the three executors' slots); once writes
  // are in flight, kill -9 the driver and an executor. Files go on arriving meanwhile.
  for (int i = 0; i < 6; ++i) write_file();
  ASSERT_TRUE(Eventually([&] { return writing() >= 2; }, 60s)) << cluster.driver().Stderr();
  // The victim is an executor one of whose task processes is inside a write: the owner of
  // the client end of a writing backend's connection, a child of the executor.
  Subprocess* victim = nullptr;
  for (const auto& row : pg.Query("SELECT client_port FROM pg_stat_activity WHERE state ="
                                  " 'active' AND query LIKE 'COPY%lines%'")) {
    for (pid_t p = SocketOwner(std::stoi(*row[0])); p > 1 && victim == nullptr; p = ParentOf(p)) {
      for (const auto& [address, info] : cluster.LiveExecutors()) {
        Subprocess* e = cluster.ExecutorAt(address);
        if (e != nullptr && e->pid() == p) victim = e;
      }
    }
    if (victim != nullptr) break;
  }
  ASSERT_NE(victim, nullptr) << "no executor found behind the writing connections";
  cluster.KillDriver();
  victim->Kill(SIGKILL);
  victim->Wait(10s);
  const int64_t at_kill = rows();
  const size_t written_at_kill = expected.size();
  std::cout << "killed with " << writing() << " writes in flight, " << at_kill << " of "
            << written_at_kill << " lines in the table" << std::endl;
  for (int i = 0; i < 3; ++i) write_file();
  cluster.StartDriverAgain();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  for (int i = 0; i < 2; ++i) write_file();

  ASSERT_TRUE(Eventually([&] { return rows() >= static_cast<int64_t>(expected.size()); }, 120s))
      << "rows: " << rows() << " of " << expected.size() << "\n"
      << cluster.driver().Stderr();
  // One more file after the recovered batches: anything written twice would be there by now.
  write_file();
  ASSERT_TRUE(Eventually([&] { return rows() >= static_cast<int64_t>(expected.size()); }, 60s))
      << cluster.driver().Stderr();

  std::multiset<int64_t> got;
  for (const auto& row : pg.Query("SELECT id FROM lines")) got.insert(std::stoll(*row[0]));
  EXPECT_EQ(got, std::multiset<int64_t>(expected.begin(), expected.end()))
      << "rows when killed: " << at_kill;
  EXPECT_EQ(pg.Query("SELECT count(*) FROM (SELECT id FROM lines GROUP BY id"
                     " HAVING count(*) > 1) d")[0][0],
            "0");
  EXPECT_NE(cluster.driver().Stderr().find("recovering from the checkpoint"), std::string::npos);
  EXPECT_TRUE(cluster.Kill(app).ok());
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
