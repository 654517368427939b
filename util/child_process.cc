#include "util/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ember {
namespace internal {

namespace {

void CloseQuietly(int fd) {
  if (fd >= 0) close(fd);
}

bool WriteAll(int fd, const std::string& data) {
  size_t at = 0;
  while (at < data.size()) {
    ssize_t n = write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // the child exited without reading (EPIPE)
    at += static_cast<size_t>(n);
  }
  return true;
}

// In the child, between fork and exec: system calls only (the parent has other threads,
// whose locks a fork copies in whatever state they were).
[[noreturn]] void ExecChild(char* const* argv, pid_t parent, int stdin_fd, int stdout_fd,
                            int64_t memory_limit) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);  // the parent died before the line above
  if (dup2(stdin_fd, 0) < 0) _exit(126);
  if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0) _exit(126);
  // Descriptors the parent opened without O_CLOEXEC (RocksDB's files, sockets) stay its own.
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (memory_limit > 0) {
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(memory_limit);
    if (setrlimit(RLIMIT_DATA, &limit) != 0) _exit(126);
  }
  execv(argv[0], argv);
  _exit(127);
}

}  // namespace

sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

std::string ReadStandardInput() {
  std::string input;
  char buffer[65536];
  while (true) {
    ssize_t n = read(0, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    input.append(buffer, static_cast<size_t>(n));
  }
  return input;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

std::string ExitStatus::ToString() const {
  if (signal != 0) return absl::StrCat("killed by signal ", signal, " (", SignalName(signal), ")");
  return absl::StrCat("exited with code ", code);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(Options options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("no program to start");
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (options.on_stdout && pipe2(out, O_CLOEXEC) != 0) {
    CloseQuietly(in[0]);
    CloseQuietly(in[1]);
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess(std::move(options)));
  ChildProcess* self = child.get();
  absl::Mutex started_mu;
  bool started = false;
  int fork_errno = 0;
  self->watcher_ = std::thread([&, self, in, out] {
    // Writing to a child that died must not kill this process: SIGPIPE is blocked on this
    // thread only (the write fails with EPIPE); the child starts with an empty mask.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    std::vector<char*> argv;
    for (auto& a : self->options_.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
      ExecChild(argv.data(), parent, in[0], out[0] >= 0 ? out[1] : -1,
                self->options_.memory_limit_bytes);
    int saved = errno;
    CloseQuietly(in[0]);
    CloseQuietly(out[1]);
    {
      absl::MutexLock lock(&started_mu);
      self->pid_ = pid;
      fork_errno = pid < 0 ? saved : 0;
      started = true;
    }
    // From here `started_mu` and friends may be gone: Start has returned.
    if (pid < 0) {
      CloseQuietly(in[1]);
      CloseQuietly(out[0]);
      return;
    }
    self->Watch(in[1], out[0]);
  });
  {
    absl::MutexLock lock(&started_mu);
    started_mu.Await(absl::Condition(&started));
  }
  if (self->pid_ < 0) {
    self->watcher_.join();
    return absl::UnavailableError(absl::StrCat("cannot start ", self->options_.argv[0],
                                               ": fork: ", std::strerror(fork_errno)));
  }
  return child;
}

void ChildProcess::Watch(int stdin_fd, int stdout_fd) {
  if (stdout_fd >= 0) {
    reader_ = std::thread([this, stdout_fd] {
      char buffer[16384];
      while (true) {
        ssize_t n = read(stdout_fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        options_.on_stdout(std::string_view(buffer, static_cast<size_t>(n)));
      }
      close(stdout_fd);
    });
  }
  WriteAll(stdin_fd, options_.input);
  close(stdin_fd);
  // Waited for without reaping: until `exited_` is set the pid stays the child's (a zombie
  // at worst), so Signal never reaches a process that reused it.
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  ExitStatus status;
  if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
    status.signal = info.si_status;
  } else {
    status.code = info.si_status;
  }
  // Its last output, before its end is announced.
  if (reader_.joinable()) reader_.join();
  {
    absl::MutexLock lock(&mu_);
    exited_ = true;
    status_ = status;
  }
  int raw = 0;
  while (waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
  }
  if (options_.on_exit) options_.on_exit(status);
}

ChildProcess::~ChildProcess() {
  Signal(SIGKILL);
  if (watcher_.joinable()) watcher_.join();
}

void ChildProcess::Signal(int signal) {
  // Under the lock, so that the pid cannot have been reaped (and reused) meanwhile.
  absl::MutexLock lock(&mu_);
  if (!exited_ && pid_ > 0) kill(pid_, signal);
}

bool ChildProcess::exited() const {
  absl::MutexLock lock(&mu_);
  return exited_;
}

bool ChildProcess::WaitFor(absl::Duration timeout, ExitStatus* status) const {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(&exited_), timeout)) return false;
  if (status != nullptr) *status = status_;
  return true;
}

}  // namespace internal
}  // namespace ember
