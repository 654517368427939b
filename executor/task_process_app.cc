#include "executor/task_process_app.h"

#include <glog/logging.h>
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rpc/call.h"
#include "rpc/rpc.h"

namespace ember {
namespace internal {

absl::StatusOr<std::unique_ptr<TaskProcessApp>> TaskProcessApp::Start(Options options) {
  options.launch.set_listen_address(rpc::NewLocalAddress("task"));
  auto app = std::unique_ptr<TaskProcessApp>(new TaskProcessApp(std::move(options)));
  TaskProcessApp* self = app.get();
  const std::string app_id = self->options_.launch.app_id();
  ChildProcess::Options c;
  c.argv = {self->options_.program, "--task-process"};
  c.input = self->options_.launch.SerializeAsString();
  c.memory_limit_bytes = self->options_.memory_limit_bytes;
  // What job code prints on an executor goes to the executor's log, marked with its app.
  c.on_stdout = [app_id, partial = std::string()](std::string_view text) mutable {
    partial.append(text);
    size_t end;
    while ((end = partial.find('\n')) != std::string::npos) {
      LOG(INFO) << "[" << app_id << "] " << partial.substr(0, end);
      partial.erase(0, end + 1);
    }
  };
  c.on_exit = [self](const ExitStatus& status) { self->OnExit(status); };
  auto child = ChildProcess::Start(std::move(c));
  if (!child.ok()) return child.status();
  self->child_ = std::move(*child);
  auto channel = rpc::MakeChannel(self->options_.launch.listen_address());
  self->stub_ = proto::Executor::NewStub(channel);
  absl::Time deadline = absl::Now() + self->options_.start_timeout;
  while (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)))) {
    ExitStatus status;
    if (self->child_->WaitFor(absl::ZeroDuration(), &status)) {
      return absl::InternalError(absl::StrCat("the task process of ", app_id,
                                              " ended as it started: ", status.ToString()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the task process of ", app_id, " did not serve within ",
                       absl::FormatDuration(self->options_.start_timeout)));
    }
  }
  LOG(INFO) << "started the task process of " << app_id << " (pid " << self->child_->pid() << ")";
  return app;
}

TaskProcessApp::~TaskProcessApp() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  child_.reset();  // SIGKILL if it still runs, and wait
}

void TaskProcessApp::OnExit(const ExitStatus& status) {
  std::map<int, int64_t> lost;
  {
    absl::MutexLock lock(&mu_);
    exited_ = true;
    if (shutting_down_) return;  // ended on purpose: its receivers were stopped
    lost.swap(receivers_);
  }
  const std::string app_id = options_.launch.app_id();
  LOG(WARNING) << "the task process of " << app_id << " died: " << status.ToString();
  for (const auto& [stream, incarnation] : lost) {
    proto::ReportReceiverEventRequest r;
    r.set_app_id(app_id);
    r.set_stream_id(stream);
    r.set_incarnation(incarnation);
    r.set_event(proto::RECEIVER_ERROR);
    r.set_process_died(true);
    r.set_message(absl::StrCat("the task process of ", app_id,
                               " running the receiver died: ", status.ToString()));
    if (options_.report_event) options_.report_event(r);
  }
}

std::string TaskProcessApp::Failure(const grpc::Status& call) {
  ExitStatus status;
  // A broken call is how the process's death shows first; its status follows at once (a
  // process that lives, the call lost on the way, costs this wait).
  if (child_->WaitFor(absl::Milliseconds(500), &status)) {
    return absl::StrCat("the task process of ", options_.launch.app_id(),
                        " died: ", status.ToString());
  }
  return absl::StrCat("the task process of ", options_.launch.app_id(),
                      " did not answer: ", call.error_message());
}

bool TaskProcessApp::usable() const {
  absl::MutexLock lock(&mu_);
  return !exited_ && !shutting_down_;
}

int TaskProcessApp::receivers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(receivers_.size());
}

void TaskProcessApp::RunTask(const proto::RunTaskRequest& request, proto::RunTaskReply* reply) {
  grpc::Status s;
  // A call lost on the way to a process that lives is sent again (a task may run twice:
  // tasks are idempotent, a state update that ran already gives its outputs again).
  for (int attempt = 1; attempt <= 3; ++attempt) {
    grpc::ClientContext call;
    rpc::Prepare(&call, {options_.launch.token(), rpc::Deadline::kUnbounded});
    s = stub_->RunTask(&call, request, reply);
    if (s.ok()) return;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || !usable()) break;
    absl::SleepFor(absl::Milliseconds(20 * attempt));
  }
  reply->Clear();
  // Not a lost state (the driver retries the task; a lost state partition shows at the
  // retry, which finds no slot for it, and is rebuilt then).
  FailInReply(absl::AbortedError(Failure(s)), reply);
}

absl::Status TaskProcessApp::StartReceiver(const proto::StartReceiverRequest& request) {
  proto::StartReceiverReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Executor::Stub::StartReceiver, request, &reply,
                             {options_.launch.token(), rpc::Deadline::kReceiver});
  if (!s.ok()) return absl::UnavailableError(Failure(s));
  if (reply.error_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(reply.error_code()), reply.error());
  }
  absl::MutexLock lock(&mu_);
  receivers_[request.stream_id()] = request.incarnation();
  return absl::OkStatus();
}

void TaskProcessApp::StopReceiver(const proto::StopReceiverRequest& request) {
  proto::StopReceiverReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Executor::Stub::StopReceiver, request, &reply,
                             {options_.launch.token(), rpc::Deadline::kReceiver});
  if (!s.ok()) LOG(WARNING) << "stopping a receiver: " << Failure(s);
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(request.stream_id());
  if (it != receivers_.end() && it->second == request.incarnation()) receivers_.erase(it);
}

void TaskProcessApp::UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request) {
  proto::UpdateReceiverRateReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Executor::Stub::UpdateReceiverRate, request, &reply,
                             {options_.launch.token(), rpc::Deadline::kControl});
  if (!s.ok()) VLOG(1) << "rate update: " << s.error_message();
}

absl::Status TaskProcessApp::FetchShuffle(
    const proto::FetchShuffleRequest& request,
    const std::function<bool(const proto::ShuffleChunk&)>& write) {
  grpc::ClientContext call;
  rpc::Prepare(&call, {options_.launch.token(), rpc::Deadline::kTransfer});
  auto reader = stub_->FetchShuffle(&call, request);
  proto::ShuffleChunk chunk;
  while (reader->Read(&chunk)) {
    if (!write(chunk)) {
      call.TryCancel();
      reader->Finish().IgnoreError();
      return absl::CancelledError("the reader went away");
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return absl::UnavailableError(Failure(s));
  return absl::OkStatus();
}

void TaskProcessApp::Cleanup(const proto::CleanupRequest& request) {
  proto::CleanupReply reply;
  grpc::Status s = rpc::Call(*stub_, &proto::Executor::Stub::Cleanup, request, &reply,
                             {options_.launch.token(), rpc::Deadline::kControl});
  if (!s.ok()) VLOG(1) << "cleanup of " << options_.launch.app_id() << ": " << s.error_message();
}

void TaskProcessApp::Shutdown(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    receivers_.clear();
  }
  // SIGTERM: the process stops its receivers (each reporting its last block), then exits.
  child_->Signal(SIGTERM);
  if (!child_->WaitFor(absl::Seconds(10))) {
    LOG(WARNING) << "the task process of " << options_.launch.app_id()
                 << " did not end within 10 s of SIGTERM (" << reason << "): killing it";
    child_->Signal(SIGKILL);
    child_->WaitFor(absl::Seconds(10));
  }
}

}  // namespace internal
}  // namespace ember
