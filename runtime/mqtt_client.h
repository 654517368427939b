#pragma once
// An MQTT 3.1.1 subscriber that acknowledges a QoS 1 message when its user says so: the MQTT
// receiver does after the block holding the message is stored and reported, so a message an
// executor held in memory when it died is delivered again by the broker. Debian 12's
// libmosquitto (2.0.11) and Paho C (1.3) send PUBACK before the application sees a message;
// that is why this client exists (QoS 0 and 2 stay on libmosquitto, runtime/message_buses.cc).
//
// Plain TCP or TLS (OpenSSL). Blocking, for one thread: Receive also sends the keep-alive
// pings. A connection that breaks is not made again here: the caller connects anew (with the
// same client id and cleanSession = false, the broker then sends again what was not
// acknowledged).

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace ember {
namespace internal {

class MqttClient {
 public:
  struct Settings {
    std::string host;
    int port = 1883;
    bool tls = false;
    std::string ca_file;  // empty: the system's CA certificates
    std::string cert_file, key_file;
    std::string client_id;
    std::string username, password;
    bool clean_session = true;
    int keepalive_seconds = 60;
    std::vector<std::string> topics;
    int qos = 1;  // 0 or 1
    // For connecting, the broker's answers, and any one read or write.
    absl::Duration timeout = absl::Seconds(10);
  };
  struct Message {
    std::string topic;
    std::string payload;
    uint16_t packet_id = 0;  // 0: QoS 0, nothing to acknowledge
  };

  // Connected and subscribed, or why not (unreachable, refused, a TLS or protocol error).
  static absl::StatusOr<std::unique_ptr<MqttClient>> Connect(const Settings& settings);
  ~MqttClient();  // says DISCONNECT when the connection is sound

  // The next message: false when none came within `timeout`; an error when the connection
  // broke (then every call fails).
  absl::StatusOr<bool> Receive(Message* message, absl::Duration timeout);
  absl::Status Acknowledge(uint16_t packet_id);

  // The largest packet taken from a broker.
  static constexpr size_t kMaxPacket = 64 << 20;

 private:
  explicit MqttClient(const Settings& settings) : settings_(settings) {}
  absl::Status Open();
  absl::Status Handshake();
  absl::Status Send(const std::string& packet);
  // Reads what arrives within `timeout` (at least one byte, or nothing when none came).
  absl::StatusOr<bool> ReadSome(absl::Duration timeout);
  // A whole packet from what was read: its first byte and its body; false when incomplete.
  absl::StatusOr<bool> NextPacket(uint8_t* type, std::string* body);
  // Handles a packet read while waiting for `want` (a PUBLISH is queued for Receive).
  absl::Status Take(uint8_t type, const std::string& body);
  absl::Status Await(uint8_t want, std::string* body);
  absl::Status Fail(absl::Status s);

  Settings settings_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  absl::Status broken_;
  std::string in_;
  std::deque<Message> pending_;
  absl::Time last_sent_ = absl::Now();
  absl::Time ping_sent_ = absl::InfinitePast();
  bool ping_outstanding_ = false;
};

}  // namespace internal
}  // namespace ember
