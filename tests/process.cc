#include "tests/process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/wait.h"

namespace ember {
namespace testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

Subprocess::Subprocess(const std::vector<std::string>& argv, const std::string& dir,
                       const std::string& name)
    : out_path_(dir + "/" + name + ".out"), err_path_(dir + "/" + name + ".err") {
  int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out, 1);
    dup2(err, 2);
    // The child dies with the test process, whatever happens to the test.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out);
  close(err);
}

Subprocess::~Subprocess() {
  if (running()) Kill(SIGKILL);
  Wait(std::chrono::seconds(10));
}

std::string Subprocess::Stdout() const { return ReadFile(out_path_); }
std::string Subprocess::Stderr() const { return ReadFile(err_path_); }

bool Subprocess::running() {
  if (exited_ || pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    status_ = status;
    return false;
  }
  return true;
}

bool Subprocess::WaitForOutput(const std::string& text, std::chrono::milliseconds timeout,
                               bool in_stderr) {
  auto found = [&] { return (in_stderr ? Stderr() : Stdout()).find(text) != std::string::npos; };
  // A process that exited prints nothing more: stop waiting then.
  WaitForCondition([&] { return !running() || found(); }, timeout, std::chrono::milliseconds(20));
  return found();
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (!WaitForCondition([&] { return !running(); }, timeout, std::chrono::milliseconds(10))) {
    return -1000;
  }
  if (pid_ <= 0) return -1000;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -1000;
}

void Subprocess::Kill(int signal) {
  if (running()) ::kill(pid_, signal);
}

std::string MakeTestCertificates(const std::string& dir, const std::string& name) {
  std::string p = dir + "/" + name;
  std::ofstream(p + ".ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth,clientAuth\n";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string steps[] = {
      "openssl req -x509" + ec + " -keyout " + p + "-ca.key -out " + p +
          "-ca.pem -days 2 -subj '/CN=" + name + " test CA'",
      "openssl req" + ec + " -keyout " + p + ".key -out " + p + ".csr -subj '/CN=" + name + "'",
      "openssl x509 -req -in " + p + ".csr -CA " + p + "-ca.pem -CAkey " + p +
          "-ca.key -CAcreateserial -out " + p + ".pem -days 2 -extfile " + p + ".ext",
  };
  for (const auto& step : steps) {
    if (std::system((step + " >" + p + ".log 2>&1").c_str()) != 0) {
      return step + "\n" + ReadFile(p + ".log");
    }
  }
  return "";
}

std::string ListeningAddress(const Subprocess& p) {
  std::smatch m;
  std::string out = p.Stdout();
  if (!std::regex_search(out, m, std::regex(R"(listening on (\S+:\d+))"))) return "";
  return m[1];
}

}  // namespace testing
}  // namespace ember
