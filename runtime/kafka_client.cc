#include "runtime/kafka_client.h"

#include <glog/logging.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "util/repeated_warnings.h"

namespace ember {
namespace internal {

namespace {

int Ms(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

std::string Name(const std::string& topic, int32_t partition) {
  return absl::StrCat(topic, "-", partition);
}

// librdkafka's own log lines, through glog.
void LogLine(const rd_kafka_t*, int level, const char* facility, const char* message) {
  if (level <= 4) {
    // A broker down is reported on every reconnect attempt: one line per kind per 10 s.
    WarnRepeated(absl::StrCat("kafka ", facility), absl::StrCat("kafka ", facility, ": ", message));
  } else {
    VLOG(1) << "kafka " << facility << ": " << message;
  }
}

// What one ProduceToKafka call waits for: its messages' delivery reports.
struct Delivery {
  std::atomic<int64_t> pending{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (d == nullptr) return;
  if (m->err) {
    absl::MutexLock lock(&d->mu);
    if (d->first_error.empty()) d->first_error = rd_kafka_err2str(m->err);
  }
  d->pending.fetch_sub(1);
}

std::string ParamsKey(const kafka::Params& params) {
  std::string key;
  for (const auto& [k, v] : params) absl::StrAppend(&key, k, "=", v, "\n");
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaClient>> KafkaClient::Create(Kind kind,
                                                                 const kafka::Params& params) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [k, v] : params) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka setting ", k, ": ", error));
    }
  }
  rd_kafka_conf_set_log_cb(conf, LogLine);
  if (kind == Kind::kProducer) rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_t* rk = rd_kafka_new(kind == Kind::kConsumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                                conf, error, sizeof(error));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("cannot create a kafka client: ", error));
  }
  if (kind == Kind::kConsumer) rd_kafka_poll_set_consumer(rk);
  return std::unique_ptr<KafkaClient>(new KafkaClient(rk));
}

KafkaClient::~KafkaClient() { rd_kafka_destroy(rk_); }

absl::StatusOr<std::vector<int32_t>> KafkaClient::Partitions(const std::string& topic,
                                                             absl::Duration timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &md, Ms(timeout));
  rd_kafka_topic_destroy(rkt);
  if (err) {
    return absl::UnavailableError(absl::StrCat("cannot read the partitions of kafka topic ", topic,
                                               ": ", rd_kafka_err2str(err)));
  }
  std::vector<int32_t> out;
  absl::Status s;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err) {
      s = t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
              ? absl::NotFoundError("kafka topic " + topic + " does not exist")
              : absl::UnavailableError(
                    absl::StrCat("kafka topic ", topic, ": ", rd_kafka_err2str(t.err)));
      break;
    }
    for (int p = 0; p < t.partition_cnt; ++p) out.push_back(t.partitions[p].id);
  }
  rd_kafka_metadata_destroy(md);
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> KafkaClient::Topics(absl::Duration timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 1, nullptr, &md, Ms(timeout));
  if (err) {
    return absl::UnavailableError(
        absl::StrCat("cannot list the kafka topics: ", rd_kafka_err2str(err)));
  }
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (!md->topics[i].err) out.push_back(md->topics[i].topic);
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

absl::StatusOr<int64_t> KafkaClient::Offset(const kafka::TopicPartition& tp, bool latest,
                                            absl::Duration timeout) {
  // ListOffsets through offsets_for_times: unlike query_watermark_offsets it keeps to its
  // timeout when the partition's leader is down (the request would wait for the connection).
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset =
      latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_, list, std::max(1, Ms(timeout)));
  if (!err) err = list->elems[0].err;
  int64_t offset = list->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(list);
  if (err) {
    return absl::UnavailableError(absl::StrCat("cannot read the ", latest ? "latest" : "earliest",
                                               " offset of ", Name(tp.topic, tp.partition), ": ",
                                               rd_kafka_err2str(err)));
  }
  return offset;
}

absl::StatusOr<std::map<kafka::TopicPartition, int64_t>> KafkaClient::Committed(
    const std::vector<kafka::TopicPartition>& tps, absl::Duration timeout) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()));
  for (const auto& tp : tps)
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
  rd_kafka_resp_err_t err = rd_kafka_committed(rk_, list, Ms(timeout));
  std::map<kafka::TopicPartition, int64_t> out;
  if (!err) {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      out[{e.topic, e.partition}] = e.err ? -1 : e.offset;  // RD_KAFKA_OFFSET_INVALID is -1001
      if (out[{e.topic, e.partition}] < 0) out[{e.topic, e.partition}] = -1;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  if (err) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the committed offsets: ", rd_kafka_err2str(err)));
  }
  return out;
}

absl::Status KafkaClient::Commit(const std::map<kafka::TopicPartition, int64_t>& offsets) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, 0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) {
    return absl::UnavailableError(
        absl::StrCat("cannot commit the offsets: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

kafka::Params ExecutorConsumerParams(const kafka::Params& params) {
  kafka::Params out = params;
  out["enable.auto.commit"] = "false";
  // A range's offsets are decided by the driver: a missing one is an error, never a reset.
  out["auto.offset.reset"] = "error";
  auto group = params.find("group.id");
  out["group.id"] =
      "ember-executor-" + (group == params.end() ? std::string("none") : group->second);
  out["enable.partition.eof"] = "true";
  // A broker back from a failure is fetched from again within a second.
  out.emplace("reconnect.backoff.max.ms", "1000");
  return out;
}

// ----------------------------------------------------------------------------- fetching

namespace {

// A consumer kept for one topic-partition and settings; used by one task at a time.
struct CachedConsumer {
  absl::Mutex mu;
  std::unique_ptr<KafkaClient> client ABSL_GUARDED_BY(mu);
  int64_t next ABSL_GUARDED_BY(mu) = -1;  // where its last fetch stopped; -1: re-position
};

absl::Mutex consumers_mu(absl::kConstInit);
absl::flat_hash_map<std::string, std::shared_ptr<CachedConsumer>>& Consumers() {
  static auto* map = new absl::flat_hash_map<std::string, std::shared_ptr<CachedConsumer>>();
  return *map;
}

kafka::RawRecord ToRaw(const rd_kafka_message_t* m, const std::string& topic, int32_t partition) {
  kafka::RawRecord r;
  r.topic = topic;
  r.partition = partition;
  r.offset = m->offset;
  rd_kafka_timestamp_type_t type;
  r.timestamp = rd_kafka_message_timestamp(m, &type);
  r.timestamp_type = static_cast<int8_t>(type == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? 0
                                         : type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? 1
                                                                                      : -1);
  if (m->key != nullptr) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value.emplace(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(
          name, value == nullptr ? "" : std::string(static_cast<const char*>(value), size));
    }
  }
  return r;
}

}  // namespace

absl::StatusOr<std::vector<kafka::RawRecord>> FetchKafkaRange(const proto::KafkaInput& input) {
  std::vector<kafka::RawRecord> records;
  const int64_t from = input.from_offset(), until = input.until_offset();
  if (until <= from) return records;
  const std::string name = Name(input.topic(), input.partition());
  kafka::Params params(input.params().begin(), input.params().end());
  std::shared_ptr<CachedConsumer> cached;
  {
    absl::MutexLock lock(&consumers_mu);
    auto& slot = Consumers()[absl::StrCat(ParamsKey(params), name)];
    if (slot == nullptr) slot = std::make_shared<CachedConsumer>();
    cached = slot;
  }
  absl::MutexLock lock(&cached->mu);
  if (cached->client == nullptr) {
    auto client = KafkaClient::Create(KafkaClient::Kind::kConsumer, params);
    if (!client.ok()) return client.status();
    cached->client = std::move(*client);
    cached->next = -1;
  }
  rd_kafka_t* rk = cached->client->handle();
  if (cached->next != from) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, input.topic().c_str(), input.partition())->offset =
        from;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
      cached->client.reset();
      return absl::UnavailableError(
          absl::StrCat("cannot fetch from ", name, ": ", rd_kafka_err2str(err)));
    }
  }
  cached->next = -1;  // until this fetch ends well
  int64_t expected = from;
  const absl::Duration timeout =
      absl::Milliseconds(input.poll_timeout_ms() > 0 ? input.poll_timeout_ms() : 10000);
  absl::Time deadline = absl::Now() + timeout;
  bool overshot = false;
  while (expected < until) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "could not fetch offsets [", expected, ", ", until, ") of ", name, " within ",
          absl::FormatDuration(timeout),
          " (ember.streaming.kafka.consumer.poll.ms): is the partition's leader reachable?"));
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, std::max(1, std::min(Ms(left), 500)));
    if (m == nullptr) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> held(
        m, rd_kafka_message_destroy);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // The partition's end: what the range still lacks is not there.
      if (m->offset >= until && input.allow_non_consecutive()) break;
      if (m->offset >= until) {
        return absl::DataLossError(absl::StrCat(
            "offsets [", expected, ", ", until, ") of ", name,
            " are missing (the batch's range is [", from, ", ", until,
            ")): a compacted topic, or transaction markers; set "
            "ember.streaming.kafka.allowNonConsecutiveOffsets=true to read such topics"));
      }
      continue;  // more is coming (the range ends below the latest offset)
    }
    if (m->err) {
      std::string why = rd_kafka_message_errstr(m);
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
          m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        return absl::DataLossError(
            absl::StrCat("offset ", expected, " of ", name,
                         " is no longer on the brokers (deleted by retention?): ", why));
      }
      LOG_EVERY_N(WARNING, 50) << "kafka fetch of " << name << ": " << why << " (retrying)";
      continue;  // transient: librdkafka retries the fetch itself
    }
    int64_t off = m->offset;
    if (off < expected) continue;
    if (off >= until) {
      overshot = true;
      break;
    }
    if (off > expected && !input.allow_non_consecutive()) {
      return absl::DataLossError(absl::StrCat(
          "offset ", expected, " of ", name, " is missing (the next record is at ", off,
          "; the batch's range is [", from, ", ", until,
          ")): a compacted topic, or transaction markers; set "
          "ember.streaming.kafka.allowNonConsecutiveOffsets=true to read such topics"));
    }
    records.push_back(ToRaw(m, input.topic(), input.partition()));
    expected = off + 1;
  }
  if (!overshot && expected >= until) cached->next = until;
  return records;
}

// ----------------------------------------------------------------------------- producing

namespace {
struct CachedProducer {
  absl::Mutex mu;
  std::unique_ptr<KafkaClient> client ABSL_GUARDED_BY(mu);
};
absl::Mutex producers_mu(absl::kConstInit);
absl::flat_hash_map<std::string, std::shared_ptr<CachedProducer>>& Producers() {
  static auto* map = new absl::flat_hash_map<std::string, std::shared_ptr<CachedProducer>>();
  return *map;
}
}  // namespace

absl::Status ProduceToKafka(
    const kafka::Params& user_params, const std::string& topic,
    const std::vector<std::pair<std::optional<std::string>, std::string>>& records) {
  kafka::Params params = user_params;
  params.emplace("enable.idempotence", "true");
  std::shared_ptr<CachedProducer> cached;
  {
    absl::MutexLock lock(&producers_mu);
    auto& slot = Producers()[ParamsKey(params)];
    if (slot == nullptr) slot = std::make_shared<CachedProducer>();
    cached = slot;
  }
  rd_kafka_t* rk;
  {
    absl::MutexLock lock(&cached->mu);
    if (cached->client == nullptr) {
      auto client = KafkaClient::Create(KafkaClient::Kind::kProducer, params);
      if (!client.ok()) return client.status();
      cached->client = std::move(*client);
    }
    rk = cached->client->handle();  // kept for the process's life once made
  }
  Delivery delivery;
  for (const auto& [key, value] : records) {
    delivery.pending.fetch_add(1);
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY((key ? key->data() : nullptr), (key ? key->size() : 0)),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 50);
        continue;
      }
      if (err) {
        delivery.pending.fetch_sub(1);
        // Wait for what was queued before failing: its reports refer to `delivery`.
        while (delivery.pending.load() > 0) rd_kafka_poll(rk, 50);
        return absl::UnavailableError(
            absl::StrCat("cannot produce to kafka topic ", topic, ": ", rd_kafka_err2str(err)));
      }
      break;
    }
  }
  // Delivery reports come back through poll; each fails or succeeds within the producer's
  // delivery.timeout.ms, so this ends.
  while (delivery.pending.load() > 0) rd_kafka_poll(rk, 50);
  absl::MutexLock lock(&delivery.mu);
  if (!delivery.first_error.empty()) {
    return absl::UnavailableError(
        absl::StrCat("kafka topic ", topic, " did not take a record: ", delivery.first_error));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace ember
