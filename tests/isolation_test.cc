// The crash matrix: job code that segfaults, aborts, throws or allocates past its limit, in a
// task, a receiver or an entry point, on a real driver and two executors, while another
// application runs beside it. The failing application recovers or fails as the README says;
// the other one's per-batch results are exact and complete; no daemon restarts; and no process
// an application ran outlives it.

#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

constexpr int kBatches = 6;
constexpr int64_t kN = 2000;

// What tests/jobs/crashy.cc prints for its queue's batch i.
std::string CrashyLine(int64_t i) {
  int64_t total = kN * i * kN + kN * (kN - 1) / 2;
  return "result total=" + std::to_string(total) + " count=" + std::to_string(kN) + "\n";
}

std::string CrashyLines() {
  std::string out;
  for (int i = 0; i < kBatches; ++i) out += CrashyLine(i);
  return out;
}

std::vector<std::string> ResultLines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("result ", 0) == 0) lines.push_back(line);
  }
  return lines;
}

// Processes whose command line holds `text` (an application's driver or task processes).
int ProcessesWith(const std::string& text) {
  int n = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* entry = readdir(proc)) {
    std::string name = entry->d_name;
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = testing::ReadFile("/proc/" + name + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(text) != std::string::npos && cmdline.find("ember-") != std::string::npos) {
      ++n;
    }
  }
  closedir(proc);
  return n;
}

struct Case {
  std::string name;
  std::string mode;
  std::vector<std::string> conf;       // --conf KEY=VALUE pairs
  int exit_code;                       // of ember-submit: 0 finished, 1 failed
  std::vector<std::string> in_stderr;  // what its failure message names
};

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("isolation");
    cluster_ = std::make_unique<Cluster>(dir_, 2);
    ASSERT_TRUE(cluster_->WaitForExecutors(2));
  }

  // Runs the cases at once beside B (libshuffle_sum.so), then checks everyone.
  void RunBeside(const std::vector<Case>& cases) {
    constexpr int kBBatches = 30;
    constexpr int64_t kBN = 3000;
    Subprocess b(cluster_->Submit({"--name", "b", "tests/jobs/libshuffle_sum.so", "--",
                                   std::to_string(kBBatches), std::to_string(kBN), "300", "15000"}),
                 dir_, "b");
    ASSERT_TRUE(b.WaitForOutput("result total=", 60s)) << b.Stderr();
    std::vector<std::unique_ptr<Subprocess>> jobs;
    for (const Case& c : cases) {
      std::vector<std::string> argv = {"--name", c.name};
      for (const auto& kv : c.conf) {
        argv.push_back("--conf");
        argv.push_back(kv);
      }
      for (const std::string& a : {std::string("tests/jobs/libcrashy.so"), std::string("--"),
                                   c.mode, dir_ + "/marker-" + c.name, std::to_string(kBatches),
                                   std::to_string(kN), std::string("300"), std::string("6000")}) {
        argv.push_back(a);
      }
      jobs.push_back(std::make_unique<Subprocess>(cluster_->Submit(argv), dir_, c.name));
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      Subprocess& job = *jobs[i];
      SCOPED_TRACE(c.name);
      EXPECT_EQ(job.Wait(180s), c.exit_code) << job.Stdout() << job.Stderr();
      for (const auto& text : c.in_stderr) {
        EXPECT_NE(job.Stderr().find(text), std::string::npos)
            << "no '" << text << "' in: " << job.Stderr();
      }
      results_[c.name] = job.Stdout();
    }
    ASSERT_EQ(b.Wait(180s), 0) << b.Stderr() << cluster_->driver().Stderr();
    // B saw every batch once, in order, each exact.
    EXPECT_EQ(b.Stdout(), ShuffleSumLines(kBBatches, kBN));
    // No daemon restarted or died.
    EXPECT_TRUE(cluster_->driver().running());
    EXPECT_EQ(cluster_->LiveExecutors().size(), 2u);
    for (const auto& [address, info] : cluster_->LiveExecutors()) {
      Subprocess* e = cluster_->ExecutorAt(address);
      ASSERT_NE(e, nullptr) << "an executor registered from an unknown address " << address;
      EXPECT_TRUE(e->running());
    }
    // Every application ended: none of their processes is left.
    EXPECT_TRUE(Eventually(
        [] { return ProcessesWith("--app-process") == 0 && ProcessesWith("--task-process") == 0; },
        30s))
        << ProcessesWith("--app-process") << " driver and " << ProcessesWith("--task-process")
        << " task processes left";
  }

  std::string ExecutorLogs() {
    std::string logs;
    for (const auto& [address, info] : cluster_->LiveExecutors()) {
      logs += cluster_->ExecutorAt(address)->Stderr();
    }
    return logs;
  }

  std::string dir_;
  std::unique_ptr<Cluster> cluster_;
  std::map<std::string, std::string> results_;
};

TEST_F(IsolationTest, TaskAndReceiverCrashesStayInTheirApplication) {
  RunBeside({
      // A segfault in a map function's first attempt: the task runs again, the batch is exact.
      {"segv-once", "segv-map-once", {}, 0, {}},
      // In every attempt: the batch fails, naming the signal, and so does the application.
      {"segv", "segv-map", {"ember.task.maxFailures=2"}, 1, {"SIGSEGV", "task process"}},
      // An abort in a receiver: restarted in a new process; what it then stores is counted.
      {"abort", "abort-receiver-once", {}, 0, {}},
      // A map function past ember.executor.memory: its allocation fails, the task says so.
      {"oom-task",
       "oom-map",
       {"ember.executor.memory=512m", "ember.task.maxFailures=2"},
       1,
       {"out of memory"}},
  });
  EXPECT_EQ(results_["segv-once"], CrashyLines());
  int64_t total = 0, count = 0;
  for (const auto& line : ResultLines(results_["abort"])) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, std::regex(R"(result total=(\d+) count=(\d+))")));
    total += std::stoll(m[1]);
    count += std::stoll(m[2]);
  }
  EXPECT_EQ(count, kN) << results_["abort"];
  EXPECT_EQ(total, kN * (kN + 1) / 2);
  std::string logs = ExecutorLogs();
  EXPECT_NE(logs.find("died: killed by signal 11 (SIGSEGV)"), std::string::npos);
  EXPECT_NE(logs.find("died: killed by signal 6 (SIGABRT)"), std::string::npos);
}

TEST_F(IsolationTest, EntryPointCrashesRestartOrFailTheirApplicationOnly) {
  RunBeside({
      // A throw from the entry point fails the application with its message: no restart.
      {"throw", "throw-entry", {}, 1, {"crashy: thrown from the entry point"}},
      // A segfault in the entry point: its driver process starts again, the job completes.
      {"segv-entry-once", "segv-entry-once", {"ember.driver.restartBackoff=200ms"}, 0, {}},
      // In every run: restarted as many times as allowed, then failed with the reason.
      {"segv-entry",
       "segv-entry",
       {"ember.driver.maxRestarts=1", "ember.driver.restartBackoff=200ms"},
       1,
       {"killed by signal 11 (SIGSEGV)", "restarted 1 time"}},
      // An allocation past ember.driver.memory in the entry point fails it.
      {"oom-entry", "oom-entry", {"ember.driver.memory=512m"}, 1, {"bad_alloc"}},
  });
  // The restarted run's results, complete, after the restart's line.
  const std::string& out = results_["segv-entry-once"];
  size_t restart = out.find("restarting the application");
  ASSERT_NE(restart, std::string::npos) << out;
  EXPECT_EQ(out.substr(out.find('\n', restart) + 1), CrashyLines()) << out;
  EXPECT_NE(cluster_->driver().Stderr().find("died: killed by signal 11 (SIGSEGV)"),
            std::string::npos);
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
