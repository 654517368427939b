#pragma once
// A child process that this one starts and watches: the daemons run job code in children
// (README, "Processes"), so that a job's segfault, abort or runaway allocation ends the child
// and never the daemon.
//
// One thread per child forks it and then waits for it. The child asks for SIGKILL when that
// thread ends (PR_SET_PDEATHSIG is tied to the forking thread, not the process), so a child
// never outlives its parent, kill -9 of the parent included. Between fork and exec the child
// only makes system calls: it closes every inherited descriptor but its three standard ones,
// unblocks the signals the daemons block for sigwait, and sets its memory limit.
//
// Thread-safe. The destructor kills a child still running (SIGKILL) and waits for it.

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ember {
namespace internal {

// How a child ended.
struct ExitStatus {
  int code = 0;    // its exit code, when it exited
  int signal = 0;  // the signal that killed it, or 0
  bool crashed() const { return signal != 0; }
  // "exited with code 3", "killed by signal 11 (SIGSEGV)".
  std::string ToString() const;
};

// "SIGSEGV" for 11; "signal N" for a number without a name.
std::string SignalName(int signal);

// For a daemon's or a child's main: blocks SIGTERM and SIGINT in this thread (call it before
// any other thread starts, which inherits the mask) and returns them, for sigwait.
sigset_t BlockTerminationSignals();
// For a child's main: its standard input, whole (the launch its parent wrote).
std::string ReadStandardInput();

class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;  // argv[0] is the program's path
    std::string input;              // written to its standard input, which is then closed
    // Its standard output, as it comes; null: the child writes to this process's stdout.
    std::function<void(std::string_view)> on_stdout;
    // Its standard error goes to this process's (the daemon's log).
    // setrlimit(RLIMIT_DATA): its heap and other writable private memory; 0 for no limit.
    int64_t memory_limit_bytes = 0;
    // Called once, on the watching thread, after the child has ended and its output is read;
    // WaitFor may return before it has run (the destructor waits for it).
    std::function<void(const ExitStatus&)> on_exit;
  };

  // Unavailable when the child cannot be started (fork or pipe failed, no such program: the
  // latter shows as an exit with code 127).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(Options options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` while the child runs (never to a reaped pid).
  void Signal(int signal);
  bool exited() const;
  // Waits up to `timeout` for the end: false while it still runs.
  bool WaitFor(absl::Duration timeout, ExitStatus* status = nullptr) const;

 private:
  explicit ChildProcess(Options options) : options_(std::move(options)) {}
  void Watch(int stdin_fd, int stdout_fd);

  Options options_;
  pid_t pid_ = -1;
  std::thread watcher_;
  std::thread reader_;
  mutable absl::Mutex mu_;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  ExitStatus status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
