#pragma once
// The driver daemon's applications: each submitted plugin is stored under the work directory,
// loaded (a bad file, a missing entry point or another ABI is an error to the submitter), and
// its entry point runs on a thread of its own, where the StreamingContexts it creates run on
// the cluster (AppServices). Keeps each job's driver-side output for ember-submit to follow,
// and its end state. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/conf.h"
#include "driver/cluster_backend.h"
#include "driver/executor_registry.h"
#include "proto/cluster.pb.h"
#include "runtime/plugin_loader.h"

namespace ember {
namespace internal {

class JobRegistry {
 public:
  struct Options {
    std::string work_dir;
    ExecutorRegistry* executors = nullptr;
    Conf defaults;                      // the driver's configuration; a job's own keys win
    size_t max_output_bytes = 8 << 20;  // per job; older output is dropped beyond it
  };
  explicit JobRegistry(Options options);
  // Kills every running application and waits for their threads.
  ~JobRegistry();

  // The ember:// master URL jobs see in their configuration.
  void SetDriverUrl(std::string url);

  // `recovered_id`: the application was submitted to an earlier run of the driver (its
  // submission is kept in the work directory) and starts again under its id.
  absl::StatusOr<std::string> Submit(const proto::SubmitJobRequest& request,
                                     const std::string& recovered_id = "");
  // Starts again every application of the work directory that had not ended (finished,
  // failed, or killed by a user) when the driver stopped. Returns their ids.
  std::vector<std::string> RecoverAll();
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
  absl::Status Watch(const std::string& app_id, int64_t offset, bool follow,
                     const std::function<bool(const proto::JobEvent&)>& write,
                     const std::function<bool()>& cancelled);
  absl::Status Status(const std::string& app_id, proto::StatusReply* reply);
  absl::StatusOr<std::string> PluginBytes(const std::string& app_id);

  void OnBlock(const proto::ReportBlockRequest& request);
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request);

  void Shutdown();

 private:
  struct App {
    std::string id;
    std::string name;
    std::string plugin_bytes;
    std::shared_ptr<LoadedPlugin> plugin;
    Conf conf;
    std::vector<std::string> args;
    int64_t submitted_ms = 0;
    std::thread thread;

    absl::Mutex mu;
    proto::AppState state ABSL_GUARDED_BY(mu) = proto::APP_RUNNING;
    std::string error ABSL_GUARDED_BY(mu);
    int64_t ended_ms ABSL_GUARDED_BY(mu) = 0;
    std::string output ABSL_GUARDED_BY(mu);
    int64_t output_base ABSL_GUARDED_BY(mu) = 0;  // bytes dropped from the front
    bool killed ABSL_GUARDED_BY(mu) = false;
    bool driver_shutdown ABSL_GUARDED_BY(mu) = false;  // killed because the driver stops
    bool upgrading ABSL_GUARDED_BY(mu) = false;        // stopped to start again with a new plugin
    std::string dir;
    std::vector<std::weak_ptr<AppServices>> services ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<App> Find(const std::string& app_id) const;
  std::shared_ptr<AppServices> CurrentServices(App* app);
  void RunApp(const std::shared_ptr<App>& app);
  void Append(App* app, const std::string& text);
  void FillInfo(App* app, proto::AppInfo* info);
  std::string NewAppId();

  const Options options_;
  absl::Mutex upgrade_mu_;  // one upgrade at a time
  mutable absl::Mutex mu_;
  int next_app_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::string driver_url_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<App>> apps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
