#pragma once
// How ember-executor reaches one application's work (AppHost): in the application's task
// process (TaskProcessApp, the default), or in the executor's own process (InProcessApp,
// isolation=thread: no isolation, for debugging and for comparing the layouts). The executor
// validates requests before they get here. Thread-safe.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "executor/app_host.h"
#include "proto/cluster.pb.h"

namespace ember {
namespace internal {

class AppHandle {
 public:
  virtual ~AppHandle() = default;
  // A task's failure is in the reply; so is the death of the process that ran it, named.
  virtual void RunTask(const proto::RunTaskRequest& request, proto::RunTaskReply* reply) = 0;
  virtual absl::Status StartReceiver(const proto::StartReceiverRequest& request) = 0;
  virtual void StopReceiver(const proto::StopReceiverRequest& request) = 0;
  virtual void UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request) = 0;
  // Writes this executor's chunks of the request's map outputs (AppHost::WriteShuffle); an
  // error when they could not be read at all.
  virtual absl::Status FetchShuffle(
      const proto::FetchShuffleRequest& request,
      const std::function<bool(const proto::ShuffleChunk&)>& write) = 0;
  virtual void Cleanup(const proto::CleanupRequest& request) = 0;
  virtual int receivers() const = 0;
  // Ends the application's work here: its receivers stop (reporting their last blocks) and
  // its process ends.
  virtual void Shutdown(const std::string& reason) = 0;
  // False once it cannot serve any more (its process ended): the executor starts a new one.
  virtual bool usable() const = 0;
};

// isolation=thread: the application's work in the executor's process.
class InProcessApp : public AppHandle {
 public:
  explicit InProcessApp(std::unique_ptr<AppHost> host) : host_(std::move(host)) {}
  void RunTask(const proto::RunTaskRequest& request, proto::RunTaskReply* reply) override {
    auto result = host_->RunTask(request.task());
    if (!result.ok()) return FailInReply(result.status(), reply);
    *reply->mutable_result() = std::move(*result);
  }
  absl::Status StartReceiver(const proto::StartReceiverRequest& request) override {
    return host_->StartReceiver(request);
  }
  void StopReceiver(const proto::StopReceiverRequest& request) override {
    host_->StopReceiver(request);
  }
  void UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request) override {
    host_->UpdateReceiverRate(request);
  }
  absl::Status FetchShuffle(const proto::FetchShuffleRequest& request,
                            const std::function<bool(const proto::ShuffleChunk&)>& write) override {
    host_->WriteShuffle(request, write);
    return absl::OkStatus();
  }
  void Cleanup(const proto::CleanupRequest& request) override { host_->Cleanup(request); }
  int receivers() const override { return host_->receivers(); }
  void Shutdown(const std::string& reason) override { host_->StopReceivers(reason); }
  bool usable() const override { return true; }

 private:
  std::unique_ptr<AppHost> host_;
};

}  // namespace internal
}  // namespace ember
