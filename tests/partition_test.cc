// Network partitions between real processes, each on a host of its own: a network namespace
// this test makes (tests/netns.h), wired through a router namespace where a partition drops
// the packets between two hosts silently. The driver's heartbeat timeout is its default, 10 s.
//
// - Partitions of 2, 4 and 8 s between the driver and the executor running the receiver, and
//   of 4 s between that executor and the one its blocks are replicated to: no executor is
//   lost and every line sent is counted, once.
// - A 25 s partition: the executor is lost, its receiver and tasks move, a shuffle job's
//   results stay exact; after the heal the executor (fenced meanwhile) registers again without
//   the blocks it held, and the blocks of an application that ended during a short partition
//   are removed by the heartbeats that follow it.
//
// Every process is killed by its Subprocess's destructor and the namespaces are removed by
// the lab's, also when a test fails.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"
#include "tests/netns.h"

namespace ember {
namespace clustertest {
namespace {

using testing::NetLab;

// A driver, two executors and a text server, each on its own host.
class NetCluster {
 public:
  explicit NetCluster(const std::string& dir) : dir_(dir) {}

  bool Start() {
    if (!lab_.Create({"driver", "exec1", "exec2", "source"})) return false;
    secret_file_ = dir_ + "/secret";
    std::ofstream(secret_file_) << "partition-test-secret\n";
    chmod(secret_file_.c_str(), 0600);
    secret_ = "partition-test-secret";
    driver_ = std::make_unique<Subprocess>(
        lab_.In("driver",
                {"driver/ember-driver", "--bind", lab_.Ip("driver"), "--port", "0", "--ui-port",
                 "0", "--work-dir", dir_ + "/driver-work", "--secret-file", secret_file_}),
        dir_, "driver");
    if (!driver_->WaitForOutput("listening on", 20s)) return false;
    address_ = ListeningAddress(*driver_);
    stub_ = proto::Driver::NewStub(rpc::MakeChannel(address_));
    for (const char* host : {"exec1", "exec2"}) {
      executors_[host] = std::make_unique<Subprocess>(
          lab_.In(host, {"executor/ember-executor", "--driver", address_, "--bind", lab_.Ip(host),
                         "--port", "0", "--data-dir", dir_ + "/" + host, "--slots", "2",
                         "--secret-file", secret_file_}),
          dir_, host);
      if (!executors_[host]->WaitForOutput("listening on", 20s)) return false;
    }
    return Eventually([&] { return LiveExecutors().size() == 2; }, 30s);
  }

  // A text server on the source host sending `count` lines at `rate` a second, then exiting.
  std::unique_ptr<Subprocess> TextServer(int count, int rate) {
    std::ofstream(dir_ + "/input.txt") << kLine << "\n";
    auto server = std::make_unique<Subprocess>(
        lab_.In("source",
                {"tools/ember-textserver", "--bind", lab_.Ip("source"), "--port", "0", "--file",
                 dir_ + "/input.txt", "--loop", "--count", std::to_string(count), "--rate",
                 std::to_string(rate), "--wait-for-clients", "1", "--exit-on-eof"}),
        dir_, "source");
    EXPECT_TRUE(server->WaitForOutput("listening on", 10s));
    return server;
  }

  std::unique_ptr<Subprocess> Submit(const std::string& name,
                                     const std::vector<std::string>& rest) {
    std::vector<std::string> argv = {"tools/ember-submit",
                                     "--master",
                                     "ember://" + address_,
                                     "--secret-file",
                                     secret_file_,
                                     "--name",
                                     name};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return std::make_unique<Subprocess>(lab_.In("driver", argv), dir_, "submit-" + name);
  }

  grpc::Status Status(const std::string& app, proto::StatusReply* reply) {
    return DriverStatus(*stub_, secret_, app, reply);
  }

  grpc::Status Kill(const std::string& app) { return KillApp(*stub_, secret_, app); }

  // Live executors by id.
  std::map<std::string, proto::ExecutorInfo> LiveExecutors() {
    std::map<std::string, proto::ExecutorInfo> out;
    proto::StatusReply reply;
    if (!Status("", &reply).ok()) return out;
    for (const auto& e : reply.executors()) {
      if (e.alive()) out[e.executor_id()] = e;
    }
    return out;
  }

  // The host of the executor running the app's receiver; empty while none runs.
  std::string ReceiverHost(const std::string& app, std::string* executor_id = nullptr) {
    proto::StatusReply reply;
    if (!Status(app, &reply).ok() || reply.apps_size() != 1) return "";
    auto live = LiveExecutors();
    for (const auto& r : reply.apps(0).receivers()) {
      if (!r.active() || live.count(r.executor_id()) == 0) continue;
      if (executor_id != nullptr) *executor_id = r.executor_id();
      return HostOf(live[r.executor_id()].address());
    }
    return "";
  }

  std::string HostOf(const std::string& address) {
    for (const char* host : {"exec1", "exec2"}) {
      if (address.rfind(lab_.Ip(host) + ":", 0) == 0) return host;
    }
    return "";
  }

  NetLab& lab() { return lab_; }
  Subprocess& driver() { return *driver_; }
  std::string Logs() {
    return "--- driver:\n" + driver_->Stderr() + "\n--- exec1:\n" + executors_["exec1"]->Stderr() +
           "\n--- exec2:\n" + executors_["exec2"]->Stderr();
  }

 private:
  std::string dir_, secret_file_, secret_, address_;
  NetLab lab_;  // declared before the processes: they go first
  std::unique_ptr<Subprocess> driver_;
  std::map<std::string, std::unique_ptr<Subprocess>> executors_;
  std::unique_ptr<proto::Driver::Stub> stub_;
};

int LinesCounted(const std::string& out) {
  int lines = 0;
  for (const auto& b : ParseCounts(out)) {
    int n = WholeLines(b);
    EXPECT_GE(n, 0) << "a batch's counts are not whole lines";
    lines += std::max(n, 0);
  }
  return lines;
}

TEST(PartitionTest, PartitionsShorterThanTheHeartbeatTimeoutLoseNothing) {
  std::string dir = MakeTempDir("partition-short");
  NetCluster cluster(dir);
  ASSERT_TRUE(cluster.Start()) << cluster.lab().error() << cluster.Logs();
  std::set<std::string> executors;
  for (const auto& [id, info] : cluster.LiveExecutors()) executors.insert(id);

  // 100 lines a second for 40 s: the partitions happen while lines flow.
  constexpr int kLines = 4000;
  auto source = cluster.TextServer(kLines, 100);
  std::string port = PortOf(ListeningAddress(*source));
  auto job = cluster.Submit("wc", {"examples/libnetwork_word_count.so", "--",
                                   cluster.lab().Ip("source"), port, "500", "180000"});
  std::string app;
  ASSERT_TRUE(Eventually([&] { return !(app = AppIdIn(job->Stderr())).empty(); }, 30s))
      << job->Stderr();
  std::string host;
  ASSERT_TRUE(Eventually([&] { return !(host = cluster.ReceiverHost(app)).empty(); }, 30s))
      << cluster.Logs();

  // The receiver's executor cut off from the driver for 2, 4 and 8 s, then from the other
  // executor (where its blocks are replicated) for 4 s; lines are counted before each.
  struct Cut {
    std::string a, b;
    int seconds;
  };
  for (const Cut& cut : {Cut{"driver", host, 2}, Cut{"driver", host, 4}, Cut{"driver", host, 8},
                         Cut{"exec1", "exec2", 4}}) {
    int before = LinesCounted(job->Stdout());
    ASSERT_TRUE(Eventually([&] { return LinesCounted(job->Stdout()) >= before + 50; }, 30s))
        << job->Stdout() << cluster.Logs();
    ASSERT_TRUE(cluster.lab().Partition(cut.a, cut.b)) << cluster.lab().error();
    std::this_thread::sleep_for(std::chrono::seconds(cut.seconds));  // the partition's length
    ASSERT_TRUE(cluster.lab().Heal(cut.a, cut.b)) << cluster.lab().error();
  }

  // Every line the source sent is counted once, and no executor was lost on the way.
  ASSERT_TRUE(source->Wait(60s) == 0) << source->Stderr();
  ASSERT_TRUE(Eventually([&] { return LinesCounted(job->Stdout()) >= kLines; }, 60s))
      << LinesCounted(job->Stdout()) << " lines counted\n"
      << cluster.Logs();
  EXPECT_EQ(LinesCounted(job->Stdout()), kLines);
  std::set<std::string> after;
  for (const auto& [id, info] : cluster.LiveExecutors()) after.insert(id);
  EXPECT_EQ(after, executors) << cluster.Logs();
  EXPECT_EQ(cluster.driver().Stderr().find("Lost executor"), std::string::npos) << cluster.Logs();
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(job->Wait(60s), 1) << job->Stderr();
}

TEST(PartitionTest, ALongPartitionMovesTheWorkAndTheExecutorRejoinsClean) {
  std::string dir = MakeTempDir("partition-long");
  NetCluster cluster(dir);
  ASSERT_TRUE(cluster.Start()) << cluster.lab().error() << cluster.Logs();

  // A receiver with blocks on its executor, and a shuffle job whose results are exact.
  auto source = cluster.TextServer(1000000, 100);
  std::string port = PortOf(ListeningAddress(*source));
  auto wc = cluster.Submit("wc", {"examples/libnetwork_word_count.so", "--",
                                  cluster.lab().Ip("source"), port, "500", "600000"});
  // 100 batches of 300 ms: 30 s of batches, across the partition; the job ends at 90 s.
  constexpr int kBatches = 100;
  constexpr int64_t kN = 2000;
  auto shuffle =
      cluster.Submit("shuffle", {"tests/jobs/libshuffle_sum.so", "--", std::to_string(kBatches),
                                 std::to_string(kN), "300", "90000"});
  std::string app;
  ASSERT_TRUE(Eventually([&] { return !(app = AppIdIn(wc->Stderr())).empty(); }, 30s))
      << wc->Stderr();
  std::string host, victim;
  ASSERT_TRUE(Eventually([&] { return !(host = cluster.ReceiverHost(app, &victim)).empty(); }, 30s))
      << cluster.Logs();
  ASSERT_TRUE(Eventually([&] { return LinesCounted(wc->Stdout()) >= 100; }, 30s))
      << wc->Stdout() << cluster.Logs();

  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(cluster.lab().Partition("driver", host)) << cluster.lab().error();
  // Lost by the heartbeat timeout, not before; its receiver starts on the other executor,
  // whose batches count lines again.
  ASSERT_TRUE(Eventually([&] { return cluster.LiveExecutors().count(victim) == 0; }, 20s))
      << cluster.Logs();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 9s);
  std::string new_host;
  ASSERT_TRUE(Eventually(
      [&] { return !(new_host = cluster.ReceiverHost(app)).empty() && new_host != host; }, 20s))
      << cluster.Logs();
  int moved = LinesCounted(wc->Stdout());
  ASSERT_TRUE(Eventually([&] { return LinesCounted(wc->Stdout()) >= moved + 100; }, 20s))
      << wc->Stdout() << cluster.Logs();
  // The word count ends while the executor holding its blocks is cut off: it never hears.
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(wc->Wait(60s), 1) << wc->Stderr();

  std::this_thread::sleep_for(start + 25s - std::chrono::steady_clock::now());  // the cut's length
  ASSERT_TRUE(cluster.lab().Heal("driver", host)) << cluster.lab().error();

  // It fenced itself (its receiver stopped before the driver started another), registers
  // again under a new id, and keeps none of the blocks of its earlier registration.
  auto rejoined = [&](proto::ExecutorInfo* out) {
    for (const auto& [id, info] : cluster.LiveExecutors()) {
      if (id != victim && cluster.HostOf(info.address()) == host) {
        *out = info;
        return true;
      }
    }
    return false;
  };
  proto::ExecutorInfo first, later;
  ASSERT_TRUE(Eventually([&] { return rejoined(&first); }, 30s)) << cluster.Logs();
  // A heartbeat after its registration says how many blocks it holds: none.
  ASSERT_TRUE(Eventually(
      [&] {
        return rejoined(&later) && later.last_heartbeat_ms() > first.last_heartbeat_ms() &&
               later.blocks() == 0;
      },
      30s))
      << later.DebugString() << cluster.Logs();
  std::string logs = cluster.Logs();
  EXPECT_NE(logs.find("fenced: no heartbeat answered"), std::string::npos) << logs;
  EXPECT_TRUE(std::regex_search(
      logs, std::regex("removed [1-9][0-9]* block\\(s\\) of the earlier registration")))
      << logs;

  // The shuffle job's results are exact, each batch once.
  ASSERT_EQ(shuffle->Wait(240s), 0) << shuffle->Stderr() << cluster.Logs();
  std::set<std::string> expected;
  for (int i = 0; i < kBatches; ++i) {
    Expected e = ShuffleSum(i, kN);
    expected.insert("result total=" + std::to_string(e.total) +
                    " groups=7 digest=" + std::to_string(e.digest));
  }
  std::vector<std::string> got;
  std::istringstream out(shuffle->Stdout());
  for (std::string line; std::getline(out, line);) {
    if (line.rfind("result ", 0) == 0) got.push_back(line);
  }
  EXPECT_EQ(got.size(), static_cast<size_t>(kBatches)) << shuffle->Stdout();
  std::set<std::string> seen;
  for (const auto& line : got) {
    EXPECT_TRUE(expected.count(line)) << "wrong result: " << line;
    EXPECT_TRUE(seen.insert(line).second) << "batch output twice: " << line;
  }
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
