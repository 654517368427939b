#pragma once
// Test support: an executor the driver reaches over real gRPC, in the test's process. It listens
// on 127.0.0.1 (a port the system picks), replies to RunTask as the test scripts, answers every
// other call with OK, and records what the driver sent. Thread-safe.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "driver/executor_registry.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace testing {

// An executor registry whose executors are never lost for silence: tests lose them by hand.
inline internal::ExecutorRegistry::Options NoHeartbeatTimeout() {
  internal::ExecutorRegistry::Options o;
  o.heartbeat_timeout = absl::Hours(1);
  return o;
}

class FakeExecutor final : public proto::Executor::Service {
 public:
  // The reply to one task; by default an empty result.
  using TaskHandler =
      std::function<grpc::Status(const proto::RunTaskRequest&, proto::RunTaskReply*)>;

  explicit FakeExecutor(TaskHandler on_task = nullptr) : on_task_(std::move(on_task)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (server_ != nullptr && port > 0) address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~FakeExecutor() override { Shutdown(); }

  // Empty when the server could not start.
  const std::string& address() const { return address_; }

  // Stops listening: later calls from the driver find nobody (UNAVAILABLE).
  void Shutdown() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }

  void SetTaskHandler(TaskHandler on_task) {
    absl::MutexLock lock(&mu_);
    on_task_ = std::move(on_task);
  }

  std::vector<proto::RunTaskRequest> tasks() const {
    absl::MutexLock lock(&mu_);
    return tasks_;
  }
  std::vector<proto::RemoveBlocksRequest> removals() const {
    absl::MutexLock lock(&mu_);
    return removals_;
  }
  std::vector<proto::CleanupRequest> cleanups() const {
    absl::MutexLock lock(&mu_);
    return cleanups_;
  }
  std::vector<proto::StartReceiverRequest> receiver_starts() const {
    absl::MutexLock lock(&mu_);
    return receiver_starts_;
  }
  std::vector<proto::StopReceiverRequest> receiver_stops() const {
    absl::MutexLock lock(&mu_);
    return receiver_stops_;
  }
  std::vector<proto::UpdateReceiverRateRequest> rate_updates() const {
    absl::MutexLock lock(&mu_);
    return rate_updates_;
  }

  grpc::Status RunTask(grpc::ServerContext*, const proto::RunTaskRequest* request,
                       proto::RunTaskReply* reply) override {
    TaskHandler on_task;
    {
      absl::MutexLock lock(&mu_);
      tasks_.push_back(*request);
      on_task = on_task_;
    }
    return on_task ? on_task(*request, reply) : grpc::Status::OK;
  }
  grpc::Status StartReceiver(grpc::ServerContext*, const proto::StartReceiverRequest* request,
                             proto::StartReceiverReply*) override {
    absl::MutexLock lock(&mu_);
    receiver_starts_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status StopReceiver(grpc::ServerContext*, const proto::StopReceiverRequest* request,
                            proto::StopReceiverReply*) override {
    absl::MutexLock lock(&mu_);
    receiver_stops_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status UpdateReceiverRate(grpc::ServerContext*,
                                  const proto::UpdateReceiverRateRequest* request,
                                  proto::UpdateReceiverRateReply*) override {
    absl::MutexLock lock(&mu_);
    rate_updates_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status RemoveBlocks(grpc::ServerContext*, const proto::RemoveBlocksRequest* request,
                            proto::RemoveBlocksReply*) override {
    absl::MutexLock lock(&mu_);
    removals_.push_back(*request);
    return grpc::Status::OK;
  }
  grpc::Status Cleanup(grpc::ServerContext*, const proto::CleanupRequest* request,
                       proto::CleanupReply*) override {
    absl::MutexLock lock(&mu_);
    cleanups_.push_back(*request);
    return grpc::Status::OK;
  }

 private:
  mutable absl::Mutex mu_;
  TaskHandler on_task_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::RunTaskRequest> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::RemoveBlocksRequest> removals_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::CleanupRequest> cleanups_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::StartReceiverRequest> receiver_starts_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::StopReceiverRequest> receiver_stops_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::UpdateReceiverRateRequest> rate_updates_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace testing
}  // namespace ember
