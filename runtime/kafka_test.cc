// The Kafka direct stream and producer against librdkafka's mock cluster (3 brokers, topics of
// 4 partitions) on loopback, in local mode on a manual clock: per-batch ranges and records
// exact against what was produced, rate limits, commits, recovery from a checkpoint, broker
// faults.

#include "common/kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/kafka_client.h"
#include "runtime/kafka_stream.h"
#include "runtime/testing.h"
#include "tests/wait.h"

namespace ember {
namespace {

using kafka::ConsumerRecord;
using kafka::OffsetRange;
using kafka::TopicPartition;
using testing::Collector;
using testing::ManualConf;
using testing::ManualStreams;

constexpr int kPartitions = 4;

// A mock cluster of 3 brokers, and a producer that writes to chosen partitions.
class MockKafka {
 public:
  MockKafka() {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    cluster_ = rd_kafka_mock_cluster_new(handle_, 3);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps_.c_str(), error, sizeof(error));
    rd_kafka_conf_set(pconf, "log_level", "3", error, sizeof(error));
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof(error));
  }
  ~MockKafka() {
    rd_kafka_destroy(producer_);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  const std::string& bootstraps() const { return bootstraps_; }
  rd_kafka_mock_cluster_t* cluster() { return cluster_; }

  void CreateTopic(const std::string& topic, int partitions = kPartitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void Produce(const std::string& topic, int32_t partition, const std::string& value,
               const std::string& key = "") {
    ASSERT_EQ(rd_kafka_producev(
                  producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                  RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void Flush() { ASSERT_EQ(rd_kafka_flush(producer_, 20000), RD_KAFKA_RESP_ERR_NO_ERROR); }

  // Produces `n` records to each partition: "p<partition>-<i>" for i from `first`.
  void Fill(const std::string& topic, int first, int n) {
    for (int p = 0; p < kPartitions; ++p) {
      for (int i = first; i < first + n; ++i) Produce(topic, p, Value(p, i));
    }
    Flush();
  }
  static std::string Value(int p, int i) {
    return "p" + std::to_string(p) + "-" + std::to_string(i);
  }

  kafka::Params Params(const std::string& group = "") const {
    kafka::Params p = {{"bootstrap.servers", bootstraps_}, {"auto.offset.reset", "earliest"}};
    if (!group.empty()) p["group.id"] = group;
    return p;
  }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
};

// What a test sees of a stream: each batch's values and ranges.
struct Seen {
  Collector<std::string> values;
  std::shared_ptr<std::map<int64_t, std::vector<OffsetRange>>> ranges =
      std::make_shared<std::map<int64_t, std::vector<OffsetRange>>>();
};

template <typename S>
void Watch(S& stream, Seen* seen) {
  auto ranges = seen->ranges;
  stream.foreachRDD([ranges](const auto& rdd, Time t) {
    (*ranges)[t.milliseconds()] = kafka::offsetRanges(rdd);
  });
  seen->values.Attach(
      stream.map([](const ConsumerRecord<std::string, std::string>& r) { return r.value(); }));
}

// The direct stream of `topic` for `group`, in `env`.
auto Subscribe(ManualStreams& env, const MockKafka& kafka, const std::string& group,
               const std::string& topic = "words") {
  return kafka::createDirectStream<std::string, std::string>(
      env.ssc(), kafka::LocationStrategies::PreferConsistent(),
      kafka::ConsumerStrategies::Subscribe({topic}, kafka.Params(group)));
}

std::vector<std::string> Expected(int first, int n) {
  std::vector<std::string> out;
  for (int p = 0; p < kPartitions; ++p) {
    for (int i = first; i < first + n; ++i) out.push_back(MockKafka::Value(p, i));
  }
  return testing::Sorted(out);
}

std::map<TopicPartition, int64_t> DirectKafkaStreamLimits(
    const std::map<TopicPartition, int64_t>& lag, double rate, double max_rate, double min_rate,
    double seconds) {
  return internal::DirectKafkaStream::MaxMessagesPerPartition(lag, rate, max_rate, min_rate,
                                                              seconds);
}

std::map<int32_t, std::pair<int64_t, int64_t>> ByPartition(const std::vector<OffsetRange>& rs) {
  std::map<int32_t, std::pair<int64_t, int64_t>> out;
  for (const auto& r : rs) out[r.partition] = {r.fromOffset, r.untilOffset};
  return out;
}

TEST(KafkaDirectStreamTest, EachBatchReadsTheRecordsSinceTheLastInRangesThatFollowEachOther) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.Fill("words", 0, 25);
  ManualStreams env(Seconds(1));
  auto stream = Subscribe(env, kafka, "wc");
  Seen seen;
  Watch(stream, &seen);
  env.ssc().start();
  auto first = env.RunBatches(1)[0];
  EXPECT_EQ(testing::Sorted(seen.values.At(first)), Expected(0, 25));
  for (const auto& [p, range] : ByPartition((*seen.ranges)[first.milliseconds()])) {
    EXPECT_EQ(range, std::make_pair(int64_t{0}, int64_t{25})) << "partition " << p;
  }
  kafka.Fill("words", 25, 10);
  auto second = env.RunBatches(1)[0];
  EXPECT_EQ(testing::Sorted(seen.values.At(second)), Expected(25, 10));
  for (const auto& [p, range] : ByPartition((*seen.ranges)[second.milliseconds()])) {
    EXPECT_EQ(range, std::make_pair(int64_t{25}, int64_t{35})) << "partition " << p;
  }
  auto third = env.RunBatches(1)[0];
  EXPECT_TRUE(seen.values.At(third).empty());
  EXPECT_EQ((*seen.ranges)[third.milliseconds()].size(), size_t{kPartitions});
  // The batch's input size is its ranges' records.
  auto done = env.ssc().core()->CompletedBatches();
  ASSERT_GE(done.size(), 2u);
  EXPECT_EQ(done[0].records, 100);
  EXPECT_EQ(done[1].records, 40);
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, RecordsCarryTheirKeysOffsetsAndTypedValues) {
  MockKafka kafka;
  kafka.CreateTopic("numbers", 1);
  for (int32_t i = 0; i < 5; ++i) {
    kafka.Produce("numbers", 0, kafka::Serialize(int64_t{i} * 1000), "k" + std::to_string(i));
  }
  kafka.Flush();
  ManualStreams env(Seconds(1));
  auto stream = kafka::createDirectStream<std::string, int64_t>(
      env.ssc(), kafka::LocationStrategies::PreferConsistent(),
      kafka::ConsumerStrategies::Assign({{"numbers", 0}}, kafka.Params()));
  Collector<std::string> out;
  out.Attach(stream.map([](const ConsumerRecord<std::string, int64_t>& r) {
    return r.key() + "@" + std::to_string(r.offset()) + "=" + std::to_string(r.value());
  }));
  env.ssc().start();
  auto t = env.RunBatches(1)[0];
  EXPECT_EQ(out.At(t), (std::vector<std::string>{"k0@0=0", "k1@1=1000", "k2@2=2000", "k3@3=3000",
                                                 "k4@4=4000"}));
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, MaxRatePerPartitionBoundsEachRange) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.Fill("words", 0, 30);
  Conf conf = ManualConf().set("ember.streaming.kafka.maxRatePerPartition", "10");
  ManualStreams env(Seconds(1), "local[2]", conf);
  auto stream = Subscribe(env, kafka, "rate");
  Seen seen;
  Watch(stream, &seen);
  env.ssc().start();
  auto times = env.RunBatches(4);
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(testing::Sorted(seen.values.At(times[b])), Expected(10 * b, 10)) << "batch " << b;
    for (const auto& [p, range] : ByPartition((*seen.ranges)[times[b].milliseconds()])) {
      EXPECT_EQ(range.second - range.first, 10);
    }
  }
  EXPECT_TRUE(seen.values.At(times[3]).empty());
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, TheRateLimitFollowsSparksFormula) {
  using Limits = std::map<TopicPartition, int64_t>;
  TopicPartition a{"t", 0}, b{"t", 1};
  // No rate from backpressure: maxRatePerPartition times the batch interval.
  EXPECT_EQ(DirectKafkaStreamLimits({{a, 500}, {b, 0}}, -1, 100, 1, 2),
            (Limits{{a, 200}, {b, 200}}));
  // No limit at all: none.
  EXPECT_TRUE(DirectKafkaStreamLimits({{a, 500}}, -1, 0, 1, 2).empty());
  // A rate shared by lag, capped by maxRatePerPartition, floored by minRatePerPartition.
  EXPECT_EQ(DirectKafkaStreamLimits({{a, 300}, {b, 100}}, 400, 0, 1, 1),
            (Limits{{a, 300}, {b, 100}}));
  EXPECT_EQ(DirectKafkaStreamLimits({{a, 300}, {b, 100}}, 400, 150, 1, 1),
            (Limits{{a, 150}, {b, 100}}));
  EXPECT_EQ(DirectKafkaStreamLimits({{a, 300}, {b, 0}}, 400, 0, 50, 1),
            (Limits{{a, 400}, {b, 50}}));
  // Zero lag everywhere: an even share, never a division by zero.
  EXPECT_EQ(DirectKafkaStreamLimits({{a, 0}, {b, 0}}, 100, 0, 1, 1), (Limits{{a, 50}, {b, 50}}));
}

TEST(KafkaDirectStreamTest, CommitAsyncCommitsAtTheNextBatchAndANewStreamStartsThere) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.Fill("words", 0, 20);
  auto committed = std::make_shared<std::map<TopicPartition, int64_t>>();
  {
    ManualStreams env(Seconds(1));
    auto stream = Subscribe(env, kafka, "committer");
    stream.foreachRDD([&stream, committed](const auto& rdd, Time) {
      kafka::commitAsync(
          stream, kafka::offsetRanges(rdd),
          [committed](const std::map<TopicPartition, int64_t>& offsets, const std::string& error) {
            EXPECT_EQ(error, "");
            for (const auto& [tp, o] : offsets) (*committed)[tp] = o;
          });
    });
    env.ssc().start();
    env.RunBatches(2);  // the second batch's generation commits the first's ranges
    env.ssc().stop();
  }
  ASSERT_EQ(committed->size(), size_t{kPartitions});
  for (const auto& [tp, o] : *committed) EXPECT_EQ(o, 20) << tp.toString();
  kafka.Fill("words", 20, 5);
  ManualStreams env(Seconds(1));
  auto stream = Subscribe(env, kafka, "committer");
  Seen seen;
  Watch(stream, &seen);
  env.ssc().start();
  auto t = env.RunBatches(1)[0];
  EXPECT_EQ(testing::Sorted(seen.values.At(t)), Expected(20, 5));
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, ABatchGeneratedAgainFromTheCheckpointTakesTheSameRanges) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.Fill("words", 0, 10);
  proto::CheckpointKafkaStream kept;
  std::vector<OffsetRange> first;
  {
    ManualStreams env(Seconds(1));
    auto stream = Subscribe(env, kafka, "again");
    auto* node = dynamic_cast<internal::DirectKafkaStream*>(stream.ref().get());
    ASSERT_NE(node, nullptr);
    first = internal::KafkaOffsetRanges(node->GetOrCompute(Time(1000)));
    node->Snapshot(&kept);
  }
  ASSERT_EQ(first.size(), size_t{kPartitions});
  // The driver died with batch 1000 generated; more records arrived since.
  kafka.Fill("words", 10, 5);
  ManualStreams env(Seconds(1));
  auto stream = Subscribe(env, kafka, "again");
  auto* node = dynamic_cast<internal::DirectKafkaStream*>(stream.ref().get());
  node->Restore(kept);
  EXPECT_EQ(internal::KafkaOffsetRanges(node->GetOrCompute(Time(1000))), first);
  for (const auto& r : internal::KafkaOffsetRanges(node->GetOrCompute(Time(2000)))) {
    EXPECT_EQ(r.fromOffset, 10);
    EXPECT_EQ(r.untilOffset, 15);
  }
}

TEST(KafkaDirectStreamTest, ARestartedContextGoesOnWhereItsCheckpointStopped) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  std::string checkpoint = ::testing::TempDir() + "/kafka-checkpoint";
  std::filesystem::remove_all(checkpoint);
  kafka.Fill("words", 0, 10);
  std::vector<std::string> all;
  {
    ManualStreams env(Seconds(1), "local[2]", ManualConf(), 0);
    env.ssc().checkpoint(checkpoint);
    auto stream = Subscribe(env, kafka, "restart");
    Seen seen;
    Watch(stream, &seen);
    env.ssc().start();
    for (auto t : env.RunBatches(2)) {
      auto v = seen.values.At(t);
      all.insert(all.end(), v.begin(), v.end());
    }
    // The driver dies here (no graceful stop).
  }
  // Records arrive while it is down.
  kafka.Fill("words", 10, 7);
  ManualStreams env(Seconds(1), "local[2]", ManualConf(), 5000);
  env.ssc().checkpoint(checkpoint);
  auto stream = Subscribe(env, kafka, "restart");
  Seen seen;
  Watch(stream, &seen);
  env.ssc().start();
  // The missed batches 3..5 run at once.
  ASSERT_TRUE(env.ssc().core()->WaitForBatch(Time(5000), absl::Seconds(30)));
  for (int64_t t = 3000; t <= 5000; t += 1000) {
    auto v = seen.values.At(Time(t));
    all.insert(all.end(), v.begin(), v.end());
  }
  EXPECT_EQ(testing::Sorted(all), Expected(0, 17));
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, ABrokerDownDelaysItsPartitionsAndLosesNothing) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.Fill("words", 0, 10);
  Conf conf = ManualConf("local[2,4]").set("ember.streaming.kafka.consumer.poll.ms", "3s");
  ManualStreams env(Seconds(1), "local[2,4]", conf);
  auto stream = Subscribe(env, kafka, "faults");
  Seen seen;
  Watch(stream, &seen);
  env.ssc().start();
  std::vector<std::string> all;
  auto take = [&](Time t) {
    auto v = seen.values.At(t);
    all.insert(all.end(), v.begin(), v.end());
  };
  take(env.RunBatches(1)[0]);
  // Fetch requests fail now and then: librdkafka retries them.
  rd_kafka_mock_push_request_errors(
      kafka.cluster(), 1 /* Fetch */, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  kafka.Fill("words", 10, 10);
  take(env.RunBatches(1)[0]);
  // A leader moves.
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(kafka.cluster(), "words", 0, 3), 0);
  kafka.Fill("words", 20, 10);
  take(env.RunBatches(1)[0]);
  // A broker goes down with records of its partitions unread, and comes back: its partitions
  // read nothing meanwhile (where their latest offsets cannot be had; a warning says so),
  // then catch up.
  kafka.Fill("words", 30, 10);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(kafka.cluster(), 2), 0);
  take(env.RunBatches(1)[0]);
  ASSERT_EQ(rd_kafka_mock_broker_set_up(kafka.cluster(), 2), 0);
  for (auto& t : env.RunBatches(3)) take(t);
  EXPECT_EQ(testing::Sorted(all), Expected(0, 40));
  env.ssc().stop();
}

TEST(KafkaDirectStreamTest, SaveToKafkaWritesEveryRecordOnce) {
  MockKafka kafka;
  kafka.CreateTopic("words");
  kafka.CreateTopic("counts", 2);
  kafka.Fill("words", 0, 50);
  ManualStreams env(Seconds(1));
  auto stream = Subscribe(env, kafka, "sink");
  auto counts = stream
                    .map([](const ConsumerRecord<std::string, std::string>& r) {
                      return std::make_pair(r.value().substr(0, 2), int64_t{1});
                    })
                    .reduceByKey([](int64_t a, int64_t b) { return a + b; });
  kafka::saveToKafka(counts, "counts", {{"bootstrap.servers", kafka.bootstraps()}},
                     [](const std::pair<std::string, int64_t>& kv) { return kv; });
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  // Read it back.
  std::map<std::string, int64_t> got;
  int records = 0;
  for (int32_t p = 0; p < 2; ++p) {
    proto::KafkaInput in;
    in.set_topic("counts");
    in.set_partition(p);
    auto client = internal::KafkaClient::Create(internal::KafkaClient::Kind::kConsumer,
                                                {{"bootstrap.servers", kafka.bootstraps()}});
    ASSERT_TRUE(client.ok());
    auto first = (*client)->Offset({"counts", p}, /*latest=*/false, absl::Seconds(10));
    auto end = (*client)->Offset({"counts", p}, /*latest=*/true, absl::Seconds(10));
    ASSERT_TRUE(first.ok() && end.ok()) << first.status() << end.status();
    in.set_from_offset(*first);
    in.set_until_offset(*end);
    for (const auto& [k, v] : internal::ExecutorConsumerParams(kafka.Params())) {
      (*in.mutable_params())[k] = v;
    }
    auto fetched = internal::FetchKafkaRange(in);
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    for (const auto& r : *fetched) {
      ++records;
      int64_t n = 0;
      ASSERT_TRUE(kafka::LongDeserializer::deserialize(*r.value, &n));
      got[*r.key] += n;
    }
  }
  EXPECT_EQ(records, kPartitions);
  EXPECT_EQ(got, (std::map<std::string, int64_t>{{"p0", 50}, {"p1", 50}, {"p2", 50}, {"p3", 50}}));
}

TEST(KafkaDirectStreamTest, ARangeBeyondWhatTheBrokerHoldsFailsNamingIt) {
  MockKafka kafka;
  kafka.CreateTopic("short", 1);
  for (int i = 0; i < 3; ++i) kafka.Produce("short", 0, "x" + std::to_string(i));
  kafka.Flush();
  proto::KafkaInput in;
  in.set_topic("short");
  in.set_partition(0);
  in.set_from_offset(1);
  in.set_until_offset(10);
  in.set_poll_timeout_ms(1500);
  for (const auto& [k, v] : internal::ExecutorConsumerParams(kafka.Params("g"))) {
    (*in.mutable_params())[k] = v;
  }
  auto fetched = internal::FetchKafkaRange(in);
  ASSERT_FALSE(fetched.ok());
  EXPECT_NE(fetched.status().message().find("offsets [3, 10) of short-0"), std::string::npos)
      << fetched.status();
  // Within what it holds, the same consumer reads the range exactly.
  in.set_until_offset(3);
  fetched = internal::FetchKafkaRange(in);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_EQ(fetched->size(), 2u);
  EXPECT_EQ(*(*fetched)[0].value, "x1");
  EXPECT_EQ((*fetched)[1].offset, 2);
}

}  // namespace
}  // namespace ember
