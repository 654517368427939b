// The message buses' clients the header-only sources call: libzmq (common/zeromq.h) and
// libmosquitto (common/mqtt.h).

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
  mosquitto* client = nullptr;
  std::vector<std::string> topics;
  int qos = 1;
  absl::Mutex mu;
  std::deque<std::pair<std::string, std::string>> messages ABSL_GUARDED_BY(mu);
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
  auto* s = new MqttSubscriber;
  s->topics = topics;
  s->qos = options.qos;
  std::string id = options.clientId;
  if (id.empty()) id = "ember-" + std::to_string(std::random_device()());
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

bool MqttReceive(MqttSubscriber* s, std::string* topic, std::string* payload, int timeout_ms) {
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

void MqttClose(MqttSubscriber* s) {
  if (s == nullptr) return;
  if (s->client != nullptr) {
    mosquitto_disconnect(s->client);
    mosquitto_loop_stop(s->client, true);
    mosquitto_destroy(s->client);
  }
  delete s;
}

}  // namespace internal
}  // namespace ember
