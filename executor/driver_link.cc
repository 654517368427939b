#include "executor/driver_link.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "util/repeated_warnings.h"

namespace ember {
namespace internal {

DriverLink::DriverLink(Options options)
    : options_(std::move(options)),
      stub_(proto::Driver::NewStub(rpc::MakeChannel(options_.driver))),
      heartbeat_stub_(proto::Driver::NewStub(rpc::MakeChannel(options_.driver, true))) {}

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

int64_t DriverLink::heartbeat_timeout_ms() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_timeout_ms_;
}

void DriverLink::RenewConnection() {
  heartbeat_stub_ = proto::Driver::NewStub(rpc::MakeChannel(options_.driver, true));
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
  absl::Time sent = absl::Now();
  grpc::Status s = rpc::Call(*heartbeat_stub_, &proto::Driver::Stub::RegisterExecutor, request,
                             &reply, {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) {
    last_error_ = s.error_code() == grpc::StatusCode::UNAUTHENTICATED
                      ? "the driver refused the secret: " + s.error_message()
                      : s.error_message();
    RenewConnection();
    return false;
  }
  last_answered_ = sent;
  absl::MutexLock lock(&mu_);
  executor_id_ = reply.executor_id();
  heartbeat_interval_ms_ = std::max<int64_t>(50, reply.heartbeat_interval_ms());
  if (reply.heartbeat_timeout_ms() > 0) heartbeat_timeout_ms_ = reply.heartbeat_timeout_ms();
  registered_ = true;
  fenced_ = false;
  LOG(INFO) << "registered with driver " << options_.driver << " as " << executor_id_;
  return true;
}

bool DriverLink::Heartbeat() {
  proto::HeartbeatRequest request;
  if (options_.fill_heartbeat) options_.fill_heartbeat(&request);
  int64_t interval_ms, timeout_ms;
  {
    absl::MutexLock lock(&mu_);
    request.set_executor_id(executor_id_);
    request.set_fenced(fenced_);
    interval_ms = heartbeat_interval_ms_;
    timeout_ms = heartbeat_timeout_ms_;
  }
  proto::HeartbeatReply reply;
  absl::Time sent = absl::Now();
  grpc::Status s = rpc::Call(*heartbeat_stub_, &proto::Driver::Stub::Heartbeat, request, &reply,
                             {options_.secret, rpc::Deadline::kHeartbeat});
  if (!s.ok()) {
    ++heartbeat_failures_;
    WarnRepeated("heartbeat " + options_.driver,
                 absl::StrCat("heartbeat to driver ", options_.driver, " failed (",
                              heartbeat_failures_, " in a row): ", s.error_message()));
    RenewConnection();
    absl::Duration silent = absl::Now() - last_answered_;
    bool fence = false;
    {
      absl::MutexLock lock(&mu_);
      if (!fenced_ && silent >= absl::Milliseconds(timeout_ms - interval_ms)) {
        fenced_ = fence = true;
      }
    }
    if (fence) {
      std::string reason =
          absl::StrCat("no heartbeat answered by driver ", options_.driver, " for ",
                       absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
                       ": the driver declares this executor lost after ",
                       absl::FormatDuration(absl::Milliseconds(timeout_ms)));
      LOG(WARNING) << "fenced: " << reason << "; stopping every receiver and task";
      if (options_.on_fenced) options_.on_fenced(reason);
    }
    return false;
  }
  heartbeat_failures_ = 0;
  last_answered_ = sent;
  if (reply.reregister()) {
    LOG(WARNING) << "the driver does not know this executor (it restarted, or declared "
                 << request.executor_id() << " lost): dropping its work and registering again";
    if (options_.on_forgotten) options_.on_forgotten();
    absl::MutexLock lock(&mu_);
    registered_ = false;
    return true;
  }
  if (reply.live_apps_known() && options_.on_live_apps) {
    options_.on_live_apps({reply.live_apps().begin(), reply.live_apps().end()}, sent);
  }
  absl::MutexLock lock(&mu_);
  peers_.assign(reply.peers().begin(), reply.peers().end());
  return true;
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
      WarnRepeated("register " + options_.driver,
                   absl::StrCat("cannot reach driver ", options_.driver, ": ", last_error_,
                                "; retrying in ", backoff_ms, " ms"));
      wait_ms = backoff_ms;
      backoff_ms = std::min<int64_t>(5000, backoff_ms * 2);
    } else {
      bool answered = Heartbeat();
      absl::MutexLock lock(&mu_);
      wait_ms =
          answered ? heartbeat_interval_ms_ : std::max<int64_t>(50, heartbeat_interval_ms_ / 4);
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&shutdown_), absl::Milliseconds(wait_ms));
  }
}

}  // namespace internal
}  // namespace ember
