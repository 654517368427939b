// The message buses' clients the header-only sources call: libzmq (common/zeromq.h), and for
// common/mqtt.h libmosquitto (QoS 0 and 2) and runtime/mqtt_client.h (QoS 1, acknowledged
// after the store).

#include <glog/logging.h>
#include <mosquitto.h>
#include <zmq.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/mqtt.h"
#include "common/zeromq.h"
#include "runtime/mqtt_client.h"

namespace ember {
namespace internal {

struct ZmqSubscriber {
  void* context = nullptr;
  void* socket = nullptr;
};

ZmqSubscriber* ZmqOpen(const std::string& url, bool connect, const std::vector<std::string>& topics,
                       std::string* error) {
  auto* s = new ZmqSubscriber;
  s->context = zmq_ctx_new();
  s->socket = s->context ? zmq_socket(s->context, ZMQ_SUB) : nullptr;
  auto fail = [&] {
    *error = zmq_strerror(zmq_errno());
    ZmqClose(s);
    return nullptr;
  };
  if (s->socket == nullptr) return fail();
  int linger = 0;
  zmq_setsockopt(s->socket, ZMQ_LINGER, &linger, sizeof(linger));
  for (const auto& topic : topics) {
    if (zmq_setsockopt(s->socket, ZMQ_SUBSCRIBE, topic.data(), topic.size()) != 0) return fail();
  }
  if ((connect ? zmq_connect(s->socket, url.c_str()) : zmq_bind(s->socket, url.c_str())) != 0) {
    return fail();
  }
  return s;
}

bool ZmqReceive(ZmqSubscriber* s, std::vector<std::string>* frames, int timeout_ms) {
  frames->clear();
  zmq_pollitem_t item = {s->socket, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&item, 1, timeout_ms) <= 0) return false;
  while (true) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, s->socket, 0) < 0) {
      zmq_msg_close(&part);
      return !frames->empty();
    }
    frames->emplace_back(static_cast<const char*>(zmq_msg_data(&part)), zmq_msg_size(&part));
    bool more = zmq_msg_more(&part);
    zmq_msg_close(&part);
    if (!more) return true;
  }
}

void ZmqClose(ZmqSubscriber* s) {
  if (s == nullptr) return;
  if (s->socket != nullptr) zmq_close(s->socket);
  if (s->context != nullptr) zmq_ctx_term(s->context);
  delete s;
}

}  // namespace internal
}  // namespace ember

// ----------------------------------------------------------------------------------- MQTT

namespace ember {
namespace internal {

struct MqttSubscriber {
  // QoS 0 and 2: libmosquitto's client, its loop thread filling `messages`.
  mosquitto* client = nullptr;
  std::vector<std::string> topics;
  int qos = 1;
  absl::Mutex mu;
  std::deque<std::pair<std::string, std::string>> messages ABSL_GUARDED_BY(mu);

  // QoS 1: the receiver's thread drives the client itself, and connects again (with a growing
  // delay) after the connection breaks. `connection` counts the connections: an
  // acknowledgement names the one its message came on.
  MqttClient::Settings settings;
  std::unique_ptr<MqttClient> own;
  uint64_t connection = 0;
  absl::Duration backoff = kFirstBackoff;
  absl::Time next_attempt = absl::InfinitePast();
  static constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(10);
};

namespace {

void OnConnect(mosquitto* client, void* data, int rc) {
  if (rc != 0) return;  // the loop tries again
  auto* s = static_cast<MqttSubscriber*>(data);
  // A session the broker did not keep (a clean session, a restarted broker) needs these again.
  for (const auto& topic : s->topics) mosquitto_subscribe(client, nullptr, topic.c_str(), s->qos);
}

void OnMessage(mosquitto*, void* data, const mosquitto_message* m) {
  auto* s = static_cast<MqttSubscriber*>(data);
  std::string payload(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen));
  absl::MutexLock lock(&s->mu);
  s->messages.emplace_back(m->topic, std::move(payload));
}

bool ParseUrl(const std::string& url, bool* tls, std::string* host, int* port) {
  std::string rest;
  if (url.rfind("tcp://", 0) == 0) {
    *tls = false;
    rest = url.substr(6);
  } else if (url.rfind("ssl://", 0) == 0) {
    *tls = true;
    rest = url.substr(6);
  } else {
    return false;
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = rest.substr(0, colon);
  try {
    *port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return *port > 0 && *port < 65536;
}

}  // namespace

MqttSubscriber* MqttOpen(const std::string& url, const std::vector<std::string>& topics,
                         const mqtt::Options& options, std::string* error) {
  static std::once_flag init;
  std::call_once(init, [] { mosquitto_lib_init(); });
  bool tls = false;
  std::string host;
  int port = 0;
  if (!ParseUrl(url, &tls, &host, &port)) {
    *error = "the broker URL must be tcp://HOST:PORT or ssl://HOST:PORT";
    return nullptr;
  }
  if (options.qos < 0 || options.qos > 2) {
    *error = "qos must be 0, 1 or 2";
    return nullptr;
  }
  std::string id = options.clientId;
  if (id.empty()) {
    if (!options.cleanSession) {
      *error = "a session the broker keeps (cleanSession = false) needs a clientId";
      return nullptr;
    }
    id = "ember-" + std::to_string(std::random_device()());
  }
  auto* s = new MqttSubscriber;
  s->topics = topics;
  s->qos = options.qos;
  if (options.qos == 1) {
    MqttClient::Settings& c = s->settings;
    c.host = host;
    c.port = port;
    c.tls = tls;
    c.ca_file = options.caFile;
    c.cert_file = options.certFile;
    c.key_file = options.keyFile;
    c.client_id = id;
    c.username = options.username;
    c.password = options.password;
    c.clean_session = options.cleanSession;
    c.keepalive_seconds = options.keepAliveSeconds;
    c.topics = topics;
    c.qos = 1;
    return s;  // connected by the first MqttReceive, on the receiver's thread
  }
  s->client = mosquitto_new(id.c_str(), options.cleanSession, s);
  if (s->client == nullptr) {
    *error = "cannot create an MQTT client (a clientId is needed without cleanSession)";
    delete s;
    return nullptr;
  }
  auto fail = [&](int rc) {
    *error = mosquitto_strerror(rc);
    MqttClose(s);
    return nullptr;
  };
  int rc;
  if (!options.username.empty() &&
      (rc = mosquitto_username_pw_set(
           s->client, options.username.c_str(),
           options.password.empty() ? nullptr : options.password.c_str())) != 0) {
    return fail(rc);
  }
  if (tls && (rc = mosquitto_tls_set(
                  s->client, options.caFile.empty() ? nullptr : options.caFile.c_str(), nullptr,
                  options.certFile.empty() ? nullptr : options.certFile.c_str(),
                  options.keyFile.empty() ? nullptr : options.keyFile.c_str(), nullptr)) != 0) {
    return fail(rc);
  }
  mosquitto_connect_callback_set(s->client, OnConnect);
  mosquitto_message_callback_set(s->client, OnMessage);
  mosquitto_reconnect_delay_set(s->client, 1, 10, true);
  // Asynchronous: a broker that is not there yet is tried again by the loop.
  rc = mosquitto_connect_async(s->client, host.c_str(), port, options.keepAliveSeconds);
  if (rc != 0 && rc != MOSQ_ERR_ERRNO) return fail(rc);
  if ((rc = mosquitto_loop_start(s->client)) != 0) return fail(rc);
  return s;
}

namespace {

bool ReceiveOwn(MqttSubscriber* s, std::string* topic, std::string* payload, int timeout_ms,
                uint64_t* ack, std::string* error) {
  absl::Duration timeout = absl::Milliseconds(timeout_ms);
  if (s->own == nullptr) {
    absl::Time now = absl::Now();
    if (now < s->next_attempt) {
      absl::SleepFor(std::min(timeout, s->next_attempt - now));
      return false;
    }
    auto client = MqttClient::Connect(s->settings);
    if (!client.ok()) {
      *error = std::string(client.status().message());
      s->next_attempt = absl::Now() + s->backoff;
      s->backoff = std::min(s->backoff * 2, MqttSubscriber::kMaxBackoff);
      return false;
    }
    s->own = std::move(*client);
    ++s->connection;
    s->backoff = MqttSubscriber::kFirstBackoff;
    LOG(INFO) << "MQTT client " << s->settings.client_id << " connected to " << s->settings.host
              << ":" << s->settings.port;
  }
  MqttClient::Message m;
  absl::StatusOr<bool> got = s->own->Receive(&m, timeout);
  if (!got.ok()) {
    *error = std::string(got.status().message());
    s->own.reset();
    s->next_attempt = absl::Now() + s->backoff;
    return false;
  }
  if (!*got) return false;
  *topic = std::move(m.topic);
  *payload = std::move(m.payload);
  *ack = m.packet_id == 0 ? 0 : (s->connection << 16 | m.packet_id);
  return true;
}

}  // namespace

bool MqttReceive(MqttSubscriber* s, std::string* topic, std::string* payload, int timeout_ms,
                 uint64_t* ack, std::string* error) {
  *ack = 0;
  error->clear();
  if (s->qos == 1) return ReceiveOwn(s, topic, payload, timeout_ms, ack, error);
  absl::MutexLock lock(&s->mu);
  auto ready = [s]() ABSL_SHARED_LOCKS_REQUIRED(s->mu) { return !s->messages.empty(); };
  if (!s->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(timeout_ms))) {
    return false;
  }
  *topic = std::move(s->messages.front().first);
  *payload = std::move(s->messages.front().second);
  s->messages.pop_front();
  return true;
}

void MqttAcknowledge(MqttSubscriber* s, const std::vector<uint64_t>& acks) {
  if (s->own == nullptr) return;  // broken since: the broker sends those again
  for (uint64_t ack : acks) {
    if (ack == 0 || ack >> 16 != s->connection) continue;  // an earlier connection's
    if (!s->own->Acknowledge(static_cast<uint16_t>(ack & 0xffff)).ok()) return;
  }
}

void MqttClose(MqttSubscriber* s) {
  if (s == nullptr) return;
  s->own.reset();  // says DISCONNECT
  if (s->client != nullptr) {
    mosquitto_disconnect(s->client);
    mosquitto_loop_stop(s->client, true);
    mosquitto_destroy(s->client);
  }
  delete s;
}

}  // namespace internal
}  // namespace ember
