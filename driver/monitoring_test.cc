// StreamingListener events, the REST API and /metrics against batches whose records and delays
// are known: a manual clock, a receiver that stores a known number of records, and an output
// operation that advances the clock by a known processing time.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "driver/web_ui.h"
#include "runtime/testing.h"
#include "tests/wait.h"

namespace ember {
namespace {

using testing::ManualStreams;

constexpr int64_t kProcessingMs = 40;

class FiveRecords : public Receiver<std::string> {
 public:
  void onStart() override { store(std::vector<std::string>{"a", "b", "c", "d", "e"}); }
  void onStop() override {}
};

// Records every event it hears, as text.
class Recorder : public StreamingListener {
 public:
  void onStreamingStarted(int64_t) override { Add("started"); }
  void onBatchSubmitted(const BatchInfo& b) override { Add("submitted " + Time(b)); }
  void onBatchStarted(const BatchInfo& b) override { Add("batch-started " + Time(b)); }
  void onBatchCompleted(const BatchInfo& b) override {
    Add("completed " + Time(b) + " records=" + std::to_string(b.numRecords) +
        " processing=" + std::to_string(b.processingDelay()) +
        " ops=" + std::to_string(b.outputOperationInfos.size()));
  }
  void onOutputOperationStarted(const OutputOperationInfo& op) override {
    Add("op-started " + std::to_string(op.id) + " " + op.name);
  }
  void onOutputOperationCompleted(const OutputOperationInfo& op) override {
    Add("op-completed " + std::to_string(op.id) + (op.failureReason.empty() ? "" : " failed"));
  }
  void onReceiverStarted(const ReceiverInfo& r) override {
    Add("receiver-started " + std::to_string(r.streamId) + " on " + r.executorId);
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  static std::string Time(const BatchInfo& b) { return std::to_string(b.batchTime.milliseconds()); }
  void Add(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  std::mutex mu_;
  std::vector<std::string> events_;
};

class Throwing : public StreamingListener {
 public:
  void onBatchCompleted(const BatchInfo&) override { throw std::runtime_error("listener bug"); }
};

bool WaitFor(const std::function<bool()>& ready) {
  return testing::WaitForCondition(ready, std::chrono::seconds(20));
}

struct Fixture {
  explicit Fixture(const std::string& app_id, const std::string& name = "monitored")
      : env(Seconds(1), "local[3]",
            testing::ManualConf()
                .set("ember.app.id", app_id)
                .set("ember.streaming.receiver.maxRate", "5000")
                .setAppName(name)) {}
  ManualStreams env;
};

TEST(MonitoringTest, ListenersHearEveryEventInOrderAndAThrowingOneBreaksNothing) {
  Fixture f("listener-app");
  auto recorder = std::make_shared<Recorder>();
  f.env.ssc().addStreamingListener(std::make_shared<Throwing>());
  f.env.ssc().addStreamingListener(recorder);
  auto lines = f.env.ssc().receiverStream<FiveRecords>();
  ManualClock* clock = &f.env.clock();
  lines.foreachRDD([clock](const Rdd<std::string>& rdd) {
    rdd.count();
    clock->Advance(kProcessingMs);
  });
  lines.count().print();
  f.env.ssc().start();
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& s : f.env.ssc().core()->receiver_tracker().Statuses()) {
      if (s.active) return true;
    }
    return false;
  }));
  auto times = f.env.RunBatches(2);
  f.env.ssc().stop();
  ASSERT_TRUE(f.env.ssc().core()->WaitForListeners(absl::Seconds(10)));
  std::string t0 = std::to_string(times[0].milliseconds());
  std::string t1 = std::to_string(times[1].milliseconds());
  std::vector<std::string> expected = {
      "started",
      "receiver-started 0 on driver",
      "submitted " + t0,
      "batch-started " + t0,
      "op-started 0 foreachRDD",
      "op-completed 0",
      "op-started 1 print",
      "op-completed 1",
      "completed " + t0 + " records=5 processing=40 ops=2",
      "submitted " + t1,
      "batch-started " + t1,
      "op-started 0 foreachRDD",
      "op-completed 0",
      "op-started 1 print",
      "op-completed 1",
      "completed " + t1 + " records=0 processing=40 ops=2",
  };
  std::vector<std::string> got = recorder->events();
  // The receiver may start before or after the streaming-started event is posted.
  std::vector<std::string> filtered;
  for (const auto& e : got) {
    if (e.rfind("receiver-started", 0) != 0 && e != "started") filtered.push_back(e);
  }
  std::vector<std::string> expected_filtered(expected.begin() + 2, expected.end());
  EXPECT_EQ(filtered, expected_filtered);
  EXPECT_NE(std::find(got.begin(), got.end(), "receiver-started 0 on driver"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "started"), got.end());
}

nlohmann::json Get(httplib::Client& c, const std::string& path, int want_status = 200) {
  auto res = c.Get(path.c_str());
  EXPECT_TRUE(res) << path;
  if (!res) return nullptr;
  EXPECT_EQ(res->status, want_status) << path << ": " << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
  return nlohmann::json::parse(res->body, nullptr, false);
}

TEST(MonitoringTest, RestApiReportsKnownRecordsAndDelays) {
  Fixture f("rest-app", "<script>alert('name')</script>");
  auto lines = f.env.ssc().receiverStream<FiveRecords>();
  ManualClock* clock = &f.env.clock();
  lines.foreachRDD([clock](const Rdd<std::string>& rdd, Time t) {
    rdd.count();
    clock->Advance(kProcessingMs);
  });
  lines.foreachRDD([](const Rdd<std::string>&, Time t) {
    if (t.milliseconds() % 3000 == 0) throw EmberError("<b>boom</b> at " + t.toString());
  });
  f.env.ssc().start();
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& s : f.env.ssc().core()->receiver_tracker().Statuses()) {
      if (s.active) return true;
    }
    return false;
  }));
  auto times = f.env.RunBatches(3);
  ASSERT_TRUE(f.env.ssc().core()->WaitForListeners(absl::Seconds(10)));

  internal::WebUi::Options o;
  o.port = 0;
  auto ui = internal::WebUi::Start(o);
  ASSERT_TRUE(ui.ok()) << ui.status();
  httplib::Client c("127.0.0.1", (*ui)->port());

  nlohmann::json apps = Get(c, "/api/v1/applications");
  bool found = false;
  for (const auto& a : apps) {
    if (a["id"] == "rest-app") {
      found = true;
      EXPECT_EQ(a["name"], "<script>alert('name')</script>");  // JSON carries it as data
      EXPECT_EQ(a["batchDuration"], 1000);
    }
  }
  EXPECT_TRUE(found) << apps.dump();

  nlohmann::json stats = Get(c, "/api/v1/applications/rest-app/streaming/statistics");
  EXPECT_EQ(stats["batchDuration"], 1000);
  EXPECT_EQ(stats["numTotalCompletedBatches"], 3);
  EXPECT_EQ(stats["numRetainedCompletedBatches"], 3);
  EXPECT_EQ(stats["numProcessedRecords"], 5);
  EXPECT_EQ(stats["numReceivers"], 1);
  EXPECT_EQ(stats["numActiveReceivers"], 1);
  EXPECT_DOUBLE_EQ(stats["avgProcessingTime"].get<double>(), kProcessingMs);
  // Each batch's output advances the clock 40 ms, so batch i starts 40*i ms late.
  EXPECT_DOUBLE_EQ(stats["avgSchedulingDelay"].get<double>(), kProcessingMs);
  EXPECT_DOUBLE_EQ(stats["avgTotalDelay"].get<double>(), 2 * kProcessingMs);

  nlohmann::json batches = Get(c, "/api/v1/applications/rest-app/streaming/batches");
  ASSERT_EQ(batches.size(), 3u) << batches.dump();
  // Newest first.
  for (size_t i = 0; i < 3; ++i) {
    const auto& b = batches[2 - i];
    EXPECT_EQ(b["batchId"], times[i].milliseconds());
    EXPECT_EQ(b["status"], "COMPLETED");
    EXPECT_EQ(b["inputSize"], i == 0 ? 5 : 0);
    EXPECT_EQ(b["processingTime"], kProcessingMs);
    EXPECT_EQ(b["schedulingDelay"], kProcessingMs * static_cast<int64_t>(i));
    EXPECT_EQ(b["totalDelay"], kProcessingMs * static_cast<int64_t>(i + 1));
    EXPECT_EQ(b["numTotalOutputOps"], 2);
  }
  int failed = 0;
  for (const auto& b : batches) {
    if (b["numFailedOutputOps"] == 1) {
      ++failed;
      EXPECT_NE(b["firstFailureReason"].get<std::string>().find("<b>boom</b>"), std::string::npos);
    }
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(Get(c, "/api/v1/applications/rest-app/streaming/batches?status=COMPLETED").size(), 3u);
  EXPECT_EQ(Get(c, "/api/v1/applications/rest-app/streaming/batches?status=QUEUED").size(), 0u);

  std::string t0 = std::to_string(times[0].milliseconds());
  nlohmann::json one = Get(c, "/api/v1/applications/rest-app/streaming/batches/" + t0);
  EXPECT_EQ(one["inputSize"], 5);
  nlohmann::json ops =
      Get(c, "/api/v1/applications/rest-app/streaming/batches/" + t0 + "/operations");
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0]["outputOpId"], 0);
  EXPECT_EQ(ops[0]["name"], "foreachRDD");
  EXPECT_EQ(ops[0]["duration"], kProcessingMs);

  nlohmann::json receivers = Get(c, "/api/v1/applications/rest-app/streaming/receivers");
  ASSERT_EQ(receivers.size(), 1u);
  EXPECT_EQ(receivers[0]["isActive"], true);
  EXPECT_EQ(receivers[0]["executorId"], "driver");
  EXPECT_EQ(receivers[0]["rateLimit"], 5000.0);  // ember.streaming.receiver.maxRate
  ASSERT_EQ(receivers[0]["eventRates"].size(), 3u);
  EXPECT_EQ(receivers[0]["eventRates"][0][1], 5.0);  // the stream's own records, per second

  // Unknown applications, batches and paths: 404 with a JSON error.
  EXPECT_TRUE(Get(c, "/api/v1/applications/nope/streaming/statistics", 404).contains("error"));
  EXPECT_TRUE(Get(c, "/api/v1/applications/rest-app/streaming/batches/123", 404).contains("error"));
  EXPECT_TRUE(Get(c, "/api/v1/applications/rest-app/streaming/batches/abc", 404).contains("error"));
  EXPECT_TRUE(Get(c, "/api/v1/nothing/here", 404).contains("error"));

  // Pages carry no user string: they fill themselves from the API, as text.
  auto page = c.Get("/apps/rest-app/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body.find("alert('name')"), std::string::npos);
  EXPECT_NE(page->body.find("textContent"), std::string::npos);
  auto common = c.Get("/static/common.js");
  ASSERT_TRUE(common);
  EXPECT_EQ(common->body.find("innerHTML"), std::string::npos);

  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("ember_streaming_batches_total{app=\"rest-app\"} 3"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("ember_receiver_rate_limit{app=\"rest-app\",stream=\"0\"} 5000"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("ember_streaming_records_total{app=\"rest-app\"} 5"),
            std::string::npos);
  EXPECT_NE(metrics->body.find(
                "ember_streaming_processing_time_seconds_bucket{app=\"rest-app\",le=\"0.05\"} 3"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("ember_streaming_failed_batches_total{app=\"rest-app\"} 1"),
            std::string::npos);
  EXPECT_EQ(internal::PromEscape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  try {
    f.env.ssc().stop();
  } catch (const EmberError&) {
  }
}

// Three batches of words with known counts: the dashboards' REST data are the top keys of
// each batch in order, the window keeps the newest batches, a numbers dashboard has each
// batch's sum, and bad options are refused when the job is built.
TEST(MonitoringTest, DashboardsKeepTheTopKeysOfEachBatchInTheirWindow) {
  Fixture f("dash-app");
  StreamingContext& ssc = f.env.ssc();
  auto queue = std::make_shared<RddQueue<std::string>>();
  auto words = ssc.queueStream(queue);
  auto counts = words.map([](const std::string& w) { return std::make_pair(w, 1); })
                    .reduceByKey([](int a, int b) { return a + b; });
  counts.dashboard("words", {/*top=*/2, /*window=*/2, /*chart=*/"bar"});
  counts.map([](const std::pair<std::string, int>& kv) { return kv.second; })
      .dashboard("total");
  words.count().dashboard("records");

  EXPECT_THROW(counts.dashboard("words"), EmberError);  // the name is taken
  EXPECT_THROW(counts.dashboard("a/b"), EmberError);
  EXPECT_THROW(counts.dashboard(""), EmberError);
  EXPECT_THROW(counts.dashboard("x", {0, 10, "line"}), EmberError);
  EXPECT_THROW(counts.dashboard("x", {101, 10, "line"}), EmberError);
  EXPECT_THROW(counts.dashboard("x", {5, 0, "line"}), EmberError);
  EXPECT_THROW(counts.dashboard("x", {5, 10, "pie"}), EmberError);

  auto batch = [&](const std::vector<std::pair<std::string, int>>& wanted) {
    std::vector<std::string> w;
    for (const auto& [word, n] : wanted) w.insert(w.end(), n, word);
    queue->push(ssc.parallelize<std::string>(w, 3));
  };
  const std::string hostile = "<img src=x onerror=alert(1)>";
  batch({{"apple", 3}, {"pear", 5}, {"plum", 1}});
  batch({{"apple", 4}, {hostile, 6}, {"pear", 2}});
  batch({{"apple", 2}, {"fig", 2}, {"pear", 2}, {"plum", 1}});  // ties: smaller key first
  ssc.start();
  auto times = f.env.RunBatches(3);
  ASSERT_TRUE(ssc.core()->WaitForListeners(absl::Seconds(10)));

  internal::WebUi::Options o;
  o.port = 0;
  auto ui = internal::WebUi::Start(o);
  ASSERT_TRUE(ui.ok()) << ui.status();
  httplib::Client c("127.0.0.1", (*ui)->port());

  nlohmann::json list = Get(c, "/api/v1/applications/dash-app/dashboards");
  ASSERT_EQ(list.size(), 3u) << list.dump();
  EXPECT_EQ(list[2]["name"], "words");
  EXPECT_EQ(list[2]["chart"], "bar");
  EXPECT_EQ(list[2]["numBatches"], 2);
  EXPECT_EQ(list[0]["name"], "records");
  EXPECT_EQ(list[0]["keyed"], false);

  nlohmann::json words_json = Get(c, "/api/v1/applications/dash-app/dashboards/words");
  EXPECT_EQ(words_json["top"], 2);
  EXPECT_EQ(words_json["window"], 2);
  ASSERT_EQ(words_json["batches"].size(), 2u) << words_json.dump();  // the first is past the window
  const nlohmann::json& b1 = words_json["batches"][0];
  const nlohmann::json& b2 = words_json["batches"][1];
  EXPECT_EQ(b1["batchId"], times[1].milliseconds());
  EXPECT_EQ(b1["points"], nlohmann::json::parse(R"([{"key":")" + hostile +
                                                R"(","value":6.0},{"key":"apple","value":4.0}])"));
  EXPECT_EQ(b2["batchId"], times[2].milliseconds());
  EXPECT_EQ(b2["points"], nlohmann::json::parse(
                              R"([{"key":"apple","value":2.0},{"key":"fig","value":2.0}])"));

  nlohmann::json records = Get(c, "/api/v1/applications/dash-app/dashboards/records");
  ASSERT_EQ(records["batches"].size(), 3u);
  EXPECT_EQ(records["batches"][0]["value"], 9.0);
  EXPECT_EQ(records["batches"][1]["value"], 12.0);
  EXPECT_EQ(records["batches"][2]["value"], 7.0);
  nlohmann::json total = Get(c, "/api/v1/applications/dash-app/dashboards/total");
  EXPECT_EQ(total["batches"][1]["value"], 12.0);

  EXPECT_TRUE(Get(c, "/api/v1/applications/dash-app/dashboards/nope", 404).contains("error"));
  EXPECT_TRUE(Get(c, "/api/v1/applications/nope/dashboards", 404).contains("error"));
  auto page = c.Get("/apps/dash-app/dashboards/words");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body.find(hostile), std::string::npos);

  // A batch run again (a recovery) replaces its update rather than adding one.
  internal::DashboardUpdate again;
  again.name = "records";
  again.keyed = false;
  again.batch_ms = times[2].milliseconds();
  again.points = {{"", 7.0}};
  ssc.core()->progress()->AddDashboard(again);
  EXPECT_EQ(Get(c, "/api/v1/applications/dash-app/dashboards/records")["batches"].size(), 3u);

  ssc.stop();
  // Readable after the job ended.
  EXPECT_EQ(Get(c, "/api/v1/applications/dash-app/dashboards/words")["batches"].size(), 2u);
}

TEST(MonitoringTest, ThousandRetainedBatchesServeQuickly) {
  auto progress = std::make_shared<internal::StreamingProgress>("big-app", "big", 1000, 1000);
  internal::Monitor::Global().Add(progress);
  for (int i = 1; i <= 1500; ++i) {  // more than retained: the oldest go
    BatchInfo b;
    b.batchTime = Time(i * 1000);
    b.numRecords = i;
    b.submissionTime = i * 1000;
    b.processingStartTime = i * 1000 + 5;
    b.processingEndTime = i * 1000 + 25;
    OutputOperationInfo op;
    op.batchTime = b.batchTime;
    op.name = "print";
    op.startTime = b.processingStartTime;
    op.endTime = b.processingEndTime;
    b.outputOperationInfos[0] = op;
    progress->onBatchSubmitted(b);
    progress->onBatchStarted(b);
    progress->onBatchCompleted(b);
  }
  internal::WebUi::Options o;
  o.port = 0;
  o.executors = [] {
    return nlohmann::json::array({{{"id", "exec-1"},
                                   {"blocks", 3},
                                   {"blockBytes", 300},
                                   {"orphanBlocksRemoved", 7},
                                   {"state", "alive"}}});
  };
  auto ui = internal::WebUi::Start(o);
  ASSERT_TRUE(ui.ok()) << ui.status();
  httplib::Client c("127.0.0.1", (*ui)->port());
  auto start = std::chrono::steady_clock::now();
  nlohmann::json batches = Get(c, "/api/v1/applications/big-app/streaming/batches");
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(batches.size(), 1000u);
  EXPECT_EQ(batches[0]["batchId"], 1500000);
  EXPECT_EQ(batches[999]["batchId"], 501000);
  nlohmann::json stats = Get(c, "/api/v1/applications/big-app/streaming/statistics");
  EXPECT_EQ(stats["numTotalCompletedBatches"], 1500);
  EXPECT_EQ(stats["numRetainedCompletedBatches"], 1000);
  // What the page fetches every second stays small and fast (a generous bound: this machine
  // is shared).
  std::printf("1000 retained batches: /batches in %.1f ms\n", ms);
  EXPECT_LT(ms, 1000);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("ember_executor_blocks{executor=\"exec-1\"} 3"), std::string::npos);
  EXPECT_NE(metrics->body.find("ember_executor_block_bytes{executor=\"exec-1\"} 300"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("ember_executor_orphan_blocks_removed_total{executor=\"exec-1\"} 7"),
            std::string::npos);
}

}  // namespace
}  // namespace ember
