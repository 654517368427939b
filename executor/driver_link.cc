#include "executor/driver_link.h"

#include <glog/logging.h>

#include <algorithm>

#include "rpc/call.h"
#include "rpc/rpc.h"

namespace ember {
namespace internal {

DriverLink::DriverLink(Options options)
    : options_(std::move(options)),
      stub_(proto::Driver::NewStub(rpc::MakeChannel(options_.driver))) {}

DriverLink::~DriverLink() { Shutdown(); }

void DriverLink::Start(const std::string& self) {
  {
    absl::MutexLock lock(&mu_);
    self_ = self;
  }
  thread_ = std::thread([this] { Loop(); });
}

std::string DriverLink::self() const {
  absl::MutexLock lock(&mu_);
  return self_;
}

void DriverLink::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::string DriverLink::executor_id() const {
  absl::MutexLock lock(&mu_);
  return executor_id_;
}

std::vector<proto::Peer> DriverLink::peers() const {
  absl::MutexLock lock(&mu_);
  return peers_;
}

bool DriverLink::Register() {
  proto::RegisterExecutorRequest request;
  request.set_address(self());
  request.set_slots(options_.slots);
  request.set_previous_id(executor_id());
  proto::RegisterExecutorReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Driver::Stub::RegisterExecutor, request, &reply,
                             {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) {
    last_error_ = s.error_code() == grpc::StatusCode::UNAUTHENTICATED
                      ? "the driver refused the secret: " + s.error_message()
                      : s.error_message();
    return false;
  }
  absl::MutexLock lock(&mu_);
  executor_id_ = reply.executor_id();
  heartbeat_interval_ms_ = std::max<int64_t>(50, reply.heartbeat_interval_ms());
  registered_ = true;
  LOG(INFO) << "registered with driver " << options_.driver << " as " << executor_id_;
  return true;
}

void DriverLink::Heartbeat() {
  proto::HeartbeatRequest request;
  if (options_.fill_heartbeat) options_.fill_heartbeat(&request);
  request.set_executor_id(executor_id());
  proto::HeartbeatReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Driver::Stub::Heartbeat, request, &reply,
                             {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) {
    ++heartbeat_failures_;
    if (heartbeat_failures_ == 1 || heartbeat_failures_ % 10 == 0) {
      LOG(WARNING) << "heartbeat to driver " << options_.driver << " failed ("
                   << heartbeat_failures_ << " in a row): " << s.error_message();
    }
    return;
  }
  heartbeat_failures_ = 0;
  if (reply.reregister()) {
    LOG(WARNING) << "the driver does not know this executor (it restarted, or declared "
                 << request.executor_id() << " lost): dropping its work and registering again";
    if (options_.on_forgotten) options_.on_forgotten();
    absl::MutexLock lock(&mu_);
    registered_ = false;
    return;
  }
  absl::MutexLock lock(&mu_);
  peers_.assign(reply.peers().begin(), reply.peers().end());
}

void DriverLink::Loop() {
  int64_t backoff_ms = 200;
  while (true) {
    bool registered;
    int64_t wait_ms;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return;
      registered = registered_;
    }
    if (!registered) {
      if (Register()) {
        backoff_ms = 200;
        continue;
      }
      LOG(WARNING) << "cannot reach driver " << options_.driver << ": " << last_error_
                   << "; retrying in " << backoff_ms << " ms";
      wait_ms = backoff_ms;
      backoff_ms = std::min<int64_t>(5000, backoff_ms * 2);
    } else {
      Heartbeat();
      absl::MutexLock lock(&mu_);
      wait_ms = heartbeat_interval_ms_;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&shutdown_), absl::Milliseconds(wait_ms));
  }
}

}  // namespace internal
}  // namespace ember
