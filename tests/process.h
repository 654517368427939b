#pragma once
// Child processes for multi-process tests: stdout and stderr go to files the test can read
// while the child runs; the destructor kills (SIGKILL) and reaps a child still running, so a
// failing test leaves no process behind.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ember {
namespace testing {

class Subprocess {
 public:
  // Starts argv[0] with the arguments; output files live under `dir`.
  Subprocess(const std::vector<std::string>& argv, const std::string& dir, const std::string& name);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  std::string Stdout() const;
  std::string Stderr() const;
  // Waits until `text` appears in stdout (or stderr); false at the deadline or if the child
  // exits first.
  bool WaitForOutput(const std::string& text, std::chrono::milliseconds timeout,
                     bool in_stderr = false);
  // Waits for the exit; returns the exit code, -signal when killed, or nullopt-like -1000 on
  // timeout.
  int Wait(std::chrono::milliseconds timeout);
  void Kill(int signal);
  bool running();

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string out_path_, err_path_;
};

std::string MakeTempDir(const std::string& prefix);
std::string ReadFile(const std::string& path);
// The host:port a daemon printed as "listening on HOST:PORT"; empty before it has.
std::string ListeningAddress(const Subprocess& p);
// A CA and a certificate it signs for 127.0.0.1 and localhost (server and client use), made
// with openssl under `dir`: DIR/NAME-ca.pem, DIR/NAME.pem, DIR/NAME.key. Empty on success,
// else what openssl said.
std::string MakeTestCertificates(const std::string& dir, const std::string& name);

}  // namespace testing
}  // namespace ember
