#pragma once
// One run of an application's driver side, as ember-driver's job registry starts, stops and
// waits for it: in an application driver process of its own (ProcessRunner, the default), or
// on a thread of ember-driver (ThreadRunner, isolation=thread: no isolation, for debugging and
// for comparing the layouts). The registry makes a new runner for each run: a restart after a
// crash, an upgrade. Thread-safe.
//
//   Start --loaded--> running --entry point returns--> ended (RunEnd: how)
//     |                  |
//     +--load failed     +--its process dies--> ended, crashed (the registry may restart)

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/conf.h"
#include "driver/app_driver.h"
#include "driver/executor_registry.h"
#include "proto/cluster.pb.h"
#include "proto/isolation.grpc.pb.h"
#include "util/child_process.h"

namespace ember {
namespace internal {

// How a run ended.
struct RunEnd {
  proto::AppState state = proto::APP_FAILED;  // FINISHED or FAILED, as the run says
  std::string error;
  bool crashed = false;  // its process died (a signal, or an exit without saying how it ended)
};

class AppRunner {
 public:
  struct Options {
    std::string app_id;
    std::string plugin_path;   // checked as data
    std::string plugin_shown;  // the user's file name, for messages
    Conf conf;
    std::vector<std::string> args;
    std::function<void(const std::string&)> emit;  // the job's output
    bool probe = false;                            // load the plugin and end (an upgrade's check)
    std::string run_id;                            // names the run in its process's reports
  };
  virtual ~AppRunner() = default;

  // Loads the plugin and starts the entry point; returns once the plugin loaded, or why it
  // did not (InvalidArgument or FailedPrecondition: the plugin is refused).
  virtual absl::Status Start() = 0;
  // Waits for the run's end.
  virtual RunEnd Wait() = 0;
  // True once it ended (Wait returns at once).
  virtual bool Ended() = 0;
  // Asks the application's contexts to stop; the entry point then returns.
  virtual void Stop(bool graceful) = 0;
  // Ends a run that did not stop when asked, at once: its process is killed. False when that
  // cannot be done (a thread).
  virtual bool ForceEnd() = 0;
  virtual bool ContextActive() = 0;

  // The run's processed-through time (ReportBlockReply), or Unavailable when the block did not
  // reach the run (the executor tries again).
  virtual absl::StatusOr<int64_t> OnBlock(const proto::ReportBlockRequest& request) = 0;
  virtual void OnReceiverEvent(const proto::ReportReceiverEventRequest& request) = 0;
  virtual absl::StatusOr<std::string> Broadcast(int64_t id) = 0;
  // What the run's process reports of itself (ProcessRunner only).
  virtual void OnReport(const proto::ReportAppRequest& request) {}
};

// isolation=thread: the entry point on a thread of this process (its plugin mapped here).
class ThreadRunner : public AppRunner {
 public:
  ThreadRunner(Options options, ExecutorRegistry* executors)
      : options_(std::move(options)), executors_(executors) {}
  ~ThreadRunner() override;
  absl::Status Start() override;
  RunEnd Wait() override;
  bool Ended() override;
  void Stop(bool graceful) override;
  bool ForceEnd() override { return false; }
  bool ContextActive() override;
  absl::StatusOr<int64_t> OnBlock(const proto::ReportBlockRequest& request) override;
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request) override;
  absl::StatusOr<std::string> Broadcast(int64_t id) override;

 private:
  // Shared with the run's thread, which a runner destroyed before the run ended leaves
  // behind (a thread cannot be killed).
  struct State {
    absl::Mutex mu;
    bool ended ABSL_GUARDED_BY(mu) = false;
    RunEnd end ABSL_GUARDED_BY(mu);
  };
  const Options options_;
  ExecutorRegistry* const executors_;
  std::shared_ptr<AppDriver> driver_;  // set by Start, before the thread
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

// The default: the entry point in an application driver process (app_process.h).
class ProcessRunner : public AppRunner {
 public:
  struct Process {
    std::string program;         // ember-driver's executable
    std::string daemon_address;  // its DriverLocal service
    std::string token;
    std::string secret;
    int64_t memory_limit_bytes = 0;  // ember.driver.memory
    absl::Duration heartbeat_timeout = absl::Seconds(10);  // the daemon's registry's
    absl::Duration start_timeout = absl::Seconds(60);
  };
  ProcessRunner(Options options, Process process)
      : options_(std::move(options)), process_(std::move(process)) {}
  ~ProcessRunner() override;
  absl::Status Start() override;
  RunEnd Wait() override;
  bool Ended() override;
  void Stop(bool graceful) override;
  bool ForceEnd() override;
  bool ContextActive() override;
  absl::StatusOr<int64_t> OnBlock(const proto::ReportBlockRequest& request) override;
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request) override;
  absl::StatusOr<std::string> Broadcast(int64_t id) override;
  void OnReport(const proto::ReportAppRequest& request) override;

 private:
  void OnExit(const ExitStatus& status);

  const Options options_;
  const Process process_;
  std::string listen_address_;
  std::unique_ptr<proto::AppDriver::Stub> stub_;
  std::unique_ptr<ChildProcess> child_;
  absl::Mutex mu_;
  proto::AppPhase phase_ ABSL_GUARDED_BY(mu_) = proto::APP_PHASE_UNSPECIFIED;
  absl::Status load_status_ ABSL_GUARDED_BY(mu_);
  bool context_active_ ABSL_GUARDED_BY(mu_) = false;
  bool reported_end_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  RunEnd end_ ABSL_GUARDED_BY(mu_);
  ExitStatus exit_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
