#pragma once
// Multi-process cluster tests' harness: an ember-driver and executors on 127.0.0.1 with
// OS-chosen ports, killed and restarted for real, and polling with deadlines.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
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

// A driver's Status and KillJob, with the cluster secret.
inline grpc::Status DriverStatus(proto::Driver::Stub& stub, const std::string& secret,
                                 const std::string& app, proto::StatusReply* reply) {
  grpc::ClientContext call;
  rpc::AddSecret(&call, secret);
  call.set_deadline(std::chrono::system_clock::now() + 5s);
  proto::StatusRequest request;
  request.set_app_id(app);
  return stub.Status(&call, request, reply);
}
// Kills `app`; a kill is idempotent, so a call the channel could not carry (UNAVAILABLE: a
// connection the driver dropped, after its restart, say) is made again, up to 3 times.
inline grpc::Status KillApp(proto::Driver::Stub& stub, const std::string& secret,
                            const std::string& app) {
  grpc::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext call;
    // A try again waits (within the deadline) for the channel to connect again.
    call.set_wait_for_ready(attempt > 0);
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 60s);
    proto::KillJobRequest request;
    request.set_app_id(app);
    proto::KillJobReply reply;
    s = stub.KillJob(&call, request, &reply);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return s;
  }
  return s;
}

class Cluster {
 public:
  // `all_args` go to the driver, every executor and every ember-submit (TLS flags, say);
  // `env` (NAME=VALUE) is the daemons' environment on top of the test's.
  Cluster(const std::string& dir, int executors, std::vector<std::string> driver_args = {},
          const std::string& secret_file = "", std::vector<std::string> all_args = {},
          std::vector<std::string> env = {})
      : dir_(dir), secret_file_(secret_file), all_args_(std::move(all_args)) {
    if (!env.empty()) {
      launcher_ = {"/usr/bin/env"};
      launcher_.insert(launcher_.end(), env.begin(), env.end());
    }
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
    argv.insert(argv.end(), all_args_.begin(), all_args_.end());
    argv.insert(argv.begin(), launcher_.begin(), launcher_.end());
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
    argv[launcher_.size() + 2] = PortOf(address_);
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
    argv.insert(argv.end(), all_args_.begin(), all_args_.end());
    argv.insert(argv.begin(), launcher_.begin(), launcher_.end());
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
    return DriverStatus(*stub_, secret_, app, reply);
  }

  grpc::Status Kill(const std::string& app) { return KillApp(*stub_, secret_, app); }

  // The id of the executor running `app`'s active receiver; empty while none runs.
  std::string ReceiverExecutor(const std::string& app) {
    proto::StatusReply reply;
    if (!Status(app, &reply).ok() || reply.apps_size() != 1) return "";
    for (const auto& r : reply.apps(0).receivers()) {
      if (r.active()) return r.executor_id();
    }
    return "";
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
    argv.insert(argv.end(), all_args_.begin(), all_args_.end());
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }

  const std::string& address() const { return address_; }
  Subprocess& driver() { return *driver_; }

 private:
  std::string dir_, secret_file_, secret_, address_;
  std::vector<std::string> all_args_;
  std::vector<std::string> launcher_;  // /usr/bin/env NAME=VALUE..., or nothing
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

// What examples/libnetwork_word_count.so counts.
inline const std::string kLine = "to be or not to be that is the question";

// print()'s output: per batch, the counts of the words of the lines received. Fails the test
// on a line that is neither a header nor a record.
inline std::vector<std::map<std::string, int>> ParseCounts(const std::string& out) {
  std::vector<std::map<std::string, int>> batches;
  std::istringstream in(out);
  std::string line;
  static const std::regex kRecord(R"(\((.*),(\d+)\))");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("Time: ", 0) == 0) {
      batches.emplace_back();
    } else if (std::regex_match(line, m, kRecord)) {
      if (batches.empty())
        ADD_FAILURE() << "record before a batch header: " << line;
      else
        batches.back()[m[1]] += std::stoi(m[2]);
    } else if (!line.empty() && line != std::string(43, '-')) {
      ADD_FAILURE() << "unexpected output line: " << line;
    }
  }
  return batches;
}

// The number of whole `kLine`s a batch's counts make; -1 when they are not whole lines (a
// block read twice or half).
inline int WholeLines(const std::map<std::string, int>& counts) {
  if (counts.empty()) return 0;
  int n = counts.count("or") ? counts.at("or") : 0;
  std::map<std::string, int> expected = {{"to", 2 * n}, {"be", 2 * n}, {"or", n},  {"not", n},
                                         {"that", n},   {"is", n},     {"the", n}, {"question", n}};
  return counts == expected ? n : -1;
}

// Every number in the part files of the batches saved under DIR/NAME-TIME.
inline std::multiset<int64_t> SavedNumbers(const std::string& dir, const std::string& name) {
  std::multiset<int64_t> out;
  std::error_code ec;
  for (const auto& batch : std::filesystem::directory_iterator(dir, ec)) {
    std::string b = batch.path().filename().string();
    if (b.rfind(name + "-", 0) != 0 || !batch.is_directory()) continue;
    for (const auto& part : std::filesystem::directory_iterator(batch.path(), ec)) {
      if (part.path().filename().string().rfind("part-", 0) != 0) continue;
      std::ifstream in(part.path());
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.insert(std::stoll(line));
      }
    }
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
