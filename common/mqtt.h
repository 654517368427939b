#pragma once
// MQTT in, as Apache Bahir's MQTTUtils (Spark's former spark-streaming-mqtt): a receiver that
// subscribes to topics on a broker (libmosquitto, in the runtime).
//
//   auto lines = ember::mqtt::createStream(ssc, "tcp://127.0.0.1:1883", "sensors/#");
//   auto pairs = ember::mqtt::createPairedStream(ssc, url, {"a", "b"});  // (topic, message)
//
// The broker URL is tcp://HOST:PORT, or ssl://HOST:PORT with Options' TLS files. The client
// reconnects by itself, with a growing delay, when the broker goes away, and subscribes again.
// Delivery: libmosquitto acknowledges a QoS 1 message as it hands it over, before the receiver
// has stored it, so a message in the receiver's memory when its process dies is lost (with
// cleanSession = false and a fixed clientId, what was published while the receiver was away
// is delivered when it is back).

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

// Implemented by the runtime on libmosquitto (runtime/message_buses.cc).
struct MqttSubscriber;
// Null, and `error` set, when the URL or options are wrong; a broker that is not there yet is
// retried in the background.
MqttSubscriber* MqttOpen(const std::string& url, const std::vector<std::string>& topics,
                         const mqtt::Options& options, std::string* error);
// One message; false when none came within `timeout_ms`.
bool MqttReceive(MqttSubscriber* s, std::string* topic, std::string* payload, int timeout_ms);
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
      std::string topic, payload;
      while (!this->isStopped()) {
        if (!MqttReceive(s, &topic, &payload, 100)) continue;
        if constexpr (kKind == MqttRecord::kText) {
          this->store(std::move(payload));
        } else if constexpr (kKind == MqttRecord::kBytes) {
          this->store(T(payload.begin(), payload.end()));
        } else {
          this->store(std::make_pair(std::move(topic), std::move(payload)));
        }
      }
      MqttClose(s);
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
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
