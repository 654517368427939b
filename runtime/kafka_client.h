#pragma once
// What the runtime does with Kafka, on librdkafka: the driver's queries (partitions, latest
// and committed offsets, commits), a task's fetch of one offset range through a consumer kept
// per process and topic-partition, and producers kept per process and settings. Every failure
// is a Status naming the topic-partition and what the client said; nothing here throws.
// Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "proto/task.pb.h"

struct rd_kafka_s;

namespace ember {
namespace internal {

// One librdkafka client (consumer or producer), destroyed with it.
class KafkaClient {
 public:
  enum class Kind { kConsumer, kProducer };
  // `params` as the user gave them; an unknown or malformed setting is InvalidArgument.
  static absl::StatusOr<std::unique_ptr<KafkaClient>> Create(Kind kind,
                                                             const kafka::Params& params);
  ~KafkaClient();
  KafkaClient(const KafkaClient&) = delete;
  KafkaClient& operator=(const KafkaClient&) = delete;
  rd_kafka_s* handle() const { return rk_; }

  // The topic's partitions; NotFound when the topic does not exist.
  absl::StatusOr<std::vector<int32_t>> Partitions(const std::string& topic, absl::Duration timeout);
  // Every topic the cluster has (for SubscribePattern).
  absl::StatusOr<std::vector<std::string>> Topics(absl::Duration timeout);
  // The earliest offset, or the latest (as the client's isolation.level sees it: the last
  // stable offset for read_committed); one ListOffsets request, within `timeout`.
  absl::StatusOr<int64_t> Offset(const kafka::TopicPartition& tp, bool latest,
                                 absl::Duration timeout);
  // The group's committed offsets (the client's group.id); -1 where there is none.
  absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> Committed(
      const std::vector<kafka::TopicPartition>& tps, absl::Duration timeout);
  absl::Status Commit(const std::map<kafka::TopicPartition, int64_t>& offsets);

 private:
  explicit KafkaClient(rd_kafka_s* rk) : rk_(rk) {}
  rd_kafka_s* rk_;
};

// A task's fetch: the records [from, until) of the input's topic-partition, through a consumer
// this process keeps for it (re-positioned when the range does not start where the last one
// ended). A missing offset inside the range fails, naming it, unless allow_non_consecutive.
absl::StatusOr<std::vector<kafka::RawRecord>> FetchKafkaRange(const proto::KafkaInput& input);

// The producer this process keeps for `params` (idempotent unless they say otherwise).
absl::Status ProduceToKafka(
    const kafka::Params& params, const std::string& topic,
    const std::vector<std::pair<std::optional<std::string>, std::string>>& records);

// The settings an executor's consumer gets over the user's (as Spark's executor consumers):
// no auto commit, no offset reset (a range's offsets must be there), a group of its own.
kafka::Params ExecutorConsumerParams(const kafka::Params& params);

}  // namespace internal
}  // namespace ember
