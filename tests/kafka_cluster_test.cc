// The Kafka direct stream on a real driver and executors, reading librdkafka's mock cluster
// (3 brokers, 4 partitions) that this test process runs on loopback: kill -9 of the driver
// and of an executor mid-run, and every record produced is counted exactly once in the saved
// outputs (a batch run again rewrites its directory with the same contents).

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

constexpr int kPartitions = 4;
constexpr int kLinesPerPartition = 300;

std::string Line(int p, int i) {
  return "w" + std::to_string(i % 7) + " v" + std::to_string((i + p) % 5) + " x";
}

// Word counts of the saved batch directories (prefix-TIME/part-*); false when one has no
// _SUCCESS (a batch that never completed).
bool SavedCounts(const std::string& parent, std::map<std::string, int64_t>* counts, int* batches) {
  counts->clear();
  *batches = 0;
  std::error_code ec;
  static const std::regex kRecord(R"(\((.*),(\d+)\))");
  for (const auto& dir : std::filesystem::directory_iterator(parent, ec)) {
    if (!dir.is_directory() || dir.path().filename().string().rfind("counts-", 0) != 0) continue;
    if (!std::filesystem::exists(dir.path() / "_SUCCESS")) return false;
    ++*batches;
    for (const auto& part : std::filesystem::directory_iterator(dir.path(), ec)) {
      if (part.path().filename().string().rfind("part-", 0) != 0) continue;
      std::istringstream in(testing::ReadFile(part.path().string()));
      std::string line;
      std::smatch m;
      while (std::getline(in, line)) {
        if (std::regex_match(line, m, kRecord)) (*counts)[m[1]] += std::stoll(m[2]);
      }
    }
  }
  return true;
}

TEST(KafkaClusterTest, EveryRecordIsCountedOnceThroughDriverAndExecutorKills) {
  // The brokers live in this process, for the whole test.
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  ASSERT_NE(handle, nullptr);
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(handle, 3);
  ASSERT_NE(mock, nullptr);
  ASSERT_EQ(rd_kafka_mock_topic_create(mock, "lines", kPartitions, 1), 0);
  const std::string brokers = rd_kafka_mock_cluster_bootstraps(mock);
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  rd_kafka_conf_set(pconf, "bootstrap.servers", brokers.c_str(), error, sizeof(error));
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof(error));
  std::map<std::string, int64_t> expected;
  for (int p = 0; p < kPartitions; ++p) {
    for (int i = 0; i < kLinesPerPartition; ++i) {
      std::string line = Line(p, i);
      ASSERT_EQ(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("lines"), RD_KAFKA_V_PARTITION(p),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE(line.data(), line.size()), RD_KAFKA_V_END),
                0);
      std::istringstream words(line);
      for (std::string w; words >> w;) ++expected[w];
    }
  }
  ASSERT_EQ(rd_kafka_flush(producer, 30000), 0);

  std::string dir = MakeTempDir("kafka-cluster");
  std::string out = dir + "/out";
  std::filesystem::create_directories(out);
  {
    Cluster cluster(dir, 3);
    ASSERT_TRUE(cluster.WaitForExecutors(3));
    // 20 records a partition a batch: the topic takes 15 batches.
    Subprocess submit(cluster.Submit({"--detach", "--name", "kafka-wc", "--conf",
                                      "ember.streaming.kafka.maxRatePerPartition=40", "--conf",
                                      "ember.streaming.kafka.consumer.poll.ms=3s",
                                      "examples/libkafka_word_count.so", "--", brokers, "lines",
                                      "wc", "500", "600000", dir + "/checkpoint", out + "/counts"}),
                      dir, "submit");
    ASSERT_EQ(submit.Wait(60s), 0) << submit.Stderr();
    std::string app = AppIdIn(submit.Stdout());
    auto batches = [&] {
      std::map<std::string, int64_t> counts;
      int n = 0;
      SavedCounts(out, &counts, &n);
      return n;
    };
    ASSERT_TRUE(Eventually([&] { return batches() >= 3; }, 60s)) << cluster.driver().Stderr();
    cluster.RestartDriver();
    ASSERT_TRUE(cluster.WaitForExecutors(3)) << cluster.driver().Stderr();
    int before = batches();
    ASSERT_TRUE(Eventually([&] { return batches() >= before + 2; }, 60s))
        << cluster.driver().Stderr();
    // An executor dies while ranges are being fetched.
    auto live = cluster.LiveExecutors();
    ASSERT_FALSE(live.empty());
    cluster.ExecutorAt(live.begin()->first)->Kill(SIGKILL);
    std::map<std::string, int64_t> counts;
    ASSERT_TRUE(Eventually(
        [&] {
          int n = 0;
          return SavedCounts(out, &counts, &n) && counts == expected;
        },
        120s))
        << cluster.driver().Stderr();
    grpc::Status killed = cluster.Kill(app);
    EXPECT_TRUE(killed.ok()) << killed.error_message() << "\n" << cluster.driver().Stderr();
  }
  std::map<std::string, int64_t> counts;
  int n = 0;
  ASSERT_TRUE(SavedCounts(out, &counts, &n)) << "a batch directory without _SUCCESS";
  EXPECT_EQ(counts, expected);
  rd_kafka_destroy(producer);
  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(handle);
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
