// The message buses' clients the header-only sources call (common/zeromq.h): libzmq.

#include <zmq.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/zeromq.h"

namespace ember {
namespace internal {

struct ZmqSubscriber {
  void* context = nullptr;
  void* socket = nullptr;
};

ZmqSubscriber* ZmqOpen(const std::string& url, bool connect,
                       const std::vector<std::string>& topics, std::string* error) {
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
