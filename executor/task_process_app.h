#pragma once
// An application's task process, seen from ember-executor: it starts the process (this
// executable with --task-process, the launch on its standard input), forwards the
// application's calls to it over an abstract unix socket, and watches it.
//
// When the process dies (a segfault, an abort, an exception that escaped a thread, the
// kernel's kill), the tasks it was running fail with the signal named, and every receiver it
// ran is reported to the driver as lost with its process, so that the driver places it again.
// Its map outputs and state are gone with it: the driver recomputes and rebuilds them as after
// an executor's loss. The executor starts a new process for the application's next call.
// Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executor/app_handle.h"
#include "proto/cluster.grpc.pb.h"
#include "proto/isolation.pb.h"
#include "util/child_process.h"

namespace ember {
namespace internal {

class TaskProcessApp : public AppHandle {
 public:
  struct Options {
    std::string program;              // this executable
    proto::TaskProcessLaunch launch;  // listen_address and token are filled in here
    int64_t memory_limit_bytes = 0;   // ember.executor.memory, setrlimit(RLIMIT_DATA)
    // A receiver of the process died with it: the driver places it again.
    std::function<void(const proto::ReportReceiverEventRequest&)> report_event;
    absl::Duration start_timeout = absl::Seconds(30);
  };
  // Starts the process and waits until it serves (its plugin loaded, or the load's error
  // ready to answer every call with); an error when it dies or times out first.
  static absl::StatusOr<std::unique_ptr<TaskProcessApp>> Start(Options options);
  // Kills the process if it still runs.
  ~TaskProcessApp() override;

  void RunTask(const proto::RunTaskRequest& request, proto::RunTaskReply* reply) override;
  absl::Status StartReceiver(const proto::StartReceiverRequest& request) override;
  void StopReceiver(const proto::StopReceiverRequest& request) override;
  void UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request) override;
  absl::Status FetchShuffle(const proto::FetchShuffleRequest& request,
                            const std::function<bool(const proto::ShuffleChunk&)>& write) override;
  void Cleanup(const proto::CleanupRequest& request) override;
  int receivers() const override;
  void Shutdown(const std::string& reason) override;
  bool usable() const override;

 private:
  explicit TaskProcessApp(Options options) : options_(std::move(options)) {}
  void OnExit(const ExitStatus& status);
  // Why a call to the process failed: its death, named, when it died (waits briefly for it).
  std::string Failure(const grpc::Status& call);

  Options options_;
  std::unique_ptr<ChildProcess> child_;
  std::unique_ptr<proto::Executor::Stub> stub_;
  mutable absl::Mutex mu_;
  // The receivers it runs: stream -> incarnation.
  std::map<int, int64_t> receivers_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace ember
