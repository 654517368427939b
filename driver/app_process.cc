#include "driver/app_process.h"

#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "driver/app_driver.h"
#include "driver/executor_registry.h"
#include "driver/progress_events.h"
#include "proto/isolation.grpc.pb.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/runtime_hooks.h"
#include "runtime/streaming_progress.h"
#include "util/child_process.h"
#include "util/repeated_warnings.h"

namespace ember {
namespace internal {

namespace {

constexpr int kExitLoadFailed = 3;

// The job's output: straight to standard output, which the daemon reads.
void WriteOut(const std::string& text) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::cout.flush();
  size_t at = 0;
  while (at < text.size()) {
    ssize_t n = write(1, text.data() + at, text.size() - at);
    if (n <= 0) return;  // the daemon is gone; so are we, soon
    at += static_cast<size_t>(n);
  }
}

// The daemon's side of the process: reports and the executors' mirror.
class Daemon {
 public:
  Daemon(const proto::AppProcessLaunch& launch)
      : app_id_(launch.app_id()),
        run_id_(launch.run_id()),
        token_(launch.token()),
        stub_(proto::DriverLocal::NewStub(rpc::MakeChannel(launch.daemon_address()))) {}

  void Report(proto::ReportAppRequest request) {
    request.set_app_id(app_id_);
    request.set_run_id(run_id_);
    int64_t tasks = 0, failed = 0;
    Monitor::Global().TaskCounts(&tasks, &failed);
    {
      absl::MutexLock lock(&mu_);
      request.set_tasks(tasks - reported_tasks_);
      request.set_failed_tasks(failed - reported_failed_);
      reported_tasks_ = tasks;
      reported_failed_ = failed;
    }
    // A phase must arrive (the daemon acts on it: a probe's load, the end); progress may wait
    // for the next report, which then carries these task counts too.
    const bool phase = request.phase() != proto::APP_PHASE_UNSPECIFIED;
    grpc::Status s;
    for (int attempt = 1;; ++attempt) {
      proto::ReportAppReply reply;
      s = rpc::Call(*stub_, &proto::DriverLocal::Stub::ReportApp, request, &reply,
                    {token_, rpc::Deadline::kControl});
      if (s.ok()) return;
      if (!phase || attempt >= 10 || s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      absl::SleepFor(absl::Milliseconds(50 * attempt));
    }
    {
      absl::MutexLock lock(&mu_);
      reported_tasks_ -= request.tasks();
      reported_failed_ -= request.failed_tasks();
    }
    WarnRepeated("report to ember-driver", "cannot report to ember-driver: " + s.error_message());
  }

  void ReportPhase(proto::AppPhase phase, const absl::Status& status = absl::OkStatus()) {
    proto::ReportAppRequest r;
    r.set_phase(phase);
    if (!status.ok()) {
      r.set_error(std::string(status.message()));
      r.set_error_code(static_cast<int>(status.code()));
    }
    Report(std::move(r));
  }

  void Unreachable(const std::string& id, const std::string& reason) {
    proto::ExecutorUnreachableRequest r;
    r.set_executor_id(id);
    r.set_reason(reason);
    proto::ExecutorUnreachableReply reply;
    rpc::Call(*stub_, &proto::DriverLocal::Stub::ExecutorUnreachable, r, &reply,
              {token_, rpc::Deadline::kControl});
  }

  // Follows the daemon's executors into `mirror` until Stop; true once the first snapshot
  // arrived within `timeout`.
  bool FollowExecutors(ExecutorRegistry* mirror, absl::Duration timeout) {
    watcher_ = std::thread([this, mirror] {
      while (!stopping_) {
        grpc::ClientContext call;
        rpc::Prepare(&call, {token_, rpc::Deadline::kUnbounded});
        {
          absl::MutexLock lock(&mu_);
          watch_call_ = &call;
        }
        proto::WatchExecutorsRequest request;
        auto reader = stub_->WatchExecutors(&call, request);
        proto::ExecutorEvent event;
        while (reader->Read(&event)) {
          for (const auto& e : event.added())
            mirror->Adopt(e.executor_id(), e.address(), e.slots());
          for (const auto& id : event.lost()) mirror->MarkLost(id, event.reason());
          for (const auto& h : event.health()) mirror->SetHealth(h.executor_id(), h.unhealthy());
          absl::MutexLock lock(&mu_);
          snapshot_ = true;
        }
        reader->Finish().IgnoreError();
        {
          absl::MutexLock lock(&mu_);
          watch_call_ = nullptr;
        }
        if (!stopping_) absl::SleepFor(absl::Milliseconds(200));
      }
    });
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&snapshot_), timeout);
  }

  void Stop() {
    stopping_ = true;
    {
      absl::MutexLock lock(&mu_);
      if (watch_call_ != nullptr) watch_call_->TryCancel();
    }
    if (watcher_.joinable()) watcher_.join();
  }

 private:
  const std::string app_id_, run_id_, token_;
  std::unique_ptr<proto::DriverLocal::Stub> stub_;
  absl::Mutex mu_;
  int64_t reported_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reported_failed_ ABSL_GUARDED_BY(mu_) = 0;
  bool snapshot_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_call_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

// What the daemon asks of the application (AppDriver service).
class AppDriverService final : public proto::AppDriver::Service {
 public:
  AppDriverService(AppDriver* driver, std::string token)
      : driver_(driver), token_(std::move(token)) {}

  grpc::Status StopApp(grpc::ServerContext* context, const proto::StopAppRequest* request,
                       proto::StopAppReply*) override {
    if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
    // A graceful stop runs the batches still due: not inside the call.
    AppDriver* driver = driver_;
    bool graceful = request->graceful();
    std::thread([driver, graceful] { driver->Stop(graceful); }).detach();
    return grpc::Status::OK;
  }
  grpc::Status ReportBlock(grpc::ServerContext* context, const proto::ReportBlockRequest* request,
                           proto::ReportBlockReply* reply) override {
    if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
    reply->set_processed_through_ms(driver_->OnBlock(*request));
    return grpc::Status::OK;
  }
  grpc::Status ReportReceiverEvent(grpc::ServerContext* context,
                                   const proto::ReportReceiverEventRequest* request,
                                   proto::ReportReceiverEventReply*) override {
    if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
    driver_->OnReceiverEvent(*request);
    return grpc::Status::OK;
  }
  grpc::Status FetchBroadcast(grpc::ServerContext* context,
                              const proto::FetchBroadcastRequest* request,
                              proto::FetchBroadcastReply* reply) override {
    if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
    if (!BroadcastBytes(request->id(), reply->mutable_data())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no broadcast variable " + std::to_string(request->id()));
    }
    return grpc::Status::OK;
  }

 private:
  AppDriver* const driver_;
  const std::string token_;
};

}  // namespace

int AppProcessMain() {
  // SIGTERM is taken by sigwait: blocked before any thread starts.
  sigset_t signals = BlockTerminationSignals();
  std::string input = ReadStandardInput();
  proto::AppProcessLaunch launch;
  if (!launch.ParseFromString(input) || launch.app_id().empty() ||
      launch.daemon_address().empty()) {
    std::cerr << "ember-driver --app-process: no launch on standard input (this mode is "
                 "started by ember-driver itself)\n";
    return 2;
  }
  absl::Status tls = rpc::ConfigureTls(launch.tls());
  if (!tls.ok()) {
    std::cerr << "ember-driver --app-process: " << tls.message() << "\n";
    return 1;
  }
  // What the job prints with std::cout or printf reaches its followers promptly too.
  std::cout << std::unitbuf;
  setvbuf(stdout, nullptr, _IOLBF, 0);

  Daemon daemon(launch);
  ExecutorRegistry::Options eo;
  eo.secret = launch.secret();
  if (launch.heartbeat_timeout_ms() > 0) {
    eo.heartbeat_timeout = absl::Milliseconds(launch.heartbeat_timeout_ms());
  }
  eo.detect_loss = false;
  eo.on_unreachable = [&daemon](const std::string& id, const std::string& reason) {
    daemon.Unreachable(id, reason);
  };
  ExecutorRegistry executors(eo);

  AppDriver::Options o;
  o.app_id = launch.app_id();
  o.plugin_path = launch.plugin_path();
  o.plugin_shown = launch.plugin_shown();
  for (const auto& [k, v] : launch.conf()) o.conf.set(k, v);
  o.args.assign(launch.args().begin(), launch.args().end());
  o.executors = &executors;
  o.emit = WriteOut;
  auto driver = AppDriver::Load(std::move(o));
  if (!driver.ok()) {
    daemon.ReportPhase(proto::APP_PHASE_LOAD_FAILED, driver.status());
    return kExitLoadFailed;
  }
  daemon.ReportPhase(proto::APP_PHASE_LOADED);
  if (launch.probe()) return 0;

  AppDriverService service(driver->get(), launch.token());
  std::unique_ptr<grpc::Server> server = rpc::StartServer(launch.listen_address(), {&service},
                                                          {launch.token(), rpc::kMaxRequestBytes});
  if (server == nullptr) {
    LOG(ERROR) << "application " << launch.app_id() << ": cannot listen on "
               << launch.listen_address();
    return 1;
  }
  if (!daemon.FollowExecutors(&executors, absl::Seconds(10))) {
    LOG(WARNING) << "application " << launch.app_id()
                 << ": no list of executors from ember-driver within 10 s; starting anyway";
  }
  SetProgressObserverFactory([&daemon](const std::string&, const std::string& name,
                                       int64_t interval_ms, int64_t retained) {
    return std::make_shared<ProgressForwarder>(
        name, interval_ms, retained, [&daemon](const proto::ProgressEvent& e) {
          proto::ReportAppRequest r;
          *r.add_events() = e;
          if (e.kind() == proto::ProgressEvent::STREAMING_STARTED) {
            r.set_phase(proto::APP_PHASE_CONTEXT_ACTIVE);
          }
          daemon.Report(std::move(r));
        });
  });
  // SIGTERM from the daemon (it is stopping): the contexts stop, the entry point returns.
  AppDriver* raw = driver->get();
  std::thread([raw, signals]() mutable {
    int sig = 0;
    sigwait(&signals, &sig);
    raw->Stop(false);
  }).detach();

  absl::Status s = (*driver)->Run();
  std::cout.flush();
  fflush(stdout);
  proto::ReportAppRequest end;
  end.set_phase(proto::APP_PHASE_ENDED);
  end.set_state(s.ok() ? proto::APP_FINISHED : proto::APP_FAILED);
  end.set_error(std::string(s.message()));
  daemon.Report(std::move(end));
  daemon.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  // Threads the job left behind cannot be joined: leave without destructors.
  _exit(0);
}

}  // namespace internal
}  // namespace ember
