// The seed's DataFrame program (examples/sql_join.cc) end to end, in local mode and on a driver
// with two executors: "id,amount" lines from ember-textserver over TCP, joined by SQL with a
// codes CSV, every batch's show() output checked line by line against Spark's layout, and a
// malformed line that fails one batch (its records printed, as the seed's except branch does)
// while the next batches run.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"

namespace ember {
namespace {

using namespace std::chrono_literals;
using testing::MakeTempDir;
using testing::Subprocess;

constexpr int kLines = 240;
constexpr int kMalformedAt = 120;
const char* const kMalformed = "7,abc";

struct Input {
  std::vector<std::string> lines;
  std::string codes_csv;
};

// ids 0..11 (codes name 0..9: 10 and 11 drop out of the inner join), amounts x.5 below 10.
Input MakeInput(const std::string& dir) {
  Input in;
  std::ofstream text(dir + "/input.txt");
  for (int i = 0; i < kLines; ++i) {
    std::string line = i == kMalformedAt
                           ? kMalformed
                           : std::to_string(i % 12) + "," + std::to_string(i % 7) + ".5";
    in.lines.push_back(line);
    text << line << "\n";
  }
  in.codes_csv = dir + "/codes.csv";
  std::ofstream codes(in.codes_csv);
  codes << "id,name\n";
  for (int id = 0; id < 10; ++id) codes << id << ",n" << id << "\n";
  return in;
}

struct Output {
  std::multiset<std::string> rows;  // "id name amount"
  std::vector<std::string> failed;  // the records lines of failed batches
  int tables = 0;
  int tables_after_failure = 0;
};

// show()'s tables (every id fits 3 columns, every name 4, every amount 6: the rules and the
// header are fixed), each followed by an empty line, and the failed batches' record lines.
Output Parse(const std::string& stdout_text) {
  Output out;
  std::istringstream in(stdout_text);
  std::string line;
  const std::string rule = "+---+----+------+";
  static const std::regex kRow(R"(\|([ \d]{3})\|([ \w]{4})\|([ \d.]{6})\|)");
  while (std::getline(in, line)) {
    if (line.rfind("Vector(", 0) == 0) {
      out.failed.push_back(line);
      continue;
    }
    if (line != rule) {
      ADD_FAILURE() << "unexpected line: " << line;
      continue;
    }
    std::getline(in, line);
    EXPECT_EQ(line, "| id|name|amount|");
    std::getline(in, line);
    EXPECT_EQ(line, rule);
    while (std::getline(in, line) && line != rule) {
      std::smatch m;
      if (!std::regex_match(line, m, kRow)) {
        ADD_FAILURE() << "not a row of the table: " << line;
        continue;
      }
      auto trim = [](std::string s) { return s.substr(s.find_first_not_of(' ')); };
      out.rows.insert(trim(m[1]) + " " + trim(m[2]) + " " + trim(m[3]));
    }
    std::getline(in, line);
    EXPECT_EQ(line, "") << "show() ends with an empty line";
    ++out.tables;
    if (!out.failed.empty()) ++out.tables_after_failure;
  }
  return out;
}

// What the tables must hold: the join of every line not in a failed batch.
void Check(const Input& in, const Output& out, const std::string& context) {
  ASSERT_EQ(out.failed.size(), 1u) << context;
  EXPECT_NE(out.failed[0].find(kMalformed), std::string::npos) << out.failed[0];
  EXPECT_GE(out.tables_after_failure, 1) << "no batch ran after the failed one\n" << context;
  std::multiset<std::string> want;
  std::string failed = out.failed[0].substr(7, out.failed[0].size() - 8);  // Vector(...)
  std::multiset<std::string> in_failed;
  for (size_t start = 0; start <= failed.size();) {  // Vector's items: "a, b, c"
    size_t end = failed.find(", ", start);
    if (end == std::string::npos) end = failed.size();
    in_failed.insert(failed.substr(start, end - start));
    start = end + 2;
  }
  for (const std::string& line : in.lines) {
    auto it = in_failed.find(line);
    if (it != in_failed.end()) {
      in_failed.erase(it);
      continue;
    }
    if (line == kMalformed) continue;
    const int id = std::stoi(line.substr(0, line.find(',')));
    if (id < 10)
      want.insert(std::to_string(id) + " n" + std::to_string(id) + " " +
                  line.substr(line.find(',') + 1));
  }
  EXPECT_TRUE(in_failed.empty()) << "the failed batch lists records never sent";
  EXPECT_EQ(out.rows, want) << context;
}

std::string StartServer(const std::string& dir, std::unique_ptr<Subprocess>* server) {
  *server = std::make_unique<Subprocess>(
      std::vector<std::string>{"tools/ember-textserver", "--port", "0", "--file",
                               dir + "/input.txt", "--wait-for-clients", "1", "--rate", "160"},
      dir, "server");
  EXPECT_TRUE((*server)->WaitForOutput("listening on", 10s)) << (*server)->Stderr();
  return clustertest::PortOf(clustertest::ListeningAddress(**server));
}

TEST(SqlExampleTest, SeedJoinShowsEveryBatchInLocalMode) {
  std::string dir = MakeTempDir("sqljoin-local");
  Input in = MakeInput(dir);
  std::unique_ptr<Subprocess> server;
  std::string port = StartServer(dir, &server);
  Subprocess job({"tools/ember-submit", "--master", "local[2]", "examples/libsql_join.so", "--",
                  in.codes_csv, "127.0.0.1", port, "500", "4000", "1000"},
                 dir, "job");
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr();
  Output out = Parse(job.Stdout());
  EXPECT_GE(out.tables, 4) << job.Stdout();
  Check(in, out, job.Stdout());
  EXPECT_NE(job.Stderr().find("not an id,amount line: \"7,abc\""), std::string::npos)
      << job.Stderr();
}

TEST(SqlExampleTest, SeedJoinShowsEveryBatchOnTwoExecutors) {
  std::string dir = MakeTempDir("sqljoin-cluster");
  Input in = MakeInput(dir);
  clustertest::Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  std::unique_ptr<Subprocess> server;
  std::string port = StartServer(dir, &server);
  Subprocess job(cluster.Submit({"--name", "sqljoin", "examples/libsql_join.so", "--", in.codes_csv,
                                 "127.0.0.1", port, "500", "5000", "1000"}),
                 dir, "submit");
  ASSERT_EQ(job.Wait(120s), 0) << job.Stderr() << cluster.driver().Stderr();
  Output out = Parse(job.Stdout());
  EXPECT_GE(out.tables, 4) << job.Stdout();
  Check(in, out, job.Stdout());
}

}  // namespace
}  // namespace ember
