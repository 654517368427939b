#pragma once
// MQTT in, as Apache Bahir's MQTTUtils (Spark's former spark-streaming-mqtt): a receiver that
// subscribes to topics on a broker (libmosquitto, in the runtime).
//
//   auto lines = ember::mqtt::createStream(ssc, "tcp://127.0.0.1:1883", "sensors/#");
//   auto pairs = ember::mqtt::createPairedStream(ssc, url, {"a", "b"});  // (topic, message)
//
// The broker URL is tcp://HOST:PORT, or ssl://HOST:PORT with Options' TLS files. The client
// reconnects by itself, with a growing delay, when the broker goes away, and subscribes again.
//
// Delivery. At QoS 1 (the default) a message is acknowledged to the broker only after the
// block holding it is stored (replicated, and logged when the write-ahead log is on) and the
// driver knows of it (Receiver::storeReliably). With cleanSession = false and a fixed
// clientId, the broker keeps the session: a receiver that dies (its executor killed) or loses
// its connection is sent again what it had not acknowledged, with what was published
// meanwhile, when it is back. Nothing is lost; a message stored but not yet acknowledged may
// come twice. The broker sends at most max_inflight_messages (mosquitto: 20) unacknowledged
// messages at a time, which bounds a block; its max_queued_messages (mosquitto: 1000) bounds
// what it keeps for a receiver that is away.
// QoS 0 and 2 use libmosquitto, which acknowledges a message as it hands it over: one in the
// receiver's memory when its process dies is lost.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/dstream.h"
#include "common/receiver.h"
#include "common/streaming_context.h"

namespace ember {
namespace mqtt {

struct Options {
  std::string clientId;  // empty: a random one
  std::string username;
  std::string password;
  bool cleanSession = true;
  int qos = 1;
  int keepAliveSeconds = 60;
  // ssl:// URLs: the CA certificates, and the client's certificate and key (optional).
  std::string caFile;
  std::string certFile;
  std::string keyFile;

  void serialize(Writer& w) const {
    ember::Encode(clientId, w);
    ember::Encode(username, w);
    ember::Encode(password, w);
    ember::Encode(cleanSession, w);
    ember::Encode(qos, w);
    ember::Encode(keepAliveSeconds, w);
    ember::Encode(caFile, w);
    ember::Encode(certFile, w);
    ember::Encode(keyFile, w);
  }
  bool deserialize(Reader& r) {
    return ember::Decode(r, &clientId) && ember::Decode(r, &username) &&
           ember::Decode(r, &password) && ember::Decode(r, &cleanSession) &&
           ember::Decode(r, &qos) && ember::Decode(r, &keepAliveSeconds) &&
           ember::Decode(r, &caFile) && ember::Decode(r, &certFile) && ember::Decode(r, &keyFile);
  }
};

}  // namespace mqtt

namespace internal {

// Implemented by the runtime (runtime/message_buses.cc).
struct MqttSubscriber;
// Null, and `error` set, when the URL or options are wrong; a broker that is not there yet is
// tried again.
MqttSubscriber* MqttOpen(const std::string& url, const std::vector<std::string>& topics,
                         const mqtt::Options& options, std::string* error);
// One message; false when none came within `timeout_ms`. `ack`: what acknowledges it once
// stored (0 when the client acknowledged it already). `error`: why the connection failed, when
// it did (it is tried again).
bool MqttReceive(MqttSubscriber* s, std::string* topic, std::string* payload, int timeout_ms,
                 uint64_t* ack, std::string* error);
// Acknowledges stored messages to the broker.
void MqttAcknowledge(MqttSubscriber* s, const std::vector<uint64_t>& acks);
void MqttClose(MqttSubscriber* s);

// What a message becomes: its payload as a string or as bytes, or (topic, payload).
enum class MqttRecord { kText, kBytes, kPair };

template <typename T, MqttRecord kKind>
class MqttReceiver : public Receiver<T> {
 public:
  MqttReceiver(std::string url, std::vector<std::string> topics, mqtt::Options options)
      : url_(std::move(url)), topics_(std::move(topics)), options_(std::move(options)) {}
  void onStart() override {
    thread_ = std::thread([this] {
      std::string error;
      MqttSubscriber* s = MqttOpen(url_, topics_, options_, &error);
      if (s == nullptr) {
        this->restart("cannot subscribe to MQTT broker " + url_ + ": " + error);
        return;
      }
      Run(s);
      MqttClose(s);
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  // At QoS 1 messages are gathered into a block of their own, stored reliably, and only then
  // acknowledged: a block ends when no message came for 5 ms (the broker holds the rest back
  // until it hears acknowledgements), at 10000 messages, or after 200 ms.
  void Run(MqttSubscriber* s) {
    const bool acknowledged_after_store = options_.qos == 1;
    std::vector<T> block;
    std::vector<uint64_t> acks;
    auto block_start = std::chrono::steady_clock::now();
    std::string topic, payload, error;
    while (!this->isStopped()) {
      uint64_t ack = 0;
      bool got = MqttReceive(s, &topic, &payload, block.empty() ? 100 : 5, &ack, &error);
      if (!error.empty()) this->reportError("MQTT broker " + url_ + ": " + error);
      if (got) {
        T record = Convert(std::move(topic), std::move(payload));
        if (!acknowledged_after_store) {
          this->store(std::move(record));
          continue;
        }
        if (block.empty()) block_start = std::chrono::steady_clock::now();
        block.push_back(std::move(record));
        acks.push_back(ack);
        if (block.size() < 10000 &&
            std::chrono::steady_clock::now() - block_start < std::chrono::milliseconds(200)) {
          continue;
        }
      }
      if (block.empty()) continue;
      // A store that failed is tried again (the broker would send these only to a new
      // connection); a stopping receiver leaves them unacknowledged, for its next run.
      while (!this->storeReliably(block)) {
        if (this->isStopped()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      MqttAcknowledge(s, acks);
      block.clear();
      acks.clear();
    }
  }

  static T Convert(std::string topic, std::string payload) {
    if constexpr (kKind == MqttRecord::kText) {
      return payload;
    } else if constexpr (kKind == MqttRecord::kBytes) {
      return T(payload.begin(), payload.end());
    } else {
      return std::make_pair(std::move(topic), std::move(payload));
    }
  }

  std::string url_;
  std::vector<std::string> topics_;
  mqtt::Options options_;
  std::thread thread_;
};

}  // namespace internal

namespace mqtt {

inline DStream<std::string> createStream(StreamingContext& ssc, const std::string& brokerUrl,
                                         const std::string& topic, Options options = {}) {
  return ssc.receiverStream<internal::MqttReceiver<std::string, internal::MqttRecord::kText>>(
      brokerUrl, std::vector<std::string>{topic}, std::move(options));
}

inline DStream<std::vector<uint8_t>> createBytesStream(StreamingContext& ssc,
                                                       const std::string& brokerUrl,
                                                       const std::string& topic,
                                                       Options options = {}) {
  return ssc
      .receiverStream<internal::MqttReceiver<std::vector<uint8_t>, internal::MqttRecord::kBytes>>(
          brokerUrl, std::vector<std::string>{topic}, std::move(options));
}

// (topic, message) of every topic given.
inline DStream<std::pair<std::string, std::string>> createPairedStream(
    StreamingContext& ssc, const std::string& brokerUrl, std::vector<std::string> topics,
    Options options = {}) {
  return ssc.receiverStream<
      internal::MqttReceiver<std::pair<std::string, std::string>, internal::MqttRecord::kPair>>(
      brokerUrl, std::move(topics), std::move(options));
}

}  // namespace mqtt
}  // namespace ember
