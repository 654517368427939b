#include "driver/app_runner.h"

#include <glog/logging.h>
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/runtime_hooks.h"

namespace ember {
namespace internal {

// --------------------------------------------------------------------------- ThreadRunner

ThreadRunner::~ThreadRunner() {
  if (!thread_.joinable()) return;
  if (Ended()) {
    thread_.join();
  } else {
    // A job that ignores its context's end cannot be waited for forever.
    thread_.detach();
  }
}

absl::Status ThreadRunner::Start() {
  AppDriver::Options o;
  o.app_id = options_.app_id;
  o.plugin_path = options_.plugin_path;
  o.plugin_shown = options_.plugin_shown;
  o.conf = options_.conf;
  o.args = options_.args;
  o.executors = executors_;
  o.emit = options_.emit;
  auto driver = AppDriver::Load(std::move(o));
  if (!driver.ok()) return driver.status();
  driver_ = std::move(*driver);
  if (options_.probe) {
    absl::MutexLock lock(&state_->mu);
    state_->ended = true;
    state_->end.state = proto::APP_FINISHED;
    return absl::OkStatus();
  }
  thread_ = std::thread([driver = driver_, state = state_] {
    absl::Status s = driver->Run();
    absl::MutexLock lock(&state->mu);
    state->ended = true;
    state->end.state = s.ok() ? proto::APP_FINISHED : proto::APP_FAILED;
    state->end.error = std::string(s.message());
  });
  return absl::OkStatus();
}

RunEnd ThreadRunner::Wait() {
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(&state_->ended));
  return state_->end;
}

bool ThreadRunner::Ended() {
  absl::MutexLock lock(&state_->mu);
  return state_->ended;
}

void ThreadRunner::Stop(bool graceful) {
  if (driver_ != nullptr) driver_->Stop(graceful);
}

bool ThreadRunner::ContextActive() { return driver_ != nullptr && driver_->ContextActive(); }

absl::StatusOr<int64_t> ThreadRunner::OnBlock(const proto::ReportBlockRequest& request) {
  return driver_ != nullptr ? driver_->OnBlock(request) : 0;
}

void ThreadRunner::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  if (driver_ != nullptr) driver_->OnReceiverEvent(request);
}

absl::StatusOr<std::string> ThreadRunner::Broadcast(int64_t id) {
  std::string bytes;
  if (!BroadcastBytes(id, &bytes)) {
    return absl::NotFoundError("no broadcast variable " + std::to_string(id));
  }
  return bytes;
}

// -------------------------------------------------------------------------- ProcessRunner

ProcessRunner::~ProcessRunner() { child_.reset(); }

absl::Status ProcessRunner::Start() {
  listen_address_ = rpc::NewLocalAddress("app");
  proto::AppProcessLaunch launch;
  launch.set_app_id(options_.app_id);
  launch.set_plugin_path(options_.plugin_path);
  launch.set_plugin_shown(options_.plugin_shown);
  for (const auto& [k, v] : options_.conf.all()) (*launch.mutable_conf())[k] = v;
  for (const auto& a : options_.args) launch.add_args(a);
  launch.set_daemon_address(process_.daemon_address);
  launch.set_listen_address(listen_address_);
  launch.set_token(process_.token);
  launch.set_secret(process_.secret);
  launch.set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(process_.heartbeat_timeout));
  *launch.mutable_tls() = rpc::ConfiguredTlsFiles();
  launch.set_probe(options_.probe);
  launch.set_run_id(options_.run_id);
  stub_ = proto::AppDriver::NewStub(rpc::MakeChannel(listen_address_));

  ChildProcess::Options c;
  c.argv = {process_.program, "--app-process"};
  c.input = launch.SerializeAsString();
  c.memory_limit_bytes = process_.memory_limit_bytes;
  c.on_stdout = [emit = options_.emit](std::string_view text) { emit(std::string(text)); };
  c.on_exit = [this](const ExitStatus& status) { OnExit(status); };
  auto child = ChildProcess::Start(std::move(c));
  if (!child.ok()) return child.status();
  child_ = std::move(*child);

  absl::MutexLock lock(&mu_);
  auto loaded = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return phase_ != proto::APP_PHASE_UNSPECIFIED || exited_;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&loaded), process_.start_timeout)) {
    child_->Signal(SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat("the driver process of ", options_.app_id,
                                                    " did not load its plugin within ",
                                                    absl::FormatDuration(process_.start_timeout)));
  }
  if (phase_ == proto::APP_PHASE_LOAD_FAILED) return load_status_;
  if (phase_ == proto::APP_PHASE_UNSPECIFIED) {
    // It died while loading: a static initializer of the plugin crashed, say.
    return absl::InvalidArgumentError(
        absl::StrCat("the plugin ", options_.plugin_shown,
                     " crashed its process as it loaded: ", exit_.ToString()));
  }
  return absl::OkStatus();
}

void ProcessRunner::OnReport(const proto::ReportAppRequest& request) {
  absl::MutexLock lock(&mu_);
  switch (request.phase()) {
    case proto::APP_PHASE_LOADED:
      phase_ = request.phase();
      break;
    case proto::APP_PHASE_LOAD_FAILED:
      phase_ = request.phase();
      load_status_ =
          absl::Status(static_cast<absl::StatusCode>(request.error_code()), request.error());
      if (load_status_.ok()) load_status_ = absl::InvalidArgumentError(request.error());
      break;
    case proto::APP_PHASE_CONTEXT_ACTIVE:
      context_active_ = true;
      break;
    case proto::APP_PHASE_ENDED:
      reported_end_ = true;
      end_.state = request.state();
      end_.error = request.error();
      context_active_ = false;
      break;
    default:
      break;
  }
  for (const auto& e : request.events()) {
    if (e.kind() == proto::ProgressEvent::CONTEXT_ENDED) context_active_ = false;
  }
}

void ProcessRunner::OnExit(const ExitStatus& status) {
  absl::MutexLock lock(&mu_);
  exited_ = true;
  exit_ = status;
  if ((reported_end_ || phase_ == proto::APP_PHASE_LOAD_FAILED) && !status.crashed()) return;
  if (options_.probe && status.code == 0 && !status.crashed()) {
    end_.state = proto::APP_FINISHED;
    return;
  }
  // Died without saying how its entry point ended.
  end_.crashed = true;
  end_.state = proto::APP_FAILED;
  end_.error =
      absl::StrCat("the driver process of ", options_.app_id, " died: ", status.ToString());
  if (status.signal == SIGKILL && process_.memory_limit_bytes > 0) {
    absl::StrAppend(&end_.error, " (ember.driver.memory is ", process_.memory_limit_bytes,
                    " bytes)");
  }
}

RunEnd ProcessRunner::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&exited_));
  return end_;
}

bool ProcessRunner::Ended() {
  absl::MutexLock lock(&mu_);
  return exited_;
}

void ProcessRunner::Stop(bool graceful) {
  proto::StopAppRequest request;
  request.set_graceful(graceful);
  proto::StopAppReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::AppDriver::Stub::StopApp, request, &reply,
                             {process_.token, rpc::Deadline::kControl});
  // Not serving yet (still loading) or not any more: SIGTERM stops it as well.
  if (!s.ok() && child_ != nullptr) child_->Signal(SIGTERM);
}

bool ProcessRunner::ForceEnd() {
  if (child_ != nullptr) child_->Signal(SIGKILL);
  return true;
}

bool ProcessRunner::ContextActive() {
  absl::MutexLock lock(&mu_);
  return context_active_ && !exited_;
}

absl::StatusOr<int64_t> ProcessRunner::OnBlock(const proto::ReportBlockRequest& request) {
  proto::ReportBlockReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::AppDriver::Stub::ReportBlock, request, &reply,
                             {process_.token, rpc::Deadline::kControl});
  if (s.ok()) return reply.processed_through_ms();
  if (Ended()) return 0;  // an ended run wants no more blocks
  VLOG(1) << "block report for " << options_.app_id << ": " << s.error_message();
  return absl::UnavailableError("the application's driver process did not take the block: " +
                                s.error_message());
}

void ProcessRunner::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  proto::ReportReceiverEventReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::AppDriver::Stub::ReportReceiverEvent, request, &reply,
                             {process_.token, rpc::Deadline::kControl});
  if (!s.ok()) VLOG(1) << "receiver event for " << options_.app_id << ": " << s.error_message();
}

absl::StatusOr<std::string> ProcessRunner::Broadcast(int64_t id) {
  proto::FetchBroadcastRequest request;
  request.set_id(id);
  request.set_app_id(options_.app_id);
  proto::FetchBroadcastReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::AppDriver::Stub::FetchBroadcast, request, &reply,
                             {process_.token, rpc::Deadline::kBroadcast});
  if (!s.ok()) return rpc::FromGrpc(s);
  return std::move(*reply.mutable_data());
}

}  // namespace internal
}  // namespace ember
