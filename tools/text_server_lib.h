#pragma once
// The reusable half of ember-textserver: a TCP server that broadcasts lines of text to every
// connected client, the way `nc -lk` feeds Spark's socketTextStream, plus the line sources it
// reads from (a file descriptor such as stdin, a file, a seeded random-text generator) and the
// pacing that spreads lines over time.
//
// A TextServer's life:
//
//   Create() ──> listening ──Run()──> waiting for N clients ──N connected──> sending
//                    │                         │                              │
//                    │                         │                   source ends│
//                    │                         │                              v
//                    │                         │                  idle (keeps serving; or,
//                    │                         │                  with exit_when_source_ends,
//                    │                         │                  drain clients and return)
//                    └──────── Stop() from any state: close listener and clients, return ──┘
//
// Flow control: a line is taken from the source only while every client has less than
// `client_high_watermark_bytes` queued, so "as fast as possible" means as fast as the slowest
// client reads and a test's receiver never misses a line. A client whose queue makes no
// progress for `slow_client_timeout_ms`, or whose socket fails, is dropped so it cannot hold
// the others back.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ember {
namespace tools {

// CLOCK_MONOTONIC in milliseconds: comparable across processes on the same machine, so a
// receiver can match a --record file's timestamps against its own.
int64_t MonotonicMs();

// Deterministic random text: lines of `words_per_line` words drawn uniformly from the
// vocabulary "w0" .. "w<vocabulary-1>". The same seed yields the same lines on every run and
// every platform (its own SplitMix64 generator; no std:: distribution, whose output varies
// between standard libraries). Not thread-safe.
class TextGenerator {
 public:
  struct Options {
    uint64_t seed = 0;
    int words_per_line = 10;  // >= 1
    int vocabulary = 1000;    // >= 1
  };

  explicit TextGenerator(const Options& options);

  // The next line, without a trailing newline.
  std::string NextLine();

 private:
  uint64_t NextRandom();
  uint64_t Uniform(uint64_t n);  // in [0, n), without modulo bias

  Options options_;
  uint64_t state_;
};

// Spreads lines evenly at `lines_per_second` from the moment sending starts. Line i is due at
// start + i * 1000 / rate, computed from the start rather than from the previous line so that
// rounding never accumulates into drift. Not thread-safe.
class RatePacer {
 public:
  // lines_per_second <= 0 means unpaced: every line is due at once.
  explicit RatePacer(double lines_per_second);

  void Start(int64_t now_ms);
  bool started() const { return started_; }

  // Monotonic ms at which line `index` (0-based, counted from Start) may be sent.
  int64_t DueMs(int64_t index) const;

 private:
  double lines_per_second_;
  bool started_ = false;
  int64_t start_ms_ = 0;
};

// Where the server's lines come from. Called only from the thread running TextServer::Run.
class LineSource {
 public:
  enum class Fetch {
    kLine,      // *line holds the next line, without its newline
    kNotReady,  // nothing yet; poll ReadyFd() for POLLIN and ask again
    kEnd,       // no more lines, ever
  };

  virtual ~LineSource() = default;

  // Never blocks. An error (a failed read) ends the server's Run with that status.
  virtual absl::StatusOr<Fetch> Next(std::string* line) = 0;

  // The descriptor to wait on after kNotReady; -1 for sources that are never kNotReady.
  virtual int ReadyFd() const { return -1; }
};

// Lines read from a descriptor that may block, such as stdin or a pipe. A final line without
// a newline is still delivered at EOF. Does not own the descriptor and leaves its flags alone
// (stdin's O_NONBLOCK would be shared with the parent shell): it reads only after a zero-timeout
// poll says the descriptor is readable.
class FdLineSource : public LineSource {
 public:
  explicit FdLineSource(int fd) : fd_(fd) {}

  absl::StatusOr<Fetch> Next(std::string* line) override;
  int ReadyFd() const override { return fd_; }

 private:
  int fd_;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ known to hold no newline
  bool eof_ = false;
};

// A file's lines, once or (loop) over and over. An empty file ends even with loop.
class FileLineSource : public LineSource {
 public:
  static absl::StatusOr<std::unique_ptr<FileLineSource>> Open(const std::string& path, bool loop);

  absl::StatusOr<Fetch> Next(std::string* line) override;

 private:
  FileLineSource(std::string path, bool loop) : path_(std::move(path)), loop_(loop) {}

  std::string path_;
  bool loop_;
  std::ifstream in_;
  int64_t lines_this_pass_ = 0;
};

// An endless TextGenerator (TextServer::Options::max_lines bounds it).
class GeneratedLineSource : public LineSource {
 public:
  explicit GeneratedLineSource(const TextGenerator::Options& options) : generator_(options) {}

  absl::StatusOr<Fetch> Next(std::string* line) override;

 private:
  TextGenerator generator_;
};

// Run() belongs to one thread, which owns every socket, the source and the record file; the
// other public methods may be called from any thread, and Stop() from a signal handler.
class TextServer {
 public:
  struct Options {
    std::string bind_host = "127.0.0.1";  // numeric address or host name
    int port = 9999;                      // 0: the OS picks one; see port()
    // Take no line from the source until this many clients are connected at once. Later
    // disconnects do not close the gate again.
    int wait_for_clients = 0;
    double lines_per_second = 0;  // 0: as fast as the clients read
    int64_t max_lines = 0;        // take at most this many lines from the source; 0: no limit
    // When the source ends (or max_lines is reached), deliver what is queued, close the clients
    // and return from Run. Otherwise keep accepting and serving until Stop().
    bool exit_when_source_ends = false;
    // Appends "<MonotonicMs()>\t<line>\n" for every line handed to at least one client.
    std::string record_path;
    int64_t slow_client_timeout_ms = 10000;  // 0: never drop a client for being slow
    size_t client_high_watermark_bytes = size_t{64} * 1024;
  };

  // Binds and listens (so port() is known before Run) and opens the record file.
  static absl::StatusOr<std::unique_ptr<TextServer>> Create(const Options& options,
                                                            std::unique_ptr<LineSource> source);
  ~TextServer();

  TextServer(const TextServer&) = delete;
  TextServer& operator=(const TextServer&) = delete;

  // Serves until Stop(), or until the source ends if exit_when_source_ends. Returns OK then;
  // an error only for a failing source or record file. Call at most once.
  absl::Status Run();

  // Makes Run return soon, closing the listener and every client. Async-signal-safe.
  void Stop();

  int port() const { return port_; }
  // "HOST:PORT" as bound, numeric ("[::1]:PORT" for IPv6).
  const std::string& address() const { return address_; }

  int NumClients() const { return num_clients_.load(); }
  // Lines taken from the source (including any sent while no client was connected).
  int64_t LinesTaken() const { return lines_taken_.load(); }
  // Lines handed to at least one client: those the record file lists.
  int64_t LinesSent() const { return lines_sent_.load(); }

 private:
  struct Client;

  TextServer(const Options& options, std::unique_ptr<LineSource> source);
  absl::Status Listen();

  // What one turn of Run's loop learned about when to look again.
  struct Turn {
    int timeout_ms = -1;          // poll timeout; -1 waits for an event
    bool wait_on_source = false;  // the source said kNotReady: poll its ReadyFd()
    bool held_back = false;       // a client's full queue stopped Produce
  };

  // Takes due lines from the source while flow control allows, and records in *turn why it
  // stopped; sets source_done_ at the source's end.
  absl::Status Produce(int64_t now_ms, Turn* turn);
  absl::Status Broadcast(const std::string& line, int64_t now_ms);
  bool Backpressured() const;
  bool HasQueuedOutput() const;
  void FlushClient(Client& client, int64_t now_ms);
  void AcceptClients(int64_t now_ms);
  void ReadFromClient(Client& client);
  void DropClient(Client& client, const std::string& why);
  // A client whose queue made no progress for slow_client_timeout_ms holds everyone back: it
  // goes. Lowers *timeout_ms to the next such deadline.
  void DropStalledClients(int64_t now_ms, int* timeout_ms);
  void RemoveDroppedClients();
  void CloseAll();

  const Options options_;
  std::unique_ptr<LineSource> source_;
  RatePacer pacer_;
  int listen_fd_ = -1;
  int wake_read_fd_ = -1;
  int wake_write_fd_ = -1;
  int record_fd_ = -1;
  int port_ = 0;
  std::string address_;
  bool ran_ = false;
  bool source_done_ = false;
  int64_t accept_paused_until_ms_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;
  std::string record_buffer_;

  std::atomic<bool> stop_{false};
  std::atomic<int> num_clients_{0};
  std::atomic<int64_t> lines_taken_{0};
  std::atomic<int64_t> lines_sent_{0};
};

}  // namespace tools
}  // namespace ember
