// SQL throughput: 1M-row batches through createDataFrame -> temp view -> the seed's join with a
// 10K-row static table -> count(), against the same join written with Ember's pair-RDD join, in
// the same run (bench/sql_join_job.cc), in local[2] and on a driver with two executors (real
// processes on 127.0.0.1). Prints rows/s of each per mode, and `sql/rdd` ratios.
//
//   bench/sql_bench [--rows N] [--static N] [--partitions N] [--batches N]

#include <chrono>
#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/process.h"

namespace {

using ember::testing::ListeningAddress;
using ember::testing::MakeTempDir;
using ember::testing::Subprocess;
using namespace std::chrono_literals;

struct Times {
  double sql_ms = 0, rdd_ms = 0;
  int batches = 0;
  long long sql_rows = -1, rdd_rows = -1;
};

Times Parse(const std::string& out) {
  Times t;
  std::istringstream in(out);
  std::string kind;
  double ms;
  long long n;
  while (in >> kind >> ms >> n) {
    if (kind == "sql") {
      t.sql_ms += ms;
      t.sql_rows = n;
      ++t.batches;
    } else if (kind == "rdd") {
      t.rdd_ms += ms;
      t.rdd_rows = n;
    }
  }
  return t;
}

void Report(const char* mode, const Times& t, long long rows) {
  const double sql_rate = t.sql_ms > 0 ? rows * t.batches / (t.sql_ms / 1000) : 0;
  const double rdd_rate = t.rdd_ms > 0 ? rows * t.batches / (t.rdd_ms / 1000) : 0;
  std::printf(
      "%-9s sql join %10.0f rows/s (%.0f ms/batch) | pair-RDD join %10.0f rows/s "
      "(%.0f ms/batch) | joined rows %lld / %lld | sql/rdd: %.2f\n",
      mode, sql_rate, t.sql_ms / std::max(1, t.batches), rdd_rate,
      t.rdd_ms / std::max(1, t.batches), t.sql_rows, t.rdd_rows,
      rdd_rate > 0 ? sql_rate / rdd_rate : 0);
}

}  // namespace

int main(int argc, char** argv) {
  long long rows = 1000000, statics = 10000;
  int partitions = 4, batches = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rows")
      rows = std::stoll(argv[i + 1]);
    else if (a == "--static")
      statics = std::stoll(argv[i + 1]);
    else if (a == "--partitions")
      partitions = std::stoi(argv[i + 1]);
    else if (a == "--batches")
      batches = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: sql_bench [--rows N] [--static N] [--partitions N] [--batches N]\n");
      return 2;
    }
  }
  std::string dir = MakeTempDir("sql-bench");
  std::vector<std::string> job = {"bench/libsql_join_job.so", "--",
                                  std::to_string(rows),       std::to_string(statics),
                                  std::to_string(partitions), std::to_string(batches)};
  const auto timeout = std::chrono::seconds(600);

  std::vector<std::string> local_argv = {"tools/ember-submit", "--master", "local[2]"};
  local_argv.insert(local_argv.end(), job.begin(), job.end());
  Subprocess local(local_argv, dir, "local");
  if (local.Wait(timeout) != 0) {
    std::fprintf(stderr, "local run failed:\n%s\n", local.Stderr().c_str());
    return 1;
  }
  Times local_times = Parse(local.Stdout());

  Subprocess driver(
      {"driver/ember-driver", "--port", "0", "--ui-port", "0", "--work-dir", dir + "/work"}, dir,
      "driver");
  if (!driver.WaitForOutput("listening on", 20s)) return 1;
  const std::string address = ListeningAddress(driver);
  std::vector<std::unique_ptr<Subprocess>> executors;
  for (int i = 0; i < 2; ++i) {
    executors.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{"executor/ember-executor", "--driver", address, "--port", "0",
                                 "--data-dir", dir + "/e" + std::to_string(i), "--slots", "1"},
        dir, "executor" + std::to_string(i)));
    if (!executors.back()->WaitForOutput("listening on", 20s)) return 1;
  }
  for (auto& e : executors) {
    if (!e->WaitForOutput("registered", 20s, /*in_stderr=*/true)) return 1;
  }
  std::vector<std::string> cluster_argv = {"tools/ember-submit", "--master", "ember://" + address};
  cluster_argv.insert(cluster_argv.end(), job.begin(), job.end());
  Subprocess cluster(cluster_argv, dir, "cluster");
  if (cluster.Wait(timeout) != 0) {
    std::fprintf(stderr, "cluster run failed:\n%s\n%s\n", cluster.Stderr().c_str(),
                 driver.Stderr().c_str());
    return 1;
  }
  Times cluster_times = Parse(cluster.Stdout());

  std::printf("%lld-row batches against a %lld-row static table, %d partitions, %d batches\n", rows,
              statics, partitions, local_times.batches);
  Report("local[2]", local_times, rows);
  Report("2 execs", cluster_times, rows);
  return 0;
}
