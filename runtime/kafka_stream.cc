#include "runtime/kafka_stream.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "runtime/context_core.h"
#include "runtime/rdd_graph.h"

namespace ember {
namespace internal {

namespace {

constexpr absl::Duration kQueryTimeout = absl::Seconds(10);

// A batch asks for each partition's latest offset; a broker that does not answer within this
// only delays its partitions (they read nothing new this batch), so a batch is never held up
// for long by one broker.
absl::Duration LatestTimeout(Duration batch) {
  return std::clamp(absl::Milliseconds(batch.milliseconds() / 4), absl::Milliseconds(500),
                    absl::Seconds(5));
}

double RateKey(const Conf& conf, const std::string& key) {
  auto v = conf.getOption(key);
  if (!v) return 0;
  try {
    size_t used = 0;
    double d = std::stod(*v, &used);
    if (used == v->size() && d >= 0) return d;
  } catch (const std::exception&) {
  }
  throw EmberError("configuration " + key + "=" + *v +
                   " is not a rate (records per second, 0 or more)");
}

// One batch's ranges, its RDD: a partition per range, each fetched by its task.
class KafkaRdd : public RddNode {
 public:
  KafkaRdd(ContextCore* ctx, std::vector<kafka::OffsetRange> ranges, proto::KafkaInput common)
      : RddNode(ctx, static_cast<int>(ranges.size())),
        ranges_(std::move(ranges)),
        common_(std::move(common)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>*) const override {}
  const std::vector<kafka::OffsetRange>& ranges() const { return ranges_; }

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    const kafka::OffsetRange& r = ranges_[static_cast<size_t>(p)];
    proto::KafkaInput* in = out->mutable_kafka();
    *in = common_;
    in->set_topic(r.topic);
    in->set_partition(r.partition);
    in->set_from_offset(r.fromOffset);
    in->set_until_offset(r.untilOffset);
  }

 private:
  std::vector<kafka::OffsetRange> ranges_;
  proto::KafkaInput common_;
};

}  // namespace

DirectKafkaStream::DirectKafkaStream(ContextCore* ctx, kafka::LocationStrategy location,
                                     kafka::ConsumerStrategy consumer, proto::OpSpec decoder)
    : StreamNode(ctx, {}),
      location_(std::move(location)),
      consumer_(std::move(consumer)),
      decoder_(std::move(decoder)) {
  const Conf& conf = ctx->conf();
  max_rate_ = RateKey(conf, "ember.streaming.kafka.maxRatePerPartition");
  min_rate_ = conf.contains("ember.streaming.kafka.minRatePerPartition")
                  ? RateKey(conf, "ember.streaming.kafka.minRatePerPartition")
                  : 1;
  allow_non_consecutive_ =
      conf.getBoolean("ember.streaming.kafka.allowNonConsecutiveOffsets", false);
  poll_timeout_ms_ =
      conf.getDuration("ember.streaming.kafka.consumer.poll.ms", Seconds(10)).milliseconds();
  if (consumer_.params.count("bootstrap.servers") == 0) {
    throw EmberError("createDirectStream: the params need bootstrap.servers");
  }
  if (consumer_.kind != kafka::ConsumerStrategy::kAssign &&
      consumer_.params.count("group.id") == 0) {
    throw EmberError("createDirectStream: Subscribe and SubscribePattern need group.id");
  }
  if (consumer_.kind == kafka::ConsumerStrategy::kSubscribePattern) {
    try {
      std::regex check(consumer_.pattern);
    } catch (const std::regex_error& e) {
      throw EmberError("SubscribePattern: '" + consumer_.pattern + "' is not a regex: " + e.what());
    }
  }
  kafka::Params driver = consumer_.params;
  // This client never polls: it reads offsets and commits what commitAsync asks.
  driver["enable.auto.commit"] = "false";
  // A broker back from a failure is used again within a second, not librdkafka's 10 s.
  driver.emplace("reconnect.backoff.max.ms", "1000");
  auto client = KafkaClient::Create(KafkaClient::Kind::kConsumer, driver);
  if (!client.ok())
    throw EmberError("createDirectStream: " + std::string(client.status().message()));
  client_ = std::move(*client);
  executor_params_ = ExecutorConsumerParams(consumer_.params);
  auto user = consumer_.params.find("enable.auto.commit");
  if (user != consumer_.params.end() && user->second == "true") {
    LOG(WARNING) << "kafka: enable.auto.commit=true is overridden on the executors, as Spark "
                    "does: offsets are committed by commitAsync (or not at all)";
  }
  VLOG(1) << "kafka: executors read with enable.auto.commit=false, auto.offset.reset=error, "
             "group.id="
          << executor_params_["group.id"];
}

std::string DirectKafkaStream::Describe() const {
  switch (consumer_.kind) {
    case kafka::ConsumerStrategy::kSubscribe:
      return "kafka direct stream of " + absl::StrJoin(consumer_.topics, ",");
    case kafka::ConsumerStrategy::kSubscribePattern:
      return "kafka direct stream of /" + consumer_.pattern + "/";
    case kafka::ConsumerStrategy::kAssign:
      break;
  }
  std::vector<std::string> names;
  for (const auto& tp : consumer_.partitions) names.push_back(tp.toString());
  return "kafka direct stream of " + absl::StrJoin(names, ",");
}

std::vector<kafka::TopicPartition> DirectKafkaStream::CurrentPartitions() {
  if (consumer_.kind == kafka::ConsumerStrategy::kAssign) return consumer_.partitions;
  // The cluster's metadata could not be had (a broker down): the partitions known so far.
  auto known = [this](const absl::Status& why) {
    std::vector<kafka::TopicPartition> out;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [tp, offset] : next_) out.push_back(tp);
    }
    if (out.empty()) throw EmberError(std::string(why.message()));
    LOG(WARNING) << "kafka: " << why.message() << "; the stream goes on with the partitions "
                 << "it knows";
    return out;
  };
  const absl::Duration timeout = LatestTimeout(ctx()->batch_interval());
  std::vector<std::string> topics = consumer_.topics;
  if (consumer_.kind == kafka::ConsumerStrategy::kSubscribePattern) {
    auto all = client_->Topics(timeout);
    if (!all.ok()) return known(all.status());
    std::regex pattern(consumer_.pattern);
    topics.clear();
    for (const auto& t : *all) {
      if (std::regex_match(t, pattern)) topics.push_back(t);
    }
  }
  std::vector<kafka::TopicPartition> out;
  for (const auto& topic : topics) {
    auto parts = client_->Partitions(topic, timeout);
    if (!parts.ok()) {
      if (absl::IsNotFound(parts.status())) {
        LOG_EVERY_N(WARNING, 50) << "kafka: subscribed topic " << topic << " does not exist";
        continue;
      }
      return known(parts.status());
    }
    for (int32_t p : *parts) out.push_back({topic, p});
  }
  return out;
}

int64_t DirectKafkaStream::StartOf(const kafka::TopicPartition& tp) {
  auto given = consumer_.offsets.find(tp);
  if (given != consumer_.offsets.end()) return given->second;
  if (consumer_.params.count("group.id")) {
    auto committed = client_->Committed({tp}, kQueryTimeout);
    if (!committed.ok()) throw EmberError(std::string(committed.status().message()));
    auto it = committed->find(tp);
    if (it != committed->end() && it->second >= 0) return it->second;
  }
  auto reset = consumer_.params.find("auto.offset.reset");
  std::string how = reset == consumer_.params.end() ? "latest" : reset->second;
  bool earliest = how == "earliest" || how == "smallest" || how == "beginning";
  if (earliest || how == "latest" || how == "largest" || how == "end") {
    auto offset = client_->Offset(tp, /*latest=*/!earliest, kQueryTimeout);
    if (!offset.ok()) throw EmberError(std::string(offset.status().message()));
    return *offset;
  }
  throw EmberError("kafka: " + tp.toString() + " has no committed offset and auto.offset.reset=" +
                   how + ": give its starting offset");
}

void DirectKafkaStream::ApplyCommits() {
  std::vector<std::pair<std::map<kafka::TopicPartition, int64_t>, CommitCallback>> commits;
  {
    absl::MutexLock lock(&mu_);
    commits.swap(commits_);
  }
  for (auto& [offsets, callback] : commits) {
    absl::Status s = client_->Commit(offsets);
    if (!s.ok()) LOG(WARNING) << "kafka: " << s.message();
    if (callback) callback(offsets, s.ok() ? "" : std::string(s.message()));
  }
}

void DirectKafkaStream::CommitAsync(std::vector<kafka::OffsetRange> ranges,
                                    CommitCallback callback) {
  std::map<kafka::TopicPartition, int64_t> offsets;
  for (const auto& r : ranges) {
    int64_t& o = offsets[r.topicPartition()];
    o = std::max(o, r.untilOffset);
  }
  absl::MutexLock lock(&mu_);
  commits_.emplace_back(std::move(offsets), std::move(callback));
}

std::map<kafka::TopicPartition, int64_t> DirectKafkaStream::MaxMessagesPerPartition(
    const std::map<kafka::TopicPartition, int64_t>& lag, double rate, double max_rate,
    double min_rate, double batch_seconds) {
  std::map<kafka::TopicPartition, double> limit;
  if (rate > 0) {
    int64_t total = 0;
    for (const auto& [tp, l] : lag) total += l;
    for (const auto& [tp, l] : lag) {
      // Spark divides by the total lag; with none, every partition gets an even share.
      double share = total > 0 ? static_cast<double>(l) / static_cast<double>(total)
                               : 1.0 / static_cast<double>(lag.size());
      double r = share * rate;
      limit[tp] = max_rate > 0 ? std::min(r, max_rate) : r;
    }
  } else {
    for (const auto& [tp, l] : lag) limit[tp] = max_rate;
  }
  double sum = 0;
  for (const auto& [tp, r] : limit) sum += r;
  std::map<kafka::TopicPartition, int64_t> out;
  if (sum <= 0) return out;
  for (const auto& [tp, r] : limit) {
    double most = std::max(r * batch_seconds, min_rate * batch_seconds);
    out[tp] = std::max<int64_t>(static_cast<int64_t>(most), 1);
  }
  return out;
}

RddRef DirectKafkaStream::Compute(Time t) {
  ApplyCommits();
  std::vector<kafka::OffsetRange> ranges;
  bool again = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = batches_.find(t.milliseconds());
    if (it != batches_.end()) {
      ranges = it->second;  // a batch computed again (after a restart): the same records
      again = true;
    }
  }
  if (!again) {
    std::vector<kafka::TopicPartition> now = CurrentPartitions();
    std::map<kafka::TopicPartition, int64_t> next;
    {
      absl::MutexLock lock(&mu_);
      next = next_;
    }
    std::set<kafka::TopicPartition> present(now.begin(), now.end());
    for (const auto& [tp, offset] : next) {
      if (!present.count(tp)) {
        throw EmberError("kafka partition " + tp.toString() +
                         " disappeared (was its topic deleted?); the stream cannot go on");
      }
    }
    for (const auto& tp : now) {
      if (!next.count(tp)) {
        next[tp] = StartOf(tp);
        LOG(INFO) << "kafka: " << tp.toString() << " joins the stream at offset " << next[tp];
      }
    }
    std::map<kafka::TopicPartition, int64_t> latest, lag;
    for (const auto& [tp, from] : next) {
      auto end = client_->Offset(tp, /*latest=*/true, LatestTimeout(ctx()->batch_interval()));
      if (!end.ok()) {
        // Nothing is lost: the next batch reads what this one could not see.
        LOG(WARNING) << "kafka: " << end.status().message() << "; batch " << t.milliseconds()
                     << " reads nothing new from it";
        latest[tp] = from;
      } else {
        latest[tp] = std::max(from, *end);
      }
      lag[tp] = latest[tp] - from;
    }
    double seconds = static_cast<double>(ctx()->batch_interval().milliseconds()) / 1000.0;
    auto limits = MaxMessagesPerPartition(lag, rate_.load(), max_rate_, min_rate_, seconds);
    for (const auto& [tp, from] : next) {
      int64_t until = latest[tp];
      auto limit = limits.find(tp);
      if (limit != limits.end()) until = std::min(until, from + limit->second);
      ranges.push_back({tp.topic, tp.partition, from, until});
      next[tp] = until;
    }
    absl::MutexLock lock(&mu_);
    next_ = std::move(next);
    batches_[t.milliseconds()] = ranges;
    // Kept for recovery while a restart may run the batch again (a minute, or the window).
    int64_t keep = std::max<int64_t>(60000, RememberOf(this).milliseconds() * 2);
    batches_.erase(batches_.begin(), batches_.lower_bound(t.milliseconds() - keep));
  }
  proto::KafkaInput common;
  for (const auto& [k, v] : executor_params_) (*common.mutable_params())[k] = v;
  common.set_allow_non_consecutive(allow_non_consecutive_);
  common.set_poll_timeout_ms(poll_timeout_ms_);
  *common.mutable_decoder() = decoder_;
  return std::make_shared<KafkaRdd>(ctx(), std::move(ranges), std::move(common));
}

void DirectKafkaStream::SetRate(double rate) { rate_.store(rate); }

int64_t DirectKafkaStream::RecordsOf(Time t) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(t.milliseconds());
  if (it == batches_.end()) return 0;
  int64_t n = 0;
  for (const auto& r : it->second) n += r.count();
  return n;
}

void DirectKafkaStream::Snapshot(proto::CheckpointKafkaStream* out) {
  absl::MutexLock lock(&mu_);
  for (const auto& [tp, offset] : next_) {
    auto* r = out->add_next();
    r->set_topic(tp.topic);
    r->set_partition(tp.partition);
    r->set_from_offset(offset);
  }
  for (const auto& [time, ranges] : batches_) {
    auto* b = out->add_batches();
    b->set_time_ms(time);
    for (const auto& range : ranges) {
      auto* r = b->add_ranges();
      r->set_topic(range.topic);
      r->set_partition(range.partition);
      r->set_from_offset(range.fromOffset);
      r->set_until_offset(range.untilOffset);
    }
  }
}

void DirectKafkaStream::Restore(const proto::CheckpointKafkaStream& in) {
  absl::MutexLock lock(&mu_);
  next_.clear();
  batches_.clear();
  for (const auto& r : in.next()) next_[{r.topic(), r.partition()}] = r.from_offset();
  for (const auto& b : in.batches()) {
    auto& ranges = batches_[b.time_ms()];
    for (const auto& r : b.ranges()) {
      ranges.push_back({r.topic(), r.partition(), r.from_offset(), r.until_offset()});
    }
  }
}

// ------------------------------------------------------------------- API entry points

StreamRef MakeDirectKafkaStream(ContextCore* ctx, kafka::LocationStrategy location,
                                kafka::ConsumerStrategy consumer,
                                std::shared_ptr<const DecoderOp> decoder) {
  return ctx->AddKafkaStream(std::make_shared<DirectKafkaStream>(
      ctx, std::move(location), std::move(consumer), ToSpec(*decoder)));
}

std::vector<kafka::OffsetRange> KafkaOffsetRanges(const RddRef& rdd) {
  auto* k = dynamic_cast<const KafkaRdd*>(rdd.get());
  if (k == nullptr) {
    throw EmberError(
        "offsetRanges: this RDD is not a Kafka direct stream's own; call it on the stream's RDD "
        "(in foreachRDD or transform on the stream itself), before any transformation");
  }
  return k->ranges();
}

void KafkaCommitAsync(
    const StreamRef& stream, std::vector<kafka::OffsetRange> ranges,
    std::function<void(const std::map<kafka::TopicPartition, int64_t>&, const std::string&)>
        callback) {
  auto* k = dynamic_cast<DirectKafkaStream*>(stream.get());
  if (k == nullptr) throw EmberError("commitAsync: the stream is not a Kafka direct stream");
  k->CommitAsync(std::move(ranges), std::move(callback));
}

void KafkaProduce(const kafka::Params& params, const std::string& topic,
                  const std::vector<std::pair<std::optional<std::string>, std::string>>& records) {
  absl::Status s = ProduceToKafka(params, topic, records);
  if (!s.ok()) throw EmberError(std::string(s.message()));
}

}  // namespace internal
}  // namespace ember
