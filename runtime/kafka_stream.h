#pragma once
// The direct Kafka stream on the driver (Spark's DirectKafkaInputDStream): no receiver. Every
// batch it takes, per topic-partition, the range from where the previous batch stopped to the
// latest offset, bounded by ember.streaming.kafka.maxRatePerPartition (at least
// minRatePerPartition) times the batch interval, and makes an RDD with one partition per range
// whose task fetches it (runtime/kafka_client.h). The ranges are chosen when the batch is
// generated and kept in the metadata checkpoint: a batch run again after a restart reads the
// same records. Commits queued by commitAsync go to the consumer group at the next batch.
//
// Where a partition starts: the checkpoint's offset, else the strategy's offsets, else the
// group's committed offset, else auto.offset.reset (latest by default). A partition added to a
// subscribed topic joins at its start the same way; one that disappears fails the batch.
// Thread-safe; the job thread computes it.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/kafka.h"
#include "proto/task.pb.h"
#include "runtime/kafka_client.h"
#include "runtime/stream_graph.h"

namespace ember {
namespace internal {

class DirectKafkaStream : public StreamNode {
 public:
  using CommitCallback =
      std::function<void(const std::map<kafka::TopicPartition, int64_t>&, const std::string&)>;
  DirectKafkaStream(ContextCore* ctx, kafka::LocationStrategy location,
                    kafka::ConsumerStrategy consumer, proto::OpSpec decoder);
  std::string Describe() const override;

  void CommitAsync(std::vector<kafka::OffsetRange> ranges, CommitCallback callback);
  // Backpressure's rate (records per second for the whole stream; 0: none), shared out by lag.
  void SetRate(double rate);
  // The records of batch t (0 until it is generated), for the batch's input size.
  int64_t RecordsOf(Time t);
  void Snapshot(proto::CheckpointKafkaStream* out);
  void Restore(const proto::CheckpointKafkaStream& in);

  // The per-partition ceiling for a batch, by Spark's rules (exposed for tests): the rate
  // limit (rate: the backpressure estimate, <= 0 for none) shared out by lag, capped by
  // maxRatePerPartition, floored by minRatePerPartition, times the batch interval, at least 1;
  // empty when there is no limit.
  static std::map<kafka::TopicPartition, int64_t> MaxMessagesPerPartition(
      const std::map<kafka::TopicPartition, int64_t>& lag, double rate, double max_rate,
      double min_rate, double batch_seconds);

 protected:
  RddRef Compute(Time t) override;

 private:
  std::vector<kafka::TopicPartition> CurrentPartitions();
  int64_t StartOf(const kafka::TopicPartition& tp);
  void ApplyCommits();

  const kafka::LocationStrategy location_;
  const kafka::ConsumerStrategy consumer_;
  const proto::OpSpec decoder_;
  kafka::Params executor_params_;
  double max_rate_ = 0, min_rate_ = 0;
  bool allow_non_consecutive_ = false;
  int64_t poll_timeout_ms_ = 10000;
  std::atomic<double> rate_{0};
  std::unique_ptr<KafkaClient> client_;  // the driver's, for queries and commits

  absl::Mutex mu_;
  std::map<kafka::TopicPartition, int64_t> next_ ABSL_GUARDED_BY(mu_);  // next batch's start
  std::map<int64_t, std::vector<kafka::OffsetRange>> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::map<kafka::TopicPartition, int64_t>, CommitCallback>> commits_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
