#pragma once
// One application's driver side, in the process that runs it: its plugin loaded and its
// entry point run, every StreamingContext it makes running on the cluster (AppServices over
// `executors`). It lives in the application's driver process (app_process.h), which
// ember-driver starts and supervises; with isolation=thread, in ember-driver itself.
// Thread-safe.

#include <functional>
#include <memory>
#include <string>
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

class AppDriver {
 public:
  struct Options {
    std::string app_id;
    std::string plugin_path;   // checked as data by the daemon
    std::string plugin_shown;  // the plugin's name in messages (the user's file name)
    Conf conf;                 // master, name and application id set
    std::vector<std::string> args;
    ExecutorRegistry* executors = nullptr;
    std::function<void(const std::string&)> emit;  // the job's output
  };
  // Loads the plugin; an error names `plugin_shown`, not the daemon's copy.
  static absl::StatusOr<std::unique_ptr<AppDriver>> Load(Options options);

  // Runs the entry point on this thread until it returns; its error, if it failed.
  absl::Status Run();
  // Stops the application's contexts (a kill, an upgrade): the entry point returns once its
  // context has stopped. A context made after this is stopped as it starts.
  void Stop(bool graceful);
  // True once a context has started (and not stopped).
  bool ContextActive();

  // What executors report about the application's receivers.
  // The processed-through time of ReportBlockReply (0: not known).
  int64_t OnBlock(const proto::ReportBlockRequest& request);
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request);

 private:
  AppDriver(Options options, std::shared_ptr<LoadedPlugin> plugin)
      : options_(std::move(options)), plugin_(std::move(plugin)) {}
  std::shared_ptr<AppServices> CurrentServices();

  const Options options_;
  std::shared_ptr<LoadedPlugin> plugin_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::weak_ptr<AppServices>> services_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
