// Driver restarts and recovery with real processes: kill -9 of the driver (and of an
// executor with it), jobs started again from the driver's work directory, state and batches
// recovered from checkpoints, and plugin upgrades. Every process is killed by its
// Subprocess's destructor, also when a test fails.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/hadoop.h"
#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

TEST(ClusterTest, ExecutorsRegisterAgainAfterADriverRestart) {
  std::string dir = MakeTempDir("cluster-restart");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  cluster.RestartDriver();
  // The new driver knows no executor; their heartbeats are refused, and they register again.
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  Subprocess job(cluster.Submit({"tests/jobs/libshuffle_sum.so", "--", "2", "1000", "200", "1000"}),
                 dir, "job");
  EXPECT_EQ(job.Wait(60s), 0) << job.Stderr() << cluster.driver().Stderr();
  EXPECT_NE(job.Stdout().find("result total=499500 groups=7"), std::string::npos) << job.Stdout();
}

TEST(ClusterTest, ARestartedDriverStartsItsRunningJobsAgain) {
  std::string dir = MakeTempDir("cluster-recover");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  // A job that runs until killed, and one that is killed before the driver dies.
  Subprocess job(cluster.Submit({"--detach", "--name", "long", "tests/jobs/libshuffle_sum.so", "--",
                                 "1000", "1000", "300", "600000"}),
                 dir, "job");
  ASSERT_EQ(job.Wait(30s), 0) << job.Stderr();
  std::string app = AppIdIn(job.Stdout());
  Subprocess gone(cluster.Submit({"--detach", "--name", "gone", "tests/jobs/libshuffle_sum.so",
                                  "--", "1000", "1000", "300", "600000"}),
                  dir, "gone");
  ASSERT_EQ(gone.Wait(30s), 0) << gone.Stderr();
  std::string killed = AppIdIn(gone.Stdout());
  ASSERT_TRUE(cluster.Kill(killed).ok());
  auto batches = [&](const std::string& id) -> int64_t {
    proto::StatusReply reply;
    if (!cluster.Status(id, &reply).ok() || reply.apps_size() != 1) return -1;
    if (reply.apps(0).state() != proto::APP_RUNNING) return -1;
    return reply.apps(0).completed_batches();
  };
  ASSERT_TRUE(Eventually([&] { return batches(app) >= 3; }, 30s)) << cluster.driver().Stderr();

  cluster.RestartDriver();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  // The same application runs again, from its kept submission, and completes batches.
  ASSERT_TRUE(Eventually([&] { return batches(app) >= 2; }, 30s)) << cluster.driver().Stderr();
  proto::StatusReply all;
  ASSERT_TRUE(cluster.Status("", &all).ok());
  ASSERT_EQ(all.apps_size(), 1) << "the killed application must stay ended";
  EXPECT_EQ(all.apps(0).app_id(), app);
  EXPECT_TRUE(cluster.Kill(app).ok());
}

// A follower (ember-submit --logs --follow) re-attached to a driver started again gets the new
// run's output from its first line: nothing of it skipped, nothing shown twice.
TEST(ClusterTest, AFollowerGetsTheNewRunWholeAfterADriverRestart) {
  std::string dir = MakeTempDir("cluster-follow");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  Subprocess job(cluster.Submit({"--detach", "tests/jobs/libshuffle_sum.so", "--", "1000", "1000",
                                 "300", "600000"}),
                 dir, "job");
  ASSERT_EQ(job.Wait(30s), 0) << job.Stderr();
  std::string app = AppIdIn(job.Stdout());
  auto lines = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  Subprocess follower(cluster.Submit({"--logs", app, "--follow"}), dir, "follower");
  ASSERT_TRUE(Eventually([&] { return lines(follower.Stdout()) >= 3; }, 60s))
      << follower.Stderr() << cluster.driver().Stderr();

  cluster.KillDriver();
  // Once it says so, the follower has written all it received from the old driver.
  ASSERT_TRUE(Eventually(
      [&] { return follower.Stderr().find("lost the driver") != std::string::npos; }, 30s))
      << follower.Stderr();
  const std::string before = follower.Stdout();
  cluster.StartDriverAgain();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  auto logs = [&](const std::string& name) {
    Subprocess l(cluster.Submit({"--logs", app}), dir, name);
    l.Wait(30s);
    return l.Stdout();
  };
  int polls = 0;
  ASSERT_TRUE(Eventually([&] { return lines(logs("logs" + std::to_string(polls++))) >= 3; }, 60s))
      << cluster.driver().Stderr();
  ASSERT_TRUE(cluster.Kill(app).ok());
  follower.Wait(30s);
  const std::string new_run = logs("logs-final");
  EXPECT_GE(lines(new_run), 3);
  EXPECT_EQ(follower.Stdout(), before + new_run);
}

// A complete state checkpoint of `stream` in `checkpoints`: renamed from <time>.tmp into place.
bool HasStateCheckpoint(const std::string& checkpoints, int stream) {
  std::error_code ec;
  std::string base = checkpoints + "/state-" + std::to_string(stream);
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    std::string name = e.path().filename().string();
    if (name.find('.') == std::string::npos && std::filesystem::exists(e.path() / "MANIFEST")) {
      return true;
    }
  }
  return false;
}

// Follows `app`'s output to its first state line, whose counts include the state restored
// from the checkpoint: more than the 40 records one batch brings.
void ExpectStateRestored(Cluster& cluster, const std::string& dir, const std::string& app) {
  Subprocess logs(cluster.Submit({"--logs", app, "--follow"}), dir, "logs");
  std::string out;
  std::smatch m;  // into `out`
  ASSERT_TRUE(Eventually(
      [&] {
        out = logs.Stdout();
        return std::regex_search(out, m,
                                 std::regex(R"(state batch=0 keys=\d+ total=(\d+) updated=(\d+))"));
      },
      60s))
      << out << cluster.driver().Stderr();
  EXPECT_GT(std::stoll(m[1]), 40) << out;
  EXPECT_GT(std::stoll(m[2]), 40) << out;
  EXPECT_NE(cluster.driver().Stderr().find("restoring the state of"), std::string::npos)
      << cluster.driver().Stderr();
}

// Submits state_count detached with checkpoints in `checkpoints`; returns its application
// id once both stateful streams (mapWithState every 10 batches, updateStateByKey every 10 s)
// have written a state checkpoint and the job's submission is kept there.
std::string StartCheckpointedStateCount(Cluster& cluster, const std::string& dir,
                                        const std::string& checkpoints) {
  Subprocess job(cluster.Submit({"--detach", "tests/jobs/libstate_count.so", "--", "10000", "250",
                                 "600000", checkpoints}),
                 dir, "job");
  EXPECT_EQ(job.Wait(30s), 0) << job.Stderr();
  EXPECT_TRUE(Eventually(
      [&] {
        return HasStateCheckpoint(checkpoints, 0) && HasStateCheckpoint(checkpoints, 1) &&
               std::filesystem::exists(checkpoints + "/submission");
      },
      60s))
      << cluster.driver().Stderr();
  return AppIdIn(job.Stdout());
}

TEST(ClusterTest, ARestartedDriverRestoresStateFromItsCheckpoint) {
  std::string dir = MakeTempDir("cluster-state-recover");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  std::string app = StartCheckpointedStateCount(cluster, dir, dir + "/cp");
  ASSERT_FALSE(app.empty());
  cluster.RestartDriver();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  // The job starts again, its state restored.
  ExpectStateRestored(cluster, dir, app);
  EXPECT_TRUE(cluster.Kill(app).ok());
}

TEST(ClusterTest, LosingAnExecutorRebuildsTheStateItKept) {
  std::string dir = MakeTempDir("cluster-state-loss");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  // 60 batches of 40 records, 250 ms apart; mapWithState's 4 partitions of state are spread
  // over both executors (2 slots each), and checkpointed every 10 batches.
  Subprocess job(
      cluster.Submit({"tests/jobs/libstate_count.so", "--", "60", "250", "600000", dir + "/cp"}),
      dir, "job");
  auto printed = [&](int batch) {
    return job.Stdout().find("state batch=" + std::to_string(batch) + " ") != std::string::npos;
  };
  ASSERT_TRUE(Eventually([&] { return printed(14); }, 60s)) << cluster.driver().Stderr();
  Subprocess* victim = cluster.ExecutorAt(cluster.LiveExecutors().begin()->first);
  ASSERT_NE(victim, nullptr);
  victim->Kill(SIGKILL);
  victim->Wait(10s);
  ASSERT_TRUE(Eventually([&] { return printed(64); }, 90s))
      << job.Stdout() << cluster.driver().Stderr();
  // The state went on as if nothing happened: each batch's counts are exact.
  std::set<int> keys;
  std::istringstream lines(job.Stdout());
  int seen = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_match(
            line, m, std::regex(R"(state batch=(\d+) keys=(\d+) total=(\d+) updated=(\d+))"))) {
      continue;
    }
    int i = std::stoi(m[1]);
    ASSERT_EQ(i, seen++) << job.Stdout();
    if (i < 60) {
      for (int j = 0; j < 40; ++j) keys.insert((i * 7 + j) % 50);
    }
    int64_t total = 40 * std::min(i + 1, 60);
    EXPECT_EQ(std::stoll(m[2]), static_cast<int64_t>(keys.size())) << line;
    EXPECT_EQ(std::stoll(m[3]), total) << line;
    EXPECT_EQ(std::stoll(m[4]), total) << line;
  }
  EXPECT_GE(seen, 65);
  for (const char* kind : {"mapWithState", "updateStateByKey"}) {
    EXPECT_NE(cluster.driver().Stderr().find(std::string("rebuilding the state of ") + kind),
              std::string::npos)
        << cluster.driver().Stderr();
  }
  job.Kill(SIGTERM);
  job.Wait(30s);
}

// The driver's host is lost with its work directory: the checkpoint directory alone (it keeps
// the job's submission, plugin included) starts the job again on a new driver, state restored.
TEST(ClusterTest, ACheckpointDirectoryAloneStartsTheJobAgain) {
  std::string dir = MakeTempDir("cluster-from-checkpoint");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  std::string checkpoints = dir + "/cp";
  ASSERT_FALSE(StartCheckpointedStateCount(cluster, dir, checkpoints).empty());

  cluster.KillDriver();
  std::filesystem::remove_all(dir + "/driver-work");
  cluster.StartDriverAgain();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  proto::StatusReply none;
  ASSERT_TRUE(cluster.Status("", &none).ok());
  EXPECT_EQ(none.apps_size(), 0) << "the new driver knows no application";

  Subprocess bad(cluster.Submit({"--from-checkpoint", dir + "/no-such-dir"}), dir, "bad");
  EXPECT_EQ(bad.Wait(30s), 3);
  EXPECT_NE(bad.Stderr().find("holds no job submission"), std::string::npos) << bad.Stderr();

  Subprocess again(cluster.Submit({"--detach", "--from-checkpoint", checkpoints}), dir, "again");
  ASSERT_EQ(again.Wait(30s), 0) << again.Stderr();
  std::string app = AppIdIn(again.Stdout());
  ASSERT_FALSE(app.empty()) << again.Stdout();
  ExpectStateRestored(cluster, dir, app);
  EXPECT_TRUE(cluster.Kill(app).ok());

  // The kept job also runs in ember-submit's own process, job arguments given there winning.
  Subprocess local({"tools/ember-submit", "--master", "local[2]", "--conf", "ember.ui.port=0",
                    "--from-checkpoint", checkpoints, "--", "3", "250", "2000", dir + "/cp-local"},
                   dir, "local");
  ASSERT_EQ(local.Wait(60s), 0) << local.Stderr();
  EXPECT_NE(local.Stdout().find("state batch=2 keys=50 total=120 updated=120"), std::string::npos)
      << local.Stdout();
}

// ------------------------------------------------------------- recovery after kill -9

// `dir`'s saveAsTextFiles batches under `prefix` that completed (_SUCCESS), by batch time.
std::map<int64_t, std::map<std::string, int64_t>> SavedBatches(const std::string& dir,
                                                               const std::string& prefix) {
  std::map<int64_t, std::map<std::string, int64_t>> out;
  std::error_code ec;
  static const std::regex kRecord(R"(\((.*),(\d+)\))");
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix + "-", 0) != 0 || !std::filesystem::exists(e.path() / "_SUCCESS")) {
      continue;
    }
    auto& counts = out[std::stoll(name.substr(prefix.size() + 1))];
    for (const auto& part : std::filesystem::directory_iterator(e.path(), ec)) {
      if (part.path().filename().string().rfind("part-", 0) != 0) continue;
      std::istringstream in(testing::ReadFile(part.path().string()));
      std::smatch m;
      for (std::string line; std::getline(in, line);) {
        if (std::regex_match(line, m, kRecord)) counts[m[1]] += std::stoll(m[2]);
      }
    }
  }
  return out;
}

// libfile_totals.so on `cluster`: its input, output and checkpoint directories under `dir`,
// and files written into its input (staged beside it, then renamed in).
struct FileTotalsJob {
  FileTotalsJob(Cluster& cluster, const std::string& dir, const std::string& batch_ms)
      : in(dir + "/in"), out(dir + "/out"), staging(dir + "/staging") {
    for (const auto& d : {in, out, staging}) std::filesystem::create_directories(d);
    Subprocess job(cluster.Submit({"--detach", "tests/jobs/libfile_totals.so", "--", in, out,
                                   dir + "/cp", batch_ms, "600000"}),
                   dir, "job");
    EXPECT_EQ(job.Wait(30s), 0) << job.Stderr();
    app = AppIdIn(job.Stdout());
    // --detach returns once the plugin loaded, maybe before the context started: a file
    // written before the stream's start time is not new, and is never read (newFilesOnly).
    // A batch saved says the stream has started.
    EXPECT_TRUE(Eventually([&] { return !SavedBatches(out, "totals").empty(); }, 60s))
        << cluster.driver().Stderr();
  }
  void Write(const std::string& text) {
    std::string name = "f" + std::to_string(files++);
    std::ofstream(staging + "/" + name) << text << "\n";
    std::filesystem::rename(staging + "/" + name, in + "/" + name);
  }
  std::string in, out, staging, app;
  int files = 0;
};

TEST(ClusterTest, KillingTheDriverAndAnExecutorTogetherLosesNoBatch) {
  std::string dir = MakeTempDir("cluster-kill-both");
  Cluster cluster(dir, 3);
  ASSERT_TRUE(cluster.WaitForExecutors(3));
  FileTotalsJob job(cluster, dir, "1000");
  const std::string& out = job.out;
  std::map<std::string, int64_t> expected;
  auto write_file = [&] {
    int i = job.files;
    std::string text = "common w" + std::to_string(i % 7) + " w" + std::to_string(i * 3 % 5);
    std::istringstream words(text);
    for (std::string w; words >> w;) ++expected[w];
    job.Write(text);
  };
  // A file, then until a batch that counted it completes; four times.
  for (int round = 0; round < 4; ++round) {
    write_file();
    ASSERT_TRUE(Eventually(
        [&] {
          int64_t n = 0;
          for (const auto& [t, c] : SavedBatches(out, "counts"))
            n += c.count("common") ? c.at("common") : 0;
          return n == job.files;
        },
        60s))
        << cluster.driver().Stderr();
  }
  // kill -9 of the driver and of an executor at once; files go on arriving meanwhile.
  Subprocess* victim = cluster.ExecutorAt(cluster.LiveExecutors().begin()->first);
  ASSERT_NE(victim, nullptr);
  cluster.KillDriver();
  victim->Kill(SIGKILL);
  victim->Wait(10s);
  for (int i = 0; i < 3; ++i) write_file();
  cluster.StartDriverAgain();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  for (int i = 0; i < 2; ++i) write_file();

  // The newest totals reach every word of every file.
  ASSERT_TRUE(Eventually(
      [&] {
        auto totals = SavedBatches(out, "totals");
        return !totals.empty() && totals.rbegin()->second == expected;
      },
      90s))
      << cluster.driver().Stderr();
  auto counts = SavedBatches(out, "counts");
  // Each file counted in exactly one batch, across the crash.
  std::map<std::string, int64_t> summed;
  for (const auto& [t, c] : counts) {
    for (const auto& [w, n] : c) summed[w] += n;
  }
  EXPECT_EQ(summed, expected);
  // The same counts in Hadoop SequenceFiles, written by the executors' task processes and
  // renamed whole by the driver, across the crash (each batch's outputs run in order, so every
  // batch up to the newest totals has its SequenceFiles).
  const int64_t newest_totals = SavedBatches(out, "totals").rbegin()->first;
  for (const auto& [t, c] : counts) {
    if (t > newest_totals) break;
    std::string seq = out + "/seq-" + std::to_string(t);
    std::map<std::string, int64_t> from_seq;
    for (const auto& [w, n] : hadoop::ReadSequenceFiles<std::string, int64_t>(seq)) {
      from_seq[w] += n;
    }
    EXPECT_EQ(from_seq, c) << seq;
  }
  // Every batch has its output, the missed ones included.
  for (int64_t t = counts.begin()->first; t <= counts.rbegin()->first; t += 1000) {
    EXPECT_EQ(counts.count(t), 1u) << "no output for batch " << t;
  }
  EXPECT_NE(cluster.driver().Stderr().find("recovering from the checkpoint"), std::string::npos);
  EXPECT_TRUE(cluster.Kill(job.app).ok());
}

TEST(ClusterTest, UpgradeReplacesThePluginKeepingItsState) {
  std::string dir = MakeTempDir("cluster-upgrade");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  FileTotalsJob job(cluster, dir, "500");
  const std::string& out = job.out;
  const std::string& app = job.app;
  auto write_file = [&](const std::string& text) { job.Write(text); };
  auto totals_become = [&](const std::map<std::string, int64_t>& expected) {
    return Eventually(
        [&] {
          auto totals = SavedBatches(out, "totals");
          return !totals.empty() && totals.rbegin()->second == expected;
        },
        60s);
  };
  write_file("a b");
  ASSERT_TRUE(totals_become({{"a", 1}, {"b", 1}})) << cluster.driver().Stderr();

  // Another graph (a window added): refused, naming the operator; the old plugin goes on.
  Subprocess refused(cluster.Submit({"--upgrade", app, "tests/jobs/libfile_totals_windowed.so"}),
                     dir, "refused");
  EXPECT_EQ(refused.Wait(120s), 1) << refused.Stderr();
  EXPECT_NE(refused.Stderr().find("window(1000 ms, 500 ms)"), std::string::npos)
      << refused.Stderr();
  EXPECT_NE(refused.Stderr().find("previous plugin again"), std::string::npos);
  write_file("a");
  ASSERT_TRUE(totals_become({{"a", 2}, {"b", 1}})) << cluster.driver().Stderr();

  // New function bodies (words uppercased), the same graph: the state goes on.
  Subprocess upgraded(cluster.Submit({"--upgrade", app, "tests/jobs/libfile_totals_uppercase.so"}),
                      dir, "upgraded");
  ASSERT_EQ(upgraded.Wait(120s), 0) << upgraded.Stderr();
  write_file("a c");
  EXPECT_TRUE(totals_become({{"a", 2}, {"b", 1}, {"A", 1}, {"C", 1}})) << cluster.driver().Stderr();
  proto::StatusReply status;
  ASSERT_TRUE(cluster.Status(app, &status).ok());
  ASSERT_EQ(status.apps_size(), 1);
  EXPECT_EQ(status.apps(0).state(), proto::APP_RUNNING);

  // Bad requests: no such application, an unloadable plugin.
  std::string junk = dir + "/junk.so";
  std::ofstream(junk) << "not a plugin";
  Subprocess none(
      cluster.Submit({"--upgrade", "app-19990101000000-0001", "tests/jobs/libfile_totals.so"}), dir,
      "none");
  EXPECT_EQ(none.Wait(30s), 6) << none.Stderr();
  Subprocess bad(cluster.Submit({"--upgrade", app, junk}), dir, "bad");
  EXPECT_EQ(bad.Wait(30s), 3) << bad.Stderr();
  EXPECT_TRUE(cluster.Kill(app).ok());
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
