#pragma once
// Multi-process cluster tests' harness: an ember-driver and executors on 127.0.0.1 with
// OS-chosen ports, killed and restarted for real, and polling with deadlines.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "proto/cluster.grpc.pb.h"
#include "rpc/rpc.h"
#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace clustertest {

using testing::MakeTempDir;
using testing::Subprocess;
using namespace std::chrono_literals;

// Polls `ready` (cheap: a file or an RPC) until it holds or the deadline passes.
inline bool Eventually(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  return testing::WaitForCondition(ready, timeout, 50ms);
}

using testing::ListeningAddress;

inline std::string PortOf(const std::string& address) {
  return address.substr(address.rfind(':') + 1);
}

class Cluster {
 public:
  Cluster(const std::string& dir, int executors, std::vector<std::string> driver_args = {},
          const std::string& secret_file = "")
      : dir_(dir), secret_file_(secret_file) {
    std::vector<std::string> argv = {
        "driver/ember-driver", "--port", "0",
        "--ui-port",           "0",      "--work-dir",
        dir + "/driver-work",  "--conf", "ember.executor.heartbeatTimeout=3s"};
    if (!secret_file.empty()) {
      argv.push_back("--secret-file");
      argv.push_back(secret_file);
      secret_ = testing::ReadFile(secret_file);
      secret_.erase(secret_.find_last_not_of("\n") + 1);
    }
    argv.insert(argv.end(), driver_args.begin(), driver_args.end());
    driver_argv_ = argv;
    driver_ = std::make_unique<Subprocess>(argv, dir, "driver");
    EXPECT_TRUE(driver_->WaitForOutput("listening on", 20s)) << driver_->Stderr();
    address_ = ListeningAddress(*driver_);
    stub_ = proto::Driver::NewStub(rpc::MakeChannel(address_));
    for (int i = 0; i < executors; ++i) AddExecutor();
  }

  // kill -9 of the driver, and a new one on the same port and work directory.
  void RestartDriver() {
    KillDriver();
    StartDriverAgain();
  }
  void KillDriver() {
    driver_->Kill(SIGKILL);
    driver_->Wait(10s);
  }
  void StartDriverAgain() {
    std::vector<std::string> argv = driver_argv_;
    argv[2] = PortOf(address_);
    driver_ = std::make_unique<Subprocess>(argv, dir_, "driver" + std::to_string(++restarts_));
    EXPECT_TRUE(driver_->WaitForOutput("listening on", 20s)) << driver_->Stderr();
  }

  Subprocess& AddExecutor() {
    int i = static_cast<int>(executors_.size());
    std::vector<std::string> argv = {
        "executor/ember-executor",          "--driver", address_, "--port", "0", "--data-dir",
        dir_ + "/exec" + std::to_string(i), "--slots",  "2"};
    if (!secret_file_.empty()) {
      argv.push_back("--secret-file");
      argv.push_back(secret_file_);
    }
    executors_.push_back(std::make_unique<Subprocess>(argv, dir_, "executor" + std::to_string(i)));
    EXPECT_TRUE(executors_.back()->WaitForOutput("listening on", 20s))
        << executors_.back()->Stderr();
    return *executors_.back();
  }

  // The live executors the driver knows, by address.
  std::map<std::string, proto::ExecutorInfo> LiveExecutors() {
    std::map<std::string, proto::ExecutorInfo> out;
    proto::StatusReply reply;
    if (!Status("", &reply).ok()) return out;
    for (const auto& e : reply.executors()) {
      if (e.alive()) out[e.address()] = e;
    }
    return out;
  }

  bool WaitForExecutors(size_t n) {
    return Eventually([&] { return LiveExecutors().size() == n; }, 30s);
  }

  grpc::Status Status(const std::string& app, proto::StatusReply* reply) {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret_);
    call.set_deadline(std::chrono::system_clock::now() + 5s);
    proto::StatusRequest request;
    request.set_app_id(app);
    return stub_->Status(&call, request, reply);
  }

  grpc::Status Kill(const std::string& app) {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret_);
    call.set_deadline(std::chrono::system_clock::now() + 60s);
    proto::KillJobRequest request;
    request.set_app_id(app);
    proto::KillJobReply reply;
    return stub_->KillJob(&call, request, &reply);
  }

  // The executor process whose address is `address`.
  Subprocess* ExecutorAt(const std::string& address) {
    for (auto& e : executors_) {
      if (ListeningAddress(*e) == address) return e.get();
    }
    return nullptr;
  }

  std::vector<std::string> Submit(const std::vector<std::string>& rest) {
    std::vector<std::string> argv = {"tools/ember-submit", "--master", "ember://" + address_};
    if (!secret_file_.empty()) {
      argv.push_back("--secret-file");
      argv.push_back(secret_file_);
    }
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }

  const std::string& address() const { return address_; }
  Subprocess& driver() { return *driver_; }

 private:
  std::string dir_, secret_file_, secret_, address_;
  std::vector<std::string> driver_argv_;
  int restarts_ = 0;
  std::unique_ptr<Subprocess> driver_;
  std::vector<std::unique_ptr<Subprocess>> executors_;
  std::unique_ptr<proto::Driver::Stub> stub_;
};

// What tests/jobs/shuffle_sum.cc prints for batch i of n numbers.
struct Expected {
  int64_t total = 0;
  int64_t digest = 0;
};
inline Expected ShuffleSum(int64_t i, int64_t n) {
  std::map<int64_t, int64_t> by101, by7;
  for (int64_t x = i * n; x < (i + 1) * n; ++x) by101[x % 101] += x;
  for (const auto& [k, s] : by101) by7[k % 7] += s;
  Expected e;
  for (const auto& [g, s] : by7) {
    e.total += s;
    e.digest = (e.digest + (g + 1) * (s % 1000000007)) % 1000000007;
  }
  return e;
}
inline std::string ShuffleSumLines(int batches, int64_t n) {
  std::string out;
  for (int i = 0; i < batches; ++i) {
    Expected e = ShuffleSum(i, n);
    out += "result total=" + std::to_string(e.total) +
           " groups=7 digest=" + std::to_string(e.digest) + "\n";
  }
  return out;
}

inline std::string AppIdIn(const std::string& text) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(R"((app-\d{14}-\d{4}))"))) return "";
  return m[1];
}

}  // namespace clustertest
}  // namespace ember
