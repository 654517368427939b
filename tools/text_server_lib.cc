#include "tools/text_server_lib.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ember {
namespace tools {
namespace {

// Stop() runs in signal handlers: the flag must not hide a lock.
static_assert(std::atomic<bool>::is_always_lock_free, "Stop() must stay async-signal-safe");

// Lines taken per loop turn before the loop polls again, so that a fast source cannot starve
// accepting clients or reacting to Stop().
constexpr int kMaxLinesPerTurn = 1024;
constexpr size_t kReadChunk = size_t{64} * 1024;
// After accept() runs out of descriptors, leave the listener alone this long: it stays readable
// and would otherwise spin the loop.
constexpr int64_t kAcceptBackoffMs = 100;

// Lowers a poll timeout (-1: none yet) to `ms`, capped so that the int never overflows.
void ShortenTimeout(int* timeout_ms, int64_t ms) {
  const int capped = static_cast<int>(std::clamp<int64_t>(ms, 0, int64_t{60} * 1000));
  if (*timeout_ms < 0 || capped < *timeout_ms) *timeout_ms = capped;
}

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", ErrnoText(err)));
}

// "HOST:PORT" of a socket address, numeric, IPv6 hosts in brackets.
std::string FormatAddress(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (getnameinfo(addr, len, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (std::strchr(host, ':') != nullptr) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Writes all of `data` to a blocking descriptor.
absl::Status WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", errno);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// ---------------------------------------------------------------------------------------------
// TextGenerator

TextGenerator::TextGenerator(const Options& options) : options_(options), state_(options.seed) {
  CHECK_GE(options_.words_per_line, 1);
  CHECK_GE(options_.vocabulary, 1);
}

// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fully specified, good enough for test text.
uint64_t TextGenerator::NextRandom() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t TextGenerator::Uniform(uint64_t n) {
  // Reject the lowest (2^64 mod n) values so that every residue is equally likely.
  const uint64_t threshold = (0 - n) % n;
  uint64_t x = 0;
  do {
    x = NextRandom();
  } while (x < threshold);
  return x % n;
}

std::string TextGenerator::NextLine() {
  std::string line;
  for (int i = 0; i < options_.words_per_line; ++i) {
    if (i > 0) line.push_back(' ');
    absl::StrAppend(&line, "w", Uniform(static_cast<uint64_t>(options_.vocabulary)));
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// RatePacer

RatePacer::RatePacer(double lines_per_second) : lines_per_second_(lines_per_second) {}

void RatePacer::Start(int64_t now_ms) {
  started_ = true;
  start_ms_ = now_ms;
}

int64_t RatePacer::DueMs(int64_t index) const {
  CHECK(started_) << "RatePacer::DueMs before Start";
  if (lines_per_second_ <= 0) return start_ms_;
  return start_ms_ +
         static_cast<int64_t>(std::floor(static_cast<double>(index) * 1000.0 / lines_per_second_));
}

// ---------------------------------------------------------------------------------------------
// Line sources

absl::StatusOr<LineSource::Fetch> FdLineSource::Next(std::string* line) {
  while (true) {
    size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      line->assign(buffer_, 0, newline);
      buffer_.erase(0, newline + 1);
      scanned_ = 0;
      return Fetch::kLine;
    }
    scanned_ = buffer_.size();
    if (eof_) {
      if (buffer_.empty()) return Fetch::kEnd;
      *line = std::move(buffer_);
      buffer_.clear();
      scanned_ = 0;
      return Fetch::kLine;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, 0);
    if (ready < 0) {
      if (errno == EINTR) return Fetch::kNotReady;
      return ErrnoStatus("poll on input", errno);
    }
    if (ready == 0) return Fetch::kNotReady;
    // Readable (or hung up / in error, which read() reports): this read does not block.
    char chunk[kReadChunk];
    ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return Fetch::kNotReady;
      return ErrnoStatus("read from input", errno);
    }
    if (n == 0) {
      eof_ = true;
    } else {
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
}

absl::StatusOr<std::unique_ptr<FileLineSource>> FileLineSource::Open(const std::string& path,
                                                                     bool loop) {
  std::unique_ptr<FileLineSource> source(new FileLineSource(path, loop));
  source->in_.open(path);
  if (!source->in_.is_open()) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", ErrnoText(errno)));
  }
  return source;
}

absl::StatusOr<LineSource::Fetch> FileLineSource::Next(std::string* line) {
  if (std::getline(in_, *line)) {
    ++lines_this_pass_;
    return Fetch::kLine;
  }
  if (in_.bad()) return absl::DataLossError(absl::StrCat("error reading ", path_));
  if (!loop_ || lines_this_pass_ == 0) return Fetch::kEnd;
  in_.clear();
  in_.seekg(0);
  lines_this_pass_ = 0;
  if (!std::getline(in_, *line)) {
    // The file was truncated under us.
    return in_.bad() ? absl::DataLossError(absl::StrCat("error reading ", path_))
                     : absl::StatusOr<Fetch>(Fetch::kEnd);
  }
  ++lines_this_pass_;
  return Fetch::kLine;
}

absl::StatusOr<LineSource::Fetch> GeneratedLineSource::Next(std::string* line) {
  *line = generator_.NextLine();
  return Fetch::kLine;
}

// ---------------------------------------------------------------------------------------------
// TextServer

struct TextServer::Client {
  int fd = -1;
  std::string peer;
  std::string queued;  // bytes not yet accepted by the socket, from `sent` on
  size_t sent = 0;
  int64_t last_progress_ms = 0;  // last time the queue went from empty or shrank
  bool dropped = false;

  size_t QueuedBytes() const { return queued.size() - sent; }
};

TextServer::TextServer(const Options& options, std::unique_ptr<LineSource> source)
    : options_(options), source_(std::move(source)), pacer_(options.lines_per_second) {}

TextServer::~TextServer() {
  CloseAll();
  CloseFd(&listen_fd_);
  CloseFd(&wake_read_fd_);
  CloseFd(&wake_write_fd_);
  CloseFd(&record_fd_);
}

absl::StatusOr<std::unique_ptr<TextServer>> TextServer::Create(const Options& options,
                                                               std::unique_ptr<LineSource> source) {
  if (source == nullptr) return absl::InvalidArgumentError("no line source");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port out of range: ", options.port));
  }
  std::unique_ptr<TextServer> server(new TextServer(options, std::move(source)));
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  server->wake_read_fd_ = wake[0];
  server->wake_write_fd_ = wake[1];
  if (!options.record_path.empty()) {
    server->record_fd_ =
        open(options.record_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (server->record_fd_ < 0) {
      return ErrnoStatus(absl::StrCat("cannot open record file ", options.record_path), errno);
    }
  }
  absl::Status listened = server->Listen();
  if (!listened.ok()) return listened;
  return server;
}

absl::Status TextServer::Listen() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  int rc = getaddrinfo(options_.bind_host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", options_.bind_host, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no addresses";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = absl::StrCat("socket: ", ErrnoText(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      last_error = ErrnoText(errno);
      close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.bind_host, ":", port, ": ", last_error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  address_ = FormatAddress(reinterpret_cast<sockaddr*>(&bound), len);
  return absl::OkStatus();
}

void TextServer::Stop() {
  stop_.store(true);
  const char byte = 0;
  // Full pipe: a wake-up is already pending, which is all we need.
  ssize_t ignored = write(wake_write_fd_, &byte, 1);
  (void)ignored;
}

bool TextServer::Backpressured() const {
  for (const auto& client : clients_) {
    if (!client->dropped && client->QueuedBytes() >= options_.client_high_watermark_bytes) {
      return true;
    }
  }
  return false;
}

bool TextServer::HasQueuedOutput() const {
  for (const auto& client : clients_) {
    if (!client->dropped && client->QueuedBytes() > 0) return true;
  }
  return false;
}

absl::Status TextServer::Broadcast(const std::string& line, int64_t now_ms) {
  bool delivered = false;
  for (auto& client : clients_) {
    if (client->dropped) continue;
    if (client->QueuedBytes() == 0) {
      client->queued.clear();
      client->sent = 0;
      client->last_progress_ms = now_ms;
    }
    client->queued.append(line);
    client->queued.push_back('\n');
    delivered = true;
  }
  VLOG(2) << "line " << lines_taken_.load() << (delivered ? " queued: " : " dropped: ") << line;
  if (!delivered) return absl::OkStatus();
  lines_sent_.fetch_add(1);
  if (record_fd_ >= 0) absl::StrAppend(&record_buffer_, now_ms, "\t", line, "\n");
  return absl::OkStatus();
}

void TextServer::FlushClient(Client& client, int64_t now_ms) {
  while (!client.dropped && client.QueuedBytes() > 0) {
    ssize_t n = send(client.fd, client.queued.data() + client.sent, client.QueuedBytes(),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      DropClient(client, absl::StrCat("write failed: ", ErrnoText(errno)));
      return;
    }
    client.sent += static_cast<size_t>(n);
    client.last_progress_ms = now_ms;
  }
  if (client.QueuedBytes() == 0) {
    client.queued.clear();
    client.sent = 0;
  } else if (client.sent > client.queued.size() / 2) {
    client.queued.erase(0, client.sent);
    client.sent = 0;
  }
}

absl::Status TextServer::Produce(int64_t now_ms, Turn* turn) {
  std::string line;
  for (int i = 0; i < kMaxLinesPerTurn; ++i) {
    if (Backpressured()) {
      for (auto& client : clients_) FlushClient(*client, now_ms);
      // Still full: the poll waits for the clients to become writable.
      if (Backpressured()) {
        turn->held_back = true;
        return absl::OkStatus();
      }
    }
    const int64_t taken = lines_taken_.load();
    if (options_.max_lines > 0 && taken >= options_.max_lines) {
      source_done_ = true;
      return absl::OkStatus();
    }
    const int64_t due = pacer_.DueMs(taken);
    if (due > now_ms) {
      ShortenTimeout(&turn->timeout_ms, due - now_ms);
      return absl::OkStatus();
    }
    absl::StatusOr<LineSource::Fetch> fetched = source_->Next(&line);
    if (!fetched.ok()) return fetched.status();
    switch (*fetched) {
      case LineSource::Fetch::kNotReady:
        turn->wait_on_source = true;
        return absl::OkStatus();
      case LineSource::Fetch::kEnd:
        source_done_ = true;
        return absl::OkStatus();
      case LineSource::Fetch::kLine: {
        lines_taken_.fetch_add(1);
        absl::Status status = Broadcast(line, now_ms);
        if (!status.ok()) return status;
        break;
      }
    }
  }
  turn->timeout_ms = 0;  // more lines may be due: come straight back after a look at the sockets
  return absl::OkStatus();
}

void TextServer::AcceptClients(int64_t now_ms) {
  while (true) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      LOG(WARNING) << "accept failed: " << ErrnoText(errno) << "; pausing accepts for "
                   << kAcceptBackoffMs << " ms";
      accept_paused_until_ms_ = now_ms + kAcceptBackoffMs;
      return;
    }
    int one = 1;
    // Paced lines should leave when they are due, not when the previous one is acknowledged.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto client = std::make_unique<Client>();
    client->fd = fd;
    client->peer = FormatAddress(reinterpret_cast<sockaddr*>(&addr), len);
    client->last_progress_ms = now_ms;
    clients_.push_back(std::move(client));
    num_clients_.store(static_cast<int>(clients_.size()));
    LOG(INFO) << "client " << clients_.back()->peer << " connected (" << clients_.size()
              << " connected)";
  }
}

void TextServer::ReadFromClient(Client& client) {
  // Clients are not expected to talk; reading tells us when they hang up.
  char discard[4096];
  while (!client.dropped) {
    ssize_t n = recv(client.fd, discard, sizeof(discard), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) {
      DropClient(client, "disconnected");
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      DropClient(client, absl::StrCat("read failed: ", ErrnoText(errno)));
    }
    return;
  }
}

void TextServer::DropClient(Client& client, const std::string& why) {
  if (client.dropped) return;
  LOG(INFO) << "client " << client.peer << " dropped: " << why
            << (client.QueuedBytes() > 0
                    ? absl::StrCat(" (", client.QueuedBytes(), " bytes undelivered)")
                    : "");
  client.dropped = true;
  CloseFd(&client.fd);
}

void TextServer::DropStalledClients(int64_t now_ms, int* timeout_ms) {
  if (options_.slow_client_timeout_ms <= 0) return;
  for (auto& client : clients_) {
    if (client->dropped || client->QueuedBytes() == 0) continue;
    const int64_t deadline = client->last_progress_ms + options_.slow_client_timeout_ms;
    if (now_ms >= deadline) {
      DropClient(*client, absl::StrCat("no progress for ", options_.slow_client_timeout_ms, " ms"));
    } else {
      ShortenTimeout(timeout_ms, deadline - now_ms);
    }
  }
}

void TextServer::RemoveDroppedClients() {
  clients_.erase(std::remove_if(clients_.begin(), clients_.end(),
                                [](const std::unique_ptr<Client>& c) { return c->dropped; }),
                 clients_.end());
  num_clients_.store(static_cast<int>(clients_.size()));
}

void TextServer::CloseAll() {
  for (auto& client : clients_) CloseFd(&client->fd);
  clients_.clear();
  num_clients_.store(0);
  CloseFd(&listen_fd_);
}

absl::Status TextServer::Run() {
  if (ran_) return absl::FailedPreconditionError("TextServer::Run called twice");
  ran_ = true;
  if (options_.wait_for_clients > 0) {
    LOG(INFO) << "waiting for " << options_.wait_for_clients << " client(s) before sending";
  } else {
    pacer_.Start(MonotonicMs());
  }
  absl::Status result;
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    int64_t now = MonotonicMs();
    Turn turn;
    if (!pacer_.started() && static_cast<int>(clients_.size()) >= options_.wait_for_clients) {
      LOG(INFO) << clients_.size() << " client(s) connected; sending";
      pacer_.Start(now);
    }
    if (pacer_.started() && !source_done_) {
      result = Produce(now, &turn);
      if (!result.ok()) break;
      if (source_done_) {
        LOG(INFO) << "source ended after " << lines_taken_.load() << " lines ("
                  << lines_sent_.load() << " sent to clients)";
      }
    }
    for (auto& client : clients_) FlushClient(*client, now);
    if (!record_buffer_.empty()) {
      result = WriteAll(record_fd_, record_buffer_);
      if (!result.ok()) {
        result = absl::Status(result.code(), absl::StrCat("record file: ", result.message()));
        break;
      }
      record_buffer_.clear();
    }
    DropStalledClients(now, &turn.timeout_ms);
    RemoveDroppedClients();
    // Produce stopped for a full queue, but the flush or a drop since has made room: polling
    // now would wait for an event that may never come.
    if (turn.held_back && !Backpressured()) turn.timeout_ms = 0;
    if (source_done_ && options_.exit_when_source_ends && !HasQueuedOutput()) break;

    fds.clear();
    fds.push_back({wake_read_fd_, POLLIN, 0});
    const bool accepting = now >= accept_paused_until_ms_;
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    if (!accepting) ShortenTimeout(&turn.timeout_ms, accept_paused_until_ms_ - now);
    fds.push_back({turn.wait_on_source ? source_->ReadyFd() : -1, POLLIN, 0});
    constexpr size_t kFirstClient = 3;
    for (const auto& client : clients_) {
      short events = POLLIN;
      if (client->QueuedBytes() > 0) events |= POLLOUT;
      fds.push_back({client->fd, events, 0});
    }
    if (poll(fds.data(), fds.size(), turn.timeout_ms) < 0) {
      if (errno == EINTR) continue;
      result = ErrnoStatus("poll", errno);
      break;
    }
    now = MonotonicMs();
    if (fds[0].revents != 0) {
      char drain[64];
      while (read(wake_read_fd_, drain, sizeof(drain)) > 0) {
      }
    }
    for (size_t i = 0; i < clients_.size(); ++i) {
      const short revents = fds[kFirstClient + i].revents;
      Client& client = *clients_[i];
      if (revents & (POLLIN | POLLHUP | POLLERR)) ReadFromClient(client);
      if (revents & (POLLOUT | POLLERR)) FlushClient(client, now);
      if ((revents & POLLNVAL) != 0) DropClient(client, "invalid descriptor");
    }
    RemoveDroppedClients();
    if (fds[1].revents & POLLIN) AcceptClients(now);
  }
  if (stop_.load()) LOG(INFO) << "stopping";
  if (!record_buffer_.empty() && result.ok()) {
    // Lines already handed to clients are part of the record even when stopping.
    absl::Status recorded = WriteAll(record_fd_, record_buffer_);
    if (!recorded.ok()) result = recorded;
    record_buffer_.clear();
  }
  CloseAll();
  return result;
}

}  // namespace tools
}  // namespace ember
