#pragma once
// The driver daemon's applications. Each submitted plugin is checked as data and kept under
// the work directory, with the submission, so that a restarted driver starts it again. Its
// driver side runs in an application driver process of its own (ProcessRunner), which this
// registry starts and supervises: a run whose process dies (a segfault, an abort, an
// out-of-memory kill) is started again from the submission, recovering from its checkpoint,
// up to ember.driver.maxRestarts times with a growing delay; then the application fails, the
// reason named. With isolation=thread the entry point runs on a thread here instead.
//
// Keeps each job's output for ember-submit to follow, its end state, and (from its process's
// reports) its progress for the UI and REST API. Thread-safe.
//
//   Submit --loaded--> RUNNING --entry point returns--> FINISHED | FAILED
//                        |  ^
//                        |  +-- its process died: restarted (bounded, with backoff)
//                        +--Kill--> KILLED

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/conf.h"
#include "driver/app_runner.h"
#include "driver/executor_registry.h"
#include "proto/cluster.pb.h"
#include "proto/isolation.pb.h"
#include "rpc/rpc.h"
#include "runtime/streaming_progress.h"

namespace ember {
namespace internal {

class JobRegistry {
 public:
  enum class Isolation { kProcess, kThread };
  struct Options {
    std::string work_dir;
    ExecutorRegistry* executors = nullptr;
    Conf defaults;                      // the driver's configuration; a job's own keys win
    size_t max_output_bytes = 8 << 20;  // per job; older output is dropped beyond it
    Isolation isolation = Isolation::kProcess;
    // Isolation::kProcess: ember-driver's executable, and where its application processes
    // reach it (DriverLocal) with which token.
    std::string program;
    std::string local_address;
    std::string local_token;
  };
  explicit JobRegistry(Options options);
  // Kills every running application and waits for their threads.
  ~JobRegistry();

  // The ember:// master URL jobs see in their configuration.
  void SetDriverUrl(std::string url);

  // `recovered_id`: the application was submitted to an earlier run of the driver (its
  // submission is kept in the work directory) and starts again under its id. Returns once
  // its plugin loaded (or why it did not: InvalidArgument, FailedPrecondition).
  absl::StatusOr<std::string> Submit(const proto::SubmitJobRequest& request,
                                     const std::string& recovered_id = "");
  // Starts again every application of the work directory that had not ended (finished,
  // failed, or killed by a user) when the driver stopped. Returns their ids.
  std::vector<std::string> RecoverAll();
  // Without recovery: the applications known now are all there are (LiveApps answers).
  void SkipRecovery();
  // The applications not ended (running or being killed); false until RecoverAll or
  // SkipRecovery ran, while applications of the previous run may still be started again.
  bool LiveApps(std::vector<std::string>* ids) const;
  // The state after the kill (KILLED, or the end state of an application that had ended).
  absl::StatusOr<proto::AppState> Kill(const std::string& app_id, bool graceful = false);
  // Stops a running application gracefully and starts it again, under its id, with `plugin`:
  // it recovers from its checkpoint. Waits until the new plugin's context has started; if it
  // fails first (its graph differs from the checkpoint's, say), the previous plugin is started
  // again and the error is returned (Aborted). InvalidArgument: the plugin cannot be loaded
  // (the application was not touched).
  absl::Status Upgrade(const std::string& app_id, const std::string& plugin,
                       const std::string& plugin_name);
  // Calls `write` with the output from `offset` on and, once the job has ended, a final event;
  // without `follow`, returns at the end of the output so far. Stops when `write` returns
  // false or `cancelled` returns true.
  // `run` is the output generation `offset` counts in (empty: the current one); events carry
  // the current generation, which changes when the driver starts again.
  absl::Status Watch(const std::string& app_id, int64_t offset, const std::string& run, bool follow,
                     const std::function<bool(const proto::JobEvent&)>& write,
                     const std::function<bool()>& cancelled);
  absl::Status Watch(const std::string& app_id, int64_t offset, bool follow,
                     const std::function<bool(const proto::JobEvent&)>& write,
                     const std::function<bool()>& cancelled) {
    return Watch(app_id, offset, "", follow, write, cancelled);
  }
  absl::Status Status(const std::string& app_id, proto::StatusReply* reply);
  // The plugin's bytes, and the application's task process memory limit.
  absl::Status FillPlugin(const std::string& app_id, proto::FetchPluginReply* reply);
  // A broadcast variable of `app_id` (empty: of any application).
  absl::StatusOr<std::string> Broadcast(const std::string& app_id, int64_t id);

  // The run's processed-through time, or Unavailable when the block did not reach the
  // application's run.
  absl::StatusOr<int64_t> OnBlock(const proto::ReportBlockRequest& request);
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request);
  // What an application's driver process reports: its phase and its progress.
  void OnReport(const proto::ReportAppRequest& request);

  void Shutdown();

 private:
  struct App {
    std::string id;
    std::string name;
    std::string plugin_bytes;
    std::string plugin_path;   // the checked copy in the application's directory
    std::string plugin_shown;  // the user's file name
    Conf conf;
    std::vector<std::string> args;
    int64_t submitted_ms = 0;
    std::string dir;
    int64_t driver_memory = 0;  // ember.driver.memory, bytes (0: no limit)
    int64_t task_memory = 0;    // ember.executor.memory
    int max_restarts = 3;
    absl::Duration restart_backoff = absl::Seconds(1);
    std::thread thread;  // supervises the runs

    absl::Mutex mu;
    proto::AppState state ABSL_GUARDED_BY(mu) = proto::APP_RUNNING;
    std::string error ABSL_GUARDED_BY(mu);
    int64_t ended_ms ABSL_GUARDED_BY(mu) = 0;
    std::string output ABSL_GUARDED_BY(mu);
    int64_t output_base ABSL_GUARDED_BY(mu) = 0;  // bytes dropped from the front
    // The output's generation: new with every driver process, whose output starts empty.
    std::string output_run = rpc::NewToken().substr(0, 16);
    bool killed ABSL_GUARDED_BY(mu) = false;
    bool driver_shutdown ABSL_GUARDED_BY(mu) = false;  // killed because the driver stops
    bool upgrading ABSL_GUARDED_BY(mu) = false;        // stopped to start again with a new plugin
    bool started ABSL_GUARDED_BY(mu) = false;          // the first run's Start returned
    absl::Status start_status ABSL_GUARDED_BY(mu);
    std::shared_ptr<AppRunner> runner ABSL_GUARDED_BY(mu);  // the current run
    int restarts ABSL_GUARDED_BY(mu) = 0;
    // Its progress as its driver process reports it (Isolation::kProcess).
    std::shared_ptr<StreamingProgress> progress ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<App> Find(const std::string& app_id) const;
  std::shared_ptr<AppRunner> CurrentRunner(App* app);
  std::shared_ptr<AppRunner> MakeRunner(App* app, bool probe);
  void RunApp(const std::shared_ptr<App>& app);
  // Drops what the application has on the executors (its task processes, receivers, state).
  void CleanupExecutors(const std::string& app_id);
  void Append(App* app, const std::string& text);
  void FillInfo(App* app, proto::AppInfo* info);
  std::string NewAppId();
  // Checks a new plugin by loading it in a run that only loads (an upgrade's first step).
  absl::Status Probe(App* app, const std::string& path, const std::string& shown);

  const Options options_;
  absl::Mutex upgrade_mu_;  // one upgrade at a time
  mutable absl::Mutex mu_;
  int next_app_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool recovered_ ABSL_GUARDED_BY(mu_) = false;
  std::string driver_url_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<App>> apps_ ABSL_GUARDED_BY(mu_);
  // Every run by its id, for its process's reports (a probe's included).
  std::map<std::string, std::weak_ptr<AppRunner>> runs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
