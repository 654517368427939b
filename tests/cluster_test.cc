// The distributed runtime with real processes on 127.0.0.1: an ember-driver, executors, the
// text server and ember-submit, ports chosen by the OS. Faults are real too: kill -9 of an
// executor mid-run. Every wait is a condition with a deadline; every process is killed by its
// Subprocess's destructor, also when a test fails.

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

// ---------------------------------------------------------------- network word count

TEST(ClusterTest, NetworkWordCountOnThreeExecutorsCountsEveryLineSent) {
  std::string dir = MakeTempDir("cluster-wc");
  Cluster cluster(dir, 3);
  ASSERT_TRUE(cluster.WaitForExecutors(3)) << cluster.driver().Stderr();

  constexpr int kLines = 400;
  {
    std::ofstream f(dir + "/input.txt");
    for (int i = 0; i < kLines; ++i) f << kLine << "\n";
  }
  Subprocess server({"tools/ember-textserver", "--port", "0", "--file", dir + "/input.txt",
                     "--wait-for-clients", "1", "--rate", "200"},
                    dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s));
  std::string port = PortOf(ListeningAddress(server));

  Subprocess job(cluster.Submit({"--name", "netwc", "examples/libnetwork_word_count.so", "--",
                                 "127.0.0.1", port, "500", "6000"}),
                 dir, "submit");
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr() << cluster.driver().Stderr();
  int total = 0;
  auto batches = ParseCounts(job.Stdout());
  ASSERT_GE(batches.size(), 5u) << job.Stdout();
  for (const auto& b : batches) {
    int n = WholeLines(b);
    EXPECT_GE(n, 0) << "a batch's counts are not whole lines";
    total += std::max(n, 0);
  }
  // The text server sends its 400 lines in 2 s; the job runs 6 s: every line is counted once.
  EXPECT_EQ(total, kLines) << job.Stdout();
  EXPECT_NE(job.Stderr().find("submitted application app-"), std::string::npos) << job.Stderr();

  // The driver's web UI and REST API know the job and the executors.
  std::smatch m;
  std::string out = cluster.driver().Stdout();
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(web UI at http://([^:/]+):(\d+)/)"))) << out;
  httplib::Client ui(m[1].str(), std::stoi(m[2]));
  auto apps = ui.Get("/api/v1/applications");
  ASSERT_TRUE(apps);
  auto list = nlohmann::json::parse(apps->body);
  ASSERT_EQ(list.size(), 1u) << apps->body;
  EXPECT_EQ(list[0]["name"], "netwc");
  auto stats =
      ui.Get(("/api/v1/applications/" + list[0]["id"].get<std::string>() + "/streaming/statistics")
                 .c_str());
  ASSERT_TRUE(stats);
  EXPECT_EQ(nlohmann::json::parse(stats->body)["numProcessedRecords"], kLines) << stats->body;
  auto executors = ui.Get("/api/v1/executors");
  ASSERT_TRUE(executors);
  EXPECT_EQ(nlohmann::json::parse(executors->body).size(), 3u);
}

// A job's dashboards, computed in its driver process, are served by ember-driver's REST API
// with every batch's known values, and stay readable after the job ended.
TEST(ClusterTest, DashboardsOfAClusterJobStayReadableAfterItEnds) {
  std::string dir = MakeTempDir("cluster-dashboards");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  constexpr int kBatches = 5;
  Subprocess job(cluster.Submit({"--name", "dash", "tests/jobs/libdashboard_words.so", "--",
                                 "300", "4000", std::to_string(kBatches)}),
                 dir, "submit");
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr() << cluster.driver().Stderr();

  std::smatch m;
  std::string out = cluster.driver().Stdout();
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(web UI at http://([^:/]+):(\d+)/)"))) << out;
  httplib::Client ui(m[1].str(), std::stoi(m[2]));
  auto apps = ui.Get("/api/v1/applications");
  ASSERT_TRUE(apps);
  auto list = nlohmann::json::parse(apps->body);
  ASSERT_EQ(list.size(), 1u) << apps->body;
  EXPECT_EQ(list[0]["completed"], true);
  std::string api = "/api/v1/applications/" + list[0]["id"].get<std::string>() + "/dashboards";
  auto get = [&](const std::string& path) {
    auto res = ui.Get(path.c_str());
    EXPECT_TRUE(res && res->status == 200) << path << (res ? res->body : "");
    return res ? nlohmann::json::parse(res->body, nullptr, false) : nlohmann::json();
  };
  ASSERT_EQ(get(api).size(), 2u);

  const nlohmann::json expected = nlohmann::json::parse(
      R"([{"key":"apple","value":5.0},{"key":"<img src=x onerror=alert(1)>","value":4.0},)"
      R"({"key":"pear","value":3.0}])");
  nlohmann::json words = get(api + "/words");
  int with_words = 0;
  for (const auto& b : words["batches"]) {
    if (b["points"].empty()) continue;  // the batches after the queue ran dry
    EXPECT_EQ(b["points"], expected) << b.dump();
    ++with_words;
  }
  EXPECT_EQ(with_words, kBatches) << words.dump();
  nlohmann::json records = get(api + "/records");
  int full = 0;
  for (const auto& b : records["batches"]) {
    if (b["value"] == 13.0) {
      ++full;
    } else {
      EXPECT_EQ(b["value"], 0.0) << b.dump();
    }
  }
  EXPECT_EQ(full, kBatches) << records.dump();
}

// Rate limits reach a receiver in its task process on an executor: it starts at backpressure's
// initialRate, the driver's estimates raise it as the light batches complete, and maxRate caps
// it; the UI shows the limit in force.
TEST(ClusterTest, RateLimitsReachReceiversOnExecutors) {
  std::string dir = MakeTempDir("cluster-rates");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  Subprocess server({"tools/ember-textserver", "--port", "0", "--generate", "--vocabulary", "8",
                     "--words-per-line", "10", "--rate", "0"},
                    dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s));
  std::string port = PortOf(ListeningAddress(server));
  Subprocess job(
      cluster.Submit({"--name", "rates", "--conf", "ember.streaming.receiver.maxRate=2000",
                      "--conf", "ember.streaming.backpressure.enabled=true", "--conf",
                      "ember.streaming.backpressure.initialRate=200",
                      "examples/libnetwork_word_count.so", "--", "127.0.0.1", port, "500", "8000"}),
      dir, "submit");
  // The UI, while the job runs: the receiver's limit in force, from the application process.
  std::smatch m;
  std::string out = cluster.driver().Stdout();
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(web UI at http://([^:/]+):(\d+)/)"))) << out;
  httplib::Client ui(m[1].str(), std::stoi(m[2]));
  double limit = 0;
  std::string seen;  // the newest receivers reply
  ASSERT_TRUE(Eventually(
      [&] {
        auto apps = ui.Get("/api/v1/applications");
        if (!apps || apps->status != 200) return false;
        auto list = nlohmann::json::parse(apps->body, nullptr, false);
        if (!list.is_array() || list.empty()) return false;
        auto r = ui.Get(
            ("/api/v1/applications/" + list[0]["id"].get<std::string>() + "/streaming/receivers")
                .c_str());
        if (!r || r->status != 200) return false;
        seen = r->body;
        auto receivers = nlohmann::json::parse(r->body, nullptr, false);
        if (!receivers.is_array() || receivers.empty() || !receivers[0]["rateLimit"].is_number()) {
          return false;
        }
        limit = receivers[0]["rateLimit"].get<double>();
        return limit > 200;  // an estimate above the initial rate
      },
      60s))
      << seen << "\n"
      << job.Stdout() << cluster.driver().Stderr();
  EXPECT_LE(limit, 2000);
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr() << cluster.driver().Stderr();

  std::vector<int> lines;  // per batch: 10 words a line
  for (const auto& b : ParseCounts(job.Stdout())) {
    int words = 0;
    for (const auto& [w, n] : b) words += n;
    lines.push_back(words / 10);
  }
  ASSERT_GE(lines.size(), 12u) << job.Stdout();
  // At first 200 lines/s (100 a batch, and at most a second's burst); then raised: the
  // estimates reached the receiver on its executor.
  EXPECT_LE(lines[0], 330) << job.Stdout();
  EXPECT_GE(*std::max_element(lines.begin(), lines.end()), 400) << job.Stdout();
  // Never past maxRate for long: 1000 a batch, plus at most one second's burst over the run.
  int64_t last = 0;
  const size_t from = lines.size() - 8;
  for (size_t i = from; i < lines.size(); ++i) last += lines[i];
  EXPECT_LE(last, 8 * 1100 + 2000) << job.Stdout();
}

// A sender faster than a small ember.streaming.receiver.maxBufferedBytes lets through: the
// receiver on its executor stops reading while its blocks wait for batches (the driver's
// answers to its block reports say how far batches got), TCP holds the sender back, and
// every line sent is counted.
TEST(ClusterTest, AFloodWaitsForTheBatchesAndEveryLineIsCounted) {
  std::string dir = MakeTempDir("cluster-flood");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  {
    std::ofstream f(dir + "/input.txt");
    f << kLine << "\n";
  }
  // 40,000 lines a second (1.6 MB): a 500 ms batch's blocks hold about 800 KB before the batch
  // can process them, three times the 256k bound, however fast the job is.
  constexpr int kLines = 80000;
  Subprocess server(
      {"tools/ember-textserver", "--port", "0", "--file", dir + "/input.txt", "--loop", "--count",
       std::to_string(kLines), "--rate", "40000", "--wait-for-clients", "1", "--exit-on-eof"},
      dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s));
  std::string port = PortOf(ListeningAddress(server));
  Subprocess job(
      cluster.Submit({"--name", "flood", "--conf", "ember.streaming.receiver.maxBufferedBytes=256k",
                      "examples/libnetwork_word_count.so", "--", "127.0.0.1", port, "500",
                      "180000"}),
      dir, "submit");
  auto counted = [&] {
    int lines = 0;
    for (const auto& b : ParseCounts(job.Stdout())) lines += std::max(0, WholeLines(b));
    return lines;
  };
  ASSERT_TRUE(Eventually([&] { return counted() >= kLines; }, 120s))
      << counted() << " lines counted\n"
      << cluster.driver().Stderr();
  EXPECT_EQ(counted(), kLines);
  for (const auto& b : ParseCounts(job.Stdout())) EXPECT_GE(WholeLines(b), 0);
  std::string executors;
  for (const auto& [address, info] : cluster.LiveExecutors()) {
    executors += cluster.ExecutorAt(address)->Stderr();
  }
  EXPECT_NE(executors.find("it waits for the batches"), std::string::npos)
      << "the bound was never reached";
  std::string app = AppIdIn(job.Stderr());
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(job.Wait(60s), 1) << job.Stderr();
}

TEST(ClusterTest, KilledReceiverExecutorIsReplacedAndNoReportedBlockIsLost) {
  std::string dir = MakeTempDir("cluster-rcv");
  Cluster cluster(dir, 3);
  ASSERT_TRUE(cluster.WaitForExecutors(3));
  {
    std::ofstream f(dir + "/input.txt");
    f << kLine << "\n";
  }
  Subprocess server({"tools/ember-textserver", "--port", "0", "--file", dir + "/input.txt",
                     "--loop", "--rate", "100", "--wait-for-clients", "1"},
                    dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s));
  std::string port = PortOf(ListeningAddress(server));
  Subprocess job(cluster.Submit({"--name", "rcv", "examples/libnetwork_word_count.so", "--",
                                 "127.0.0.1", port, "500", "120000"}),
                 dir, "submit");
  std::string app;
  ASSERT_TRUE(Eventually([&] { return !(app = AppIdIn(job.Stderr())).empty(); }, 30s))
      << job.Stderr();

  // The receiver runs somewhere and batches carry its records.
  std::string receiver_executor;
  auto receiver_on = [&](std::string* executor_id) {
    proto::StatusReply reply;
    if (!cluster.Status(app, &reply).ok() || reply.apps_size() != 1) return false;
    for (const auto& r : reply.apps(0).receivers()) {
      if (r.active() && !r.executor_id().empty()) {
        *executor_id = r.executor_id();
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(Eventually([&] { return receiver_on(&receiver_executor); }, 30s))
      << cluster.driver().Stderr();
  ASSERT_TRUE(Eventually(
      [&] {
        int lines = 0;
        for (const auto& b : ParseCounts(job.Stdout())) lines += std::max(0, WholeLines(b));
        return lines >= 50;
      },
      30s))
      << job.Stdout() << cluster.driver().Stderr();

  std::string victim_address;
  for (const auto& [address, info] : cluster.LiveExecutors()) {
    if (info.executor_id() == receiver_executor) victim_address = address;
  }
  Subprocess* victim = cluster.ExecutorAt(victim_address);
  ASSERT_NE(victim, nullptr);
  size_t batches_before = ParseCounts(job.Stdout()).size();
  victim->Kill(SIGKILL);

  // Back on another executor within a few batch intervals (the loss is noticed within the
  // 3 s heartbeat timeout), and new lines are counted again.
  std::string new_executor;
  ASSERT_TRUE(Eventually(
      [&] { return receiver_on(&new_executor) && new_executor != receiver_executor; }, 20s))
      << cluster.driver().Stderr();
  ASSERT_TRUE(Eventually(
      [&] {
        auto batches = ParseCounts(job.Stdout());
        int lines = 0;
        for (size_t i = batches_before + 1; i < batches.size(); ++i) {
          lines += std::max(0, WholeLines(batches[i]));
        }
        return lines >= 50;
      },
      30s))
      << job.Stdout() << cluster.driver().Stderr();

  // Every batch holds whole lines: no reported block was lost in part or read twice.
  for (const auto& b : ParseCounts(job.Stdout())) EXPECT_GE(WholeLines(b), 0);
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(job.Wait(60s), 1) << job.Stderr();
  EXPECT_NE(job.Stderr().find("KILLED"), std::string::npos) << job.Stderr();
  EXPECT_EQ(cluster.LiveExecutors().size(), 2u);
}

// ---------------------------------------------------------------------- shuffle job

TEST(ClusterTest, ShuffleResultsStayExactWhenAnExecutorIsKilled) {
  std::string dir = MakeTempDir("cluster-shuffle");
  Cluster cluster(dir, 3);
  ASSERT_TRUE(cluster.WaitForExecutors(3));
  constexpr int kBatches = 40;
  constexpr int64_t kN = 20000;
  Subprocess job(cluster.Submit({"--name", "shuffle", "tests/jobs/libshuffle_sum.so", "--",
                                 std::to_string(kBatches), std::to_string(kN), "300", "20000"}),
                 dir, "submit");
  auto results = [&] {
    std::vector<std::string> lines;
    std::istringstream in(job.Stdout());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("result ", 0) == 0) lines.push_back(line);
    }
    return lines;
  };
  ASSERT_TRUE(Eventually([&] { return results().size() >= 8; }, 60s))
      << job.Stdout() << job.Stderr() << cluster.driver().Stderr();
  // Kill one executor that ran tasks (all do: 3 executors x 2 slots, 8 partitions).
  auto live = cluster.LiveExecutors();
  ASSERT_EQ(live.size(), 3u);
  cluster.ExecutorAt(live.begin()->first)->Kill(SIGKILL);

  ASSERT_EQ(job.Wait(120s), 0) << job.Stderr() << cluster.driver().Stderr();
  std::set<std::string> expected;
  for (int i = 0; i < kBatches; ++i) {
    Expected e = ShuffleSum(i, kN);
    expected.insert("result total=" + std::to_string(e.total) +
                    " groups=7 digest=" + std::to_string(e.digest));
  }
  std::vector<std::string> got = results();
  EXPECT_EQ(got.size(), static_cast<size_t>(kBatches)) << job.Stdout();
  std::set<std::string> seen;
  for (const auto& line : got) {
    EXPECT_TRUE(expected.count(line)) << "wrong result: " << line;
    EXPECT_TRUE(seen.insert(line).second) << "batch output twice: " << line;
  }
  EXPECT_EQ(cluster.LiveExecutors().size(), 2u);
}

TEST(ClusterTest, ConcurrentJobsAreIsolated) {
  std::string dir = MakeTempDir("cluster-two");
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  // The same plugin twice (same operator keys, same shuffle ids in each driver-side context)
  // with different inputs: each job sees only its own data.
  Subprocess a(cluster.Submit({"--name", "a", "tests/jobs/libshuffle_sum.so", "--", "6", "1000",
                               "250", "3000"}),
               dir, "a");
  Subprocess b(cluster.Submit({"--name", "b", "tests/jobs/libshuffle_sum.so", "--", "6", "3000",
                               "250", "3000"}),
               dir, "b");
  ASSERT_EQ(a.Wait(60s), 0) << a.Stderr() << cluster.driver().Stderr();
  ASSERT_EQ(b.Wait(60s), 0) << b.Stderr() << cluster.driver().Stderr();
  EXPECT_EQ(a.Stdout(), ShuffleSumLines(6, 1000));
  EXPECT_EQ(b.Stdout(), ShuffleSumLines(6, 3000));
}

TEST(ClusterTest, StatefulStreamsGiveTheSameResultsAsLocalMode) {
  std::string dir = MakeTempDir("cluster-state");
  Subprocess local({"tools/ember-submit", "--master", "local[2]", "--conf", "ember.ui.port=0",
                    "tests/jobs/libstate_count.so", "--", "8", "250", "3000", dir + "/cp-local"},
                   dir, "local");
  ASSERT_EQ(local.Wait(60s), 0) << local.Stderr();
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2));
  Subprocess job(cluster.Submit({"tests/jobs/libstate_count.so", "--", "8", "250", "3000",
                                 dir + "/cp-cluster"}),
                 dir, "job");
  ASSERT_EQ(job.Wait(60s), 0) << job.Stderr() << cluster.driver().Stderr();
  // Batches after the queue drains repeat the last state: compare the first 8.
  auto first8 = [](const std::string& out) {
    std::istringstream in(out);
    std::string line, lines;
    for (int i = 0; i < 8 && std::getline(in, line);) {
      if (line.rfind("state batch=", 0) == 0) {
        lines += line + "\n";
        ++i;
      }
    }
    return lines;
  };
  EXPECT_EQ(first8(job.Stdout()), first8(local.Stdout()));
  EXPECT_NE(first8(local.Stdout()).find("state batch=7 keys=50 total=320 updated=320"),
            std::string::npos)
      << local.Stdout();
}

// -------------------------------------------------------------------------- errors

// A copy of a real plugin cut at `keep` bytes.
std::string TruncatedCopy(const std::string& dir, size_t keep) {
  std::string bytes = testing::ReadFile("tests/jobs/libshuffle_sum.so");
  std::string path = dir + "/libcut" + std::to_string(keep) + ".so";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, std::min(keep, bytes.size()));
  return path;
}

TEST(ClusterTest, DamagedPluginsAreRefusedAndTheRunningJobGoesOn) {
  std::string dir = MakeTempDir("cluster-damaged");
  Cluster cluster(dir, 1);
  ASSERT_TRUE(cluster.WaitForExecutors(1));
  // A job that runs while the damaged plugins arrive, and must not notice them.
  Subprocess job(
      cluster.Submit({"tests/jobs/libshuffle_sum.so", "--", "30", "1000", "300", "12000"}), dir,
      "job");
  ASSERT_TRUE(job.WaitForOutput("result total=", 30s)) << job.Stderr();

  size_t size = testing::ReadFile("tests/jobs/libshuffle_sum.so").size();
  std::vector<std::string> damaged = {TruncatedCopy(dir, 0),        TruncatedCopy(dir, 40),
                                      TruncatedCopy(dir, 200),      TruncatedCopy(dir, size / 3),
                                      TruncatedCopy(dir, size / 2), TruncatedCopy(dir, size - 1)};
  std::ofstream(dir + "/libtext.so") << "this is not an ELF file";
  damaged.push_back(dir + "/libtext.so");
  auto stub = proto::Driver::NewStub(rpc::MakeChannel(cluster.address()));
  for (const auto& path : damaged) {
    // ember-submit refuses it itself, in both modes...
    Subprocess submit(cluster.Submit({path}), dir, "submit");
    EXPECT_EQ(submit.Wait(30s), 3) << submit.Stderr();
    EXPECT_NE(submit.Stderr().find("cannot load job plugin " + path), std::string::npos)
        << submit.Stderr();
    Subprocess local({"tools/ember-submit", "--master", "local[1]", path}, dir, "local");
    EXPECT_EQ(local.Wait(30s), 3) << local.Stderr();
    // ...and so does the driver, sent the bytes by a client that does not check them.
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + 10s);
    proto::SubmitJobRequest request;
    request.set_plugin(testing::ReadFile(path));
    request.set_plugin_name("libdamaged.so");
    proto::SubmitJobReply reply;
    grpc::Status s = stub->SubmitJob(&call, request, &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    std::string expected = request.plugin().empty() ? "the job plugin is empty"
                                                    : "cannot load job plugin libdamaged.so";
    EXPECT_NE(s.error_message().find(expected), std::string::npos) << s.error_message();
  }
  EXPECT_TRUE(cluster.driver().running());
  ASSERT_EQ(job.Wait(60s), 0) << job.Stderr() << cluster.driver().Stderr();
  // Every batch of the running job, exact.
  std::string expected;
  for (int i = 0; i < 30; ++i) {
    Expected e = ShuffleSum(i, 1000);
    expected += "result total=" + std::to_string(e.total) +
                " groups=7 digest=" + std::to_string(e.digest) + "\n";
  }
  EXPECT_EQ(job.Stdout(), expected);
  EXPECT_EQ(cluster.LiveExecutors().size(), 1u);
}

TEST(ClusterTest, BadInputGetsClearErrorsAndTheClusterStaysHealthy) {
  std::string dir = MakeTempDir("cluster-errors");
  std::string secret = dir + "/secret";
  {
    std::ofstream f(secret);
    f << "s3cret-for-tests\n";
  }
  chmod(secret.c_str(), 0600);
  Cluster cluster(dir, 1, {}, secret);
  ASSERT_TRUE(cluster.WaitForExecutors(1)) << cluster.driver().Stderr();

  // A corrupt plugin: refused with the loader's message, exit 3.
  std::ofstream(dir + "/libcorrupt.so") << "this is not an ELF file";
  Subprocess corrupt(cluster.Submit({dir + "/libcorrupt.so"}), dir, "corrupt");
  EXPECT_EQ(corrupt.Wait(30s), 3) << corrupt.Stderr();
  EXPECT_NE(corrupt.Stderr().find("libcorrupt.so"), std::string::npos) << corrupt.Stderr();

  // A wrong secret: refused, exit 5, and the message says why.
  std::string wrong = dir + "/wrong";
  std::ofstream(wrong) << "not-the-secret\n";
  chmod(wrong.c_str(), 0600);
  Subprocess refused({"tools/ember-submit", "--master", "ember://" + cluster.address(),
                      "--secret-file", wrong, "--list"},
                     dir, "refused");
  EXPECT_EQ(refused.Wait(30s), 5) << refused.Stderr();
  EXPECT_NE(refused.Stderr().find("secret"), std::string::npos) << refused.Stderr();

  // No secret at all: also refused.
  grpc::ClientContext call;
  proto::StatusRequest request;
  proto::StatusReply reply;
  auto stub = proto::Driver::NewStub(rpc::MakeChannel(cluster.address()));
  EXPECT_EQ(stub->Status(&call, request, &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A malformed request changes nothing.
  grpc::ClientContext bad;
  rpc::AddSecret(&bad, "s3cret-for-tests");
  proto::RegisterExecutorRequest reg;
  reg.set_address("no port here");
  reg.set_slots(-3);
  proto::RegisterExecutorReply reg_reply;
  EXPECT_EQ(stub->RegisterExecutor(&bad, reg, &reg_reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A 2 MB application id: refused with a bounded message, not echoed back whole.
  {
    grpc::ClientContext huge;
    rpc::AddSecret(&huge, "s3cret-for-tests");
    proto::StatusRequest big;
    big.set_app_id(std::string(2 << 20, 'x'));
    grpc::Status s = stub->Status(&huge, big, &reply);
    EXPECT_FALSE(s.ok());
    EXPECT_LE(s.error_message().size(), rpc::kMaxErrorMessageBytes);
  }

  // The executor service checks the secret and its requests too.
  {
    auto live = cluster.LiveExecutors();
    ASSERT_EQ(live.size(), 1u);
    auto executor = proto::Executor::NewStub(rpc::MakeChannel(live.begin()->first));
    grpc::ClientContext anonymous;
    proto::RunTaskRequest task;
    proto::RunTaskReply task_reply;
    EXPECT_EQ(executor->RunTask(&anonymous, task, &task_reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext empty;
    rpc::AddSecret(&empty, "s3cret-for-tests");
    EXPECT_EQ(executor->RunTask(&empty, task, &task_reply).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext no_root;
    rpc::AddSecret(&no_root, "s3cret-for-tests");
    task.set_app_id("app-x");
    task.mutable_task()->set_partition(1);
    EXPECT_EQ(executor->RunTask(&no_root, task, &task_reply).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext unknown_app;
    rpc::AddSecret(&unknown_app, "s3cret-for-tests");
    task.mutable_task()->mutable_root()->mutable_empty();
    EXPECT_TRUE(executor->RunTask(&unknown_app, task, &task_reply).ok());
    EXPECT_EQ(task_reply.error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND))
        << task_reply.error();
  }

  // A driver that is down: exit 5, quickly.
  Subprocess down({"tools/ember-submit", "--master", "ember://127.0.0.1:1", "--list"}, dir, "down");
  EXPECT_EQ(down.Wait(60s), 5) << down.Stderr();
  EXPECT_NE(down.Stderr().find("127.0.0.1:1"), std::string::npos) << down.Stderr();

  // An executor bound beyond loopback without the secret refuses to start, as the driver does;
  // --allow-insecure lets it.
  Subprocess open({"executor/ember-executor", "--driver", cluster.address(), "--bind", "0.0.0.0",
                   "--port", "0", "--data-dir", dir + "/open"},
                  dir, "open");
  EXPECT_EQ(open.Wait(20s), 2) << open.Stderr();
  EXPECT_NE(open.Stderr().find("without a cluster secret"), std::string::npos) << open.Stderr();
  Subprocess trusted({"executor/ember-executor", "--driver", cluster.address(), "--bind", "0.0.0.0",
                      "--port", "0", "--data-dir", dir + "/trusted", "--allow-insecure"},
                     dir, "trusted");
  EXPECT_TRUE(trusted.WaitForOutput("listening on", 20s)) << trusted.Stderr();

  // An executor pointed at a wrong address keeps retrying and says why.
  Subprocess lost({"executor/ember-executor", "--driver", "127.0.0.1:1", "--port", "0",
                   "--data-dir", dir + "/lost"},
                  dir, "lost");
  EXPECT_TRUE(lost.WaitForOutput("127.0.0.1:1", 20s, /*in_stderr=*/true)) << lost.Stderr();
  EXPECT_TRUE(lost.running());

  // After all that, a job still runs and ends well.
  Subprocess job(cluster.Submit({"tests/jobs/libshuffle_sum.so", "--", "3", "1000", "200", "1500"}),
                 dir, "job");
  EXPECT_EQ(job.Wait(60s), 0) << job.Stderr() << cluster.driver().Stderr();
  EXPECT_NE(job.Stdout().find("result total=499500 groups=7"), std::string::npos) << job.Stdout();
  EXPECT_EQ(cluster.LiveExecutors().size(), 1u);
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
