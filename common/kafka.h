#pragma once
// Kafka, as Spark's spark-streaming-kafka-0-10, on librdkafka (in the runtime; nothing here
// mentions it):
//
//   auto stream = ember::kafka::createDirectStream<std::string, std::string>(
//       ssc, ember::kafka::LocationStrategies::PreferConsistent(),
//       ember::kafka::ConsumerStrategies::Subscribe({"words"}, params));
//   stream.foreachRDD([&stream](const auto& rdd, ember::Time) {
//     auto ranges = ember::kafka::offsetRanges(rdd);
//     ... // output
//     ember::kafka::commitAsync(stream, ranges);
//   });
//
// The direct stream has no receiver: every batch the driver takes one offset range per
// topic-partition, from where the previous batch stopped up to the latest offset (bounded by
// ember.streaming.kafka.maxRatePerPartition), and the batch's RDD has one partition per range,
// which a task fetches from the brokers. The ranges are in the metadata checkpoint, so a batch
// run again after a driver restart reads exactly the same records. Records are
// ConsumerRecord<K, V>; keys and values are decoded by the deserializers chosen from their
// types (DefaultDeserializer below), or given as template arguments.
//
// saveToKafka writes a stream to a topic with a producer kept per process, idempotent by
// default; a record the broker does not take fails its task.

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/closure.h"
#include "common/codec.h"
#include "common/dstream.h"
#include "common/errors.h"
#include "common/op.h"
#include "common/rdd.h"
#include "common/show.h"
#include "common/streaming_context.h"

namespace ember {
namespace kafka {

// Kafka client settings (bootstrap.servers, group.id, security...), passed to librdkafka.
using Params = std::map<std::string, std::string>;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  bool operator==(const TopicPartition& o) const {
    return topic == o.topic && partition == o.partition;
  }
  bool operator<(const TopicPartition& o) const {
    return topic != o.topic ? topic < o.topic : partition < o.partition;
  }
  std::string toString() const { return topic + "-" + std::to_string(partition); }
  void serialize(Writer& w) const {
    ember::Encode(topic, w);
    ember::Encode(partition, w);
  }
  bool deserialize(Reader& r) { return ember::Decode(r, &topic) && ember::Decode(r, &partition); }
};

// The records [fromOffset, untilOffset) of one topic-partition: what a batch read.
struct OffsetRange {
  std::string topic;
  int32_t partition = 0;
  int64_t fromOffset = 0;
  int64_t untilOffset = 0;

  int64_t count() const { return untilOffset - fromOffset; }
  TopicPartition topicPartition() const { return {topic, partition}; }
  bool operator==(const OffsetRange& o) const {
    return topic == o.topic && partition == o.partition && fromOffset == o.fromOffset &&
           untilOffset == o.untilOffset;
  }
  // As Spark's OffsetRange.toString.
  std::string toString() const {
    return "OffsetRange(topic: '" + topic + "', partition: " + std::to_string(partition) +
           ", range: [" + std::to_string(fromOffset) + " -> " + std::to_string(untilOffset) + "])";
  }
  void serialize(Writer& w) const {
    ember::Encode(topic, w);
    ember::Encode(partition, w);
    ember::Encode(fromOffset, w);
    ember::Encode(untilOffset, w);
  }
  bool deserialize(Reader& r) {
    return ember::Decode(r, &topic) && ember::Decode(r, &partition) &&
           ember::Decode(r, &fromOffset) && ember::Decode(r, &untilOffset);
  }
};

enum class TimestampType : int8_t { NO_TIMESTAMP_TYPE = -1, CREATE_TIME = 0, LOG_APPEND_TIME = 1 };

// A record as the brokers hold it: the runtime's fetch gives these, the stream's decoder turns
// them into ConsumerRecord<K, V>.
struct RawRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = -1;
  int8_t timestamp_type = -1;
  std::optional<std::string> key;    // nullopt: a null key
  std::optional<std::string> value;  // nullopt: a null value (a tombstone)
  std::vector<std::pair<std::string, std::string>> headers;

  void serialize(Writer& w) const {
    ember::Encode(topic, w);
    ember::Encode(partition, w);
    ember::Encode(offset, w);
    ember::Encode(timestamp, w);
    ember::Encode(timestamp_type, w);
    ember::Encode(key, w);
    ember::Encode(value, w);
    ember::Encode(headers, w);
  }
  bool deserialize(Reader& r) {
    return ember::Decode(r, &topic) && ember::Decode(r, &partition) && ember::Decode(r, &offset) &&
           ember::Decode(r, &timestamp) && ember::Decode(r, &timestamp_type) &&
           ember::Decode(r, &key) && ember::Decode(r, &value) && ember::Decode(r, &headers);
  }
};

// ------------------------------------------------------------------------ deserializers
// A deserializer is a type with `using Type = T;` and
// `static bool deserialize(std::string_view bytes, T* out)` (false: the bytes are not a T).

struct StringDeserializer {
  using Type = std::string;
  static bool deserialize(std::string_view bytes, std::string* out) {
    out->assign(bytes.data(), bytes.size());
    return true;
  }
};

using Bytes = std::vector<uint8_t>;
struct BytesDeserializer {
  using Type = Bytes;
  static bool deserialize(std::string_view bytes, Bytes* out) {
    out->assign(bytes.begin(), bytes.end());
    return true;
  }
};

namespace internal_kafka {
template <typename T>
bool BigEndian(std::string_view bytes, T* out) {
  if (bytes.size() != sizeof(T)) return false;
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<uint8_t>(c);
  if constexpr (std::is_floating_point_v<T>) {
    using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
    U bits = static_cast<U>(v);
    std::memcpy(out, &bits, sizeof(T));
  } else {
    *out = static_cast<T>(v);
  }
  return true;
}
template <typename T>
std::string ToBigEndian(T x) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  U v;
  std::memcpy(&v, &x, sizeof(T));
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) out[sizeof(T) - 1 - i] = static_cast<char>(v >> (8 * i));
  return out;
}
}  // namespace internal_kafka

// Kafka's IntegerDeserializer, LongDeserializer, DoubleDeserializer: big-endian, exact size.
struct IntegerDeserializer {
  using Type = int32_t;
  static bool deserialize(std::string_view b, int32_t* out) {
    return internal_kafka::BigEndian(b, out);
  }
};
struct LongDeserializer {
  using Type = int64_t;
  static bool deserialize(std::string_view b, int64_t* out) {
    return internal_kafka::BigEndian(b, out);
  }
};
struct DoubleDeserializer {
  using Type = double;
  static bool deserialize(std::string_view b, double* out) {
    return internal_kafka::BigEndian(b, out);
  }
};
// Any type with an Ember codec, as Ember encodes it.
template <typename T>
struct CodecDeserializer {
  using Type = T;
  static bool deserialize(std::string_view b, T* out) {
    Reader r(b);
    return ember::Decode(r, out) && r.done();
  }
};

template <typename T>
struct DefaultDeserializer : CodecDeserializer<T> {};
template <>
struct DefaultDeserializer<std::string> : StringDeserializer {};
template <>
struct DefaultDeserializer<Bytes> : BytesDeserializer {};
template <>
struct DefaultDeserializer<int32_t> : IntegerDeserializer {};
template <>
struct DefaultDeserializer<int64_t> : LongDeserializer {};
template <>
struct DefaultDeserializer<double> : DoubleDeserializer {};

// The serializers saveToKafka uses, the same pairs the other way.
template <typename T>
std::string Serialize(const T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    return x;
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return std::string(x.begin(), x.end());
  } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                       std::is_same_v<T, double>) {
    return internal_kafka::ToBigEndian(x);
  } else {
    std::string out;
    Writer w(&out);
    ember::Encode(x, w);
    return out;
  }
}

// ------------------------------------------------------------------------------ records

template <typename K, typename V>
class ConsumerRecord {
 public:
  ConsumerRecord() = default;
  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }
  int64_t offset() const { return offset_; }
  int64_t timestamp() const { return timestamp_; }
  TimestampType timestampType() const { return timestamp_type_; }
  // A null key or value reads as K{} or V{}; hasKey()/hasValue() tell them apart.
  const K& key() const { return key_; }
  const V& value() const { return value_; }
  bool hasKey() const { return has_key_; }
  bool hasValue() const { return has_value_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

  // As Spark's ConsumerRecord.toString (the fields Ember keeps).
  std::string toString() const {
    static const char* kTypes[] = {"NoTimestampType", "CreateTime", "LogAppendTime"};
    std::string out = "ConsumerRecord(topic = " + topic_ +
                      ", partition = " + std::to_string(partition_) +
                      ", offset = " + std::to_string(offset_) + ", " +
                      kTypes[static_cast<int>(timestamp_type_) + 1] + " = " +
                      std::to_string(timestamp_) + ", key = ";
    out += has_key_ ? ToShowString(key_) : "null";
    out += ", value = ";
    out += has_value_ ? ToShowString(value_) : "null";
    return out + ")";
  }
  void serialize(Writer& w) const {
    ember::Encode(topic_, w);
    ember::Encode(partition_, w);
    ember::Encode(offset_, w);
    ember::Encode(timestamp_, w);
    ember::Encode(static_cast<int8_t>(timestamp_type_), w);
    ember::Encode(has_key_, w);
    ember::Encode(key_, w);
    ember::Encode(has_value_, w);
    ember::Encode(value_, w);
    ember::Encode(headers_, w);
  }
  bool deserialize(Reader& r) {
    int8_t type = 0;
    bool ok = ember::Decode(r, &topic_) && ember::Decode(r, &partition_) &&
              ember::Decode(r, &offset_) && ember::Decode(r, &timestamp_) &&
              ember::Decode(r, &type) && ember::Decode(r, &has_key_) && ember::Decode(r, &key_) &&
              ember::Decode(r, &has_value_) && ember::Decode(r, &value_) &&
              ember::Decode(r, &headers_);
    timestamp_type_ = static_cast<TimestampType>(type);
    return ok && type >= -1 && type <= 1;
  }

  // From a fetched record; an error names the record and what did not decode.
  template <typename KD, typename VD>
  static ConsumerRecord FromRaw(RawRecord raw) {
    ConsumerRecord c;
    c.topic_ = std::move(raw.topic);
    c.partition_ = raw.partition;
    c.offset_ = raw.offset;
    c.timestamp_ = raw.timestamp;
    c.timestamp_type_ = static_cast<TimestampType>(raw.timestamp_type);
    c.headers_ = std::move(raw.headers);
    auto fail = [&c](const char* what, size_t bytes) {
      throw EmberError("kafka record " + c.topic_ + "-" + std::to_string(c.partition_) + "@" +
                       std::to_string(c.offset_) + ": its " + what + " (" + std::to_string(bytes) +
                       " bytes) does not deserialize as the stream's " + what + " type");
    };
    if ((c.has_key_ = raw.key.has_value()) && !KD::deserialize(*raw.key, &c.key_)) {
      fail("key", raw.key->size());
    }
    if ((c.has_value_ = raw.value.has_value()) && !VD::deserialize(*raw.value, &c.value_)) {
      fail("value", raw.value->size());
    }
    return c;
  }

 private:
  std::string topic_;
  int32_t partition_ = 0;
  int64_t offset_ = 0;
  int64_t timestamp_ = -1;
  TimestampType timestamp_type_ = TimestampType::NO_TIMESTAMP_TYPE;
  bool has_key_ = false;
  K key_{};
  bool has_value_ = false;
  V value_{};
  std::vector<std::pair<std::string, std::string>> headers_;
};

// ------------------------------------------------------------------------ strategies

// Where the driver places each range's task (Spark's LocationStrategies).
struct LocationStrategy {
  enum Kind { kPreferConsistent, kPreferBrokers, kPreferFixed } kind = kPreferConsistent;
  std::map<TopicPartition, std::string> hosts;  // kPreferFixed: executor host (or host:port)
};
struct LocationStrategies {
  // Spread the ranges over the executors, each topic-partition on the same executor batch
  // after batch (its cached consumer).
  static LocationStrategy PreferConsistent() { return {}; }
  // On the executor running on the partition's leader broker's host, where there is one.
  static LocationStrategy PreferBrokers() { return {LocationStrategy::kPreferBrokers, {}}; }
  static LocationStrategy PreferFixed(std::map<TopicPartition, std::string> hosts) {
    return {LocationStrategy::kPreferFixed, std::move(hosts)};
  }
};

// Which topic-partitions the stream reads, with what client settings, from where (Spark's
// ConsumerStrategies). `offsets` gives starting offsets; partitions without one start at the
// group's committed offset, else where auto.offset.reset says ("latest" by default).
struct ConsumerStrategy {
  enum Kind { kSubscribe, kSubscribePattern, kAssign } kind = kSubscribe;
  std::vector<std::string> topics;         // kSubscribe
  std::string pattern;                     // kSubscribePattern: an ECMAScript regex
  std::vector<TopicPartition> partitions;  // kAssign
  Params params;
  std::map<TopicPartition, int64_t> offsets;
};
struct ConsumerStrategies {
  static ConsumerStrategy Subscribe(std::vector<std::string> topics, Params params,
                                    std::map<TopicPartition, int64_t> offsets = {}) {
    ConsumerStrategy s;
    s.topics = std::move(topics);
    s.params = std::move(params);
    s.offsets = std::move(offsets);
    return s;
  }
  static ConsumerStrategy SubscribePattern(std::string pattern, Params params,
                                           std::map<TopicPartition, int64_t> offsets = {}) {
    ConsumerStrategy s;
    s.kind = ConsumerStrategy::kSubscribePattern;
    s.pattern = std::move(pattern);
    s.params = std::move(params);
    s.offsets = std::move(offsets);
    return s;
  }
  static ConsumerStrategy Assign(std::vector<TopicPartition> partitions, Params params,
                                 std::map<TopicPartition, int64_t> offsets = {}) {
    ConsumerStrategy s;
    s.kind = ConsumerStrategy::kAssign;
    s.partitions = std::move(partitions);
    s.params = std::move(params);
    s.offsets = std::move(offsets);
    return s;
  }
};

}  // namespace kafka

// -------------------------------------------------------------- runtime entry points
namespace internal {

// Implemented by the runtime (runtime/kafka_stream.cc, runtime/kafka_client.cc).
StreamRef MakeDirectKafkaStream(ContextCore* ctx, kafka::LocationStrategy location,
                                kafka::ConsumerStrategy consumer,
                                std::shared_ptr<const DecoderOp> decoder);
// The ranges of a direct stream's RDD; throws EmberError for any other RDD.
std::vector<kafka::OffsetRange> KafkaOffsetRanges(const RddRef& rdd);
// Queues the ranges' ends for a commit to the stream's consumer group at the next batch.
void KafkaCommitAsync(const StreamRef& stream, std::vector<kafka::OffsetRange> ranges,
                      std::function<void(const std::map<kafka::TopicPartition, int64_t>& offsets,
                                         const std::string& error)>
                          callback);
// Writes (key, value) records to `topic` with a producer kept per process for `params`; throws
// EmberError when any record was not delivered.
void KafkaProduce(const kafka::Params& params, const std::string& topic,
                  const std::vector<std::pair<std::optional<std::string>, std::string>>& records);

// Decodes a fetched range into ConsumerRecord<K, V>s.
template <typename K, typename V, typename KD, typename VD>
class KafkaRecordDecoder : public OpBase<KafkaRecordDecoder<K, V, KD, VD>, DecoderOp>,
                           public NoClosure<KafkaRecordDecoder<K, V, KD, VD>> {
 public:
  bool Decode(std::string_view bytes, Partition* out) const override {
    std::vector<kafka::RawRecord> raw;
    if (!bytes.empty() && !DecodeVector(bytes, &raw)) return false;
    std::vector<kafka::ConsumerRecord<K, V>> records;
    records.reserve(raw.size());
    for (auto& r : raw) {
      records.push_back(kafka::ConsumerRecord<K, V>::template FromRaw<KD, VD>(std::move(r)));
    }
    *out = Partition::Of(std::move(records));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};

// saveToKafka's writer: runs on the executors, one producer per process and settings.
template <typename T, typename F>
class KafkaWriter {
 public:
  KafkaWriter() = default;
  KafkaWriter(std::string topic, kafka::Params params, F f)
      : topic_(std::move(topic)), params_(std::move(params)), f_(std::move(f)) {}
  void operator()(const std::vector<T>& records) const {
    std::vector<std::pair<std::optional<std::string>, std::string>> out;
    out.reserve(records.size());
    for (const T& x : records) {
      auto kv = (*f_)(x);
      if constexpr (internal::IsPair<decltype(kv)>::value) {
        out.emplace_back(kafka::Serialize(kv.first), kafka::Serialize(kv.second));
      } else {
        out.emplace_back(std::nullopt, kafka::Serialize(kv));
      }
    }
    KafkaProduce(params_, topic_, out);
  }
  void serialize(Writer& w) const {
    ember::Encode(topic_, w);
    ember::Encode(params_, w);
    internal::SaveClosure(*f_, w);
  }
  bool deserialize(Reader& r) {
    if (!ember::Decode(r, &topic_) || !ember::Decode(r, &params_)) return false;
    auto f = internal::LoadClosure<F>(r);
    if (!f) return false;
    f_.emplace(std::move(*f));
    return true;
  }

 private:
  std::string topic_;
  kafka::Params params_;
  std::optional<F> f_;  // lambdas have no default constructor
};

}  // namespace internal

namespace kafka {

// The direct stream of ConsumerRecord<K, V>. KD and VD deserialize keys and values; by default
// chosen from K and V: std::string (UTF-8 as is), Bytes, int32_t, int64_t, double (Kafka's
// big-endian encodings), any other type with an Ember codec (as Ember encodes it).
template <typename K, typename V, typename KD = DefaultDeserializer<K>,
          typename VD = DefaultDeserializer<V>>
DStream<ConsumerRecord<K, V>> createDirectStream(StreamingContext& ssc, LocationStrategy location,
                                                 ConsumerStrategy consumer) {
  static_assert(std::is_same_v<typename KD::Type, K> && std::is_same_v<typename VD::Type, V>,
                "createDirectStream<K, V, KD, VD>: KD::Type must be K and VD::Type must be V");
  return DStream<ConsumerRecord<K, V>>(internal::MakeDirectKafkaStream(
      ssc.core(), std::move(location), std::move(consumer),
      std::make_shared<internal::KafkaRecordDecoder<K, V, KD, VD>>()));
}

// Spark's HasOffsetRanges: the ranges of a direct stream's own RDD (in foreachRDD or
// transform, before any transformation); an EmberError for any other RDD.
template <typename R>
std::vector<OffsetRange> offsetRanges(const R& rdd) {
  return internal::KafkaOffsetRanges(rdd.ref());
}

// Spark's CanCommitOffsets: commits the ranges' ends to the stream's consumer group when the
// next batch is generated (at least once: a crash before then reads them again). `callback`
// (on the driver) gets the offsets and an empty error, or the error.
template <typename K, typename V, typename S>
void commitAsync(const DStream<ConsumerRecord<K, V>, S>& stream, std::vector<OffsetRange> ranges,
                 std::function<void(const std::map<TopicPartition, int64_t>&, const std::string&)>
                     callback = nullptr) {
  internal::KafkaCommitAsync(stream.ref(), std::move(ranges), std::move(callback));
}

// Writes every record of every batch to `topic`: `toKafka(record)` gives std::pair<K, V>
// (keyed) or V (no key), serialized as the deserializers above read them. One producer per
// executor process and settings; `enable.idempotence` is on unless the params turn it off.
// `toKafka` must be shippable, as any function given to map.
template <typename D, typename F>
void saveToKafka(const D& stream, const std::string& topic, const Params& producerParams,
                 F toKafka) {
  using T = typename D::value_type;
  EMBER_ASSERT_SHIPPABLE(F);
  internal::KafkaWriter<T, F> writer(topic, producerParams, toKafka);
  stream.foreachRDD([writer](const auto& rdd, Time) { rdd.foreachPartition(writer); });
  internal::NameLastOutput(stream.ref(), "saveToKafka");
}

}  // namespace kafka
}  // namespace ember
