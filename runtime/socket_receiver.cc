// socketTextStream's receiver: connects to HOST:PORT and stores each line. A connection that
// fails or ends restarts the receiver, as Spark's SocketReceiver does.

#include <glog/logging.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/streaming_context.h"
#include "util/tcp.h"

namespace ember {

struct SocketTextReceiver::State {
  std::atomic<bool> stop{false};
  std::thread thread;
};

SocketTextReceiver::SocketTextReceiver(std::string host, int port)
    : host_(std::move(host)), port_(port) {}

SocketTextReceiver::~SocketTextReceiver() { onStop(); }

void SocketTextReceiver::onStart() {
  onStop();
  state_ = std::make_shared<State>();
  state_->thread = std::thread([this] { Receive(); });
}

void SocketTextReceiver::onStop() {
  if (state_ == nullptr) return;
  state_->stop = true;
  if (state_->thread.joinable() && state_->thread.get_id() != std::this_thread::get_id()) {
    state_->thread.join();
  }
  state_.reset();
}

void SocketTextReceiver::Receive() {
  std::shared_ptr<State> state = state_;
  std::string error;
  int fd = ConnectTcp(host_, port_, absl::Seconds(30), &error);
  if (fd < 0) {
    restart("Error connecting to " + host_ + ":" + std::to_string(port_) + ": " + error);
    return;
  }
  LOG(INFO) << "Connected to " << host_ << ":" << port_;
  std::string pending;
  std::vector<char> buf(64 * 1024);
  std::vector<std::string> lines;
  while (!state->stop) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, 100);  // wakes to notice a stop
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      size_t end = nl > start && pending[nl - 1] == '\r' ? nl - 1 : nl;
      lines.emplace_back(pending, start, end - start);
    }
    pending.erase(0, start);
    // One store per read, not per line: one lock for the whole chunk.
    if (!lines.empty()) store(std::move(lines));
    lines.clear();
  }
  close(fd);
  if (!pending.empty() && !state->stop) store(std::move(pending));
  if (!state->stop) restart("Socket data stream had no more data");
}

}  // namespace ember
