#pragma once
// One StreamingContext's link to the cluster (ContextServices): its tasks go to executors'
// slots with block locality, map outputs are tracked by executor so reducers fetch them from
// there, receivers are spread over executors and restarted elsewhere when theirs is lost, and
// cleanups reach every executor. Created by the driver's job registry for each context a job
// makes. Thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/conf.h"
#include "driver/executor_registry.h"
#include "proto/cluster.pb.h"
#include "runtime/context_services.h"
#include "runtime/job_scheduler.h"
#include "runtime/receiver_tracker.h"

namespace ember {
namespace internal {

class AppServices : public ContextServices,
                    public TaskBackend,
                    public std::enable_shared_from_this<AppServices> {
 public:
  struct Options {
    std::string app_id;
    ExecutorRegistry* executors = nullptr;
    std::function<void(const std::string&)> emit;
    int replication = 2;
    // How long a task waits for a free executor slot before it fails.
    absl::Duration slot_wait = absl::Seconds(60);
    // Receiver incarnations start above it: a later context's (or a restarted driver
    // process's) never collide with the runs an earlier one started.
    int64_t incarnation_base = 0;
  };
  AppServices(Options options, ContextCore* ctx);
  // True once the application's context has started (and not stopped).
  bool ContextActive();
  ~AppServices() override;
  // Subscribes to executor losses (needs shared_from_this, so after construction).
  void Init();

  // ContextServices
  TaskBackend* backend() override { return this; }
  int TotalSlots() override { return options_.executors->TotalSlots(); }
  // Receivers run on the executors' own threads, not in task slots.
  void ReserveSlotsForReceivers(int) override {}
  absl::Status StartReceivers(const std::vector<proto::OpSpec>& factories, ReceiverTracker* tracker,
                              const ReceiverSettings& settings) override;
  void UpdateReceiverRate(int stream_id, double rate) override;
  void StopReceivers() override;
  void RemoveBlocks(std::vector<std::string> ids) override;
  void ReleaseShuffle(int shuffle_id) override;
  void EndBatchCleanup(const std::string& state_run, int64_t blocks_before_ms = 0) override;
  void Emit(const std::string& text) override { options_.emit(text); }
  // Replicated on executors, blocks outlive a driver restart.
  bool BlocksOutliveTheDriver() const override { return true; }
  void Attach() override;
  void Detach() override;

  // TaskBackend
  std::vector<absl::StatusOr<proto::TaskResult>> RunTasks(
      const std::vector<proto::TaskSpec>& tasks) override;
  int TaskSlots() const override { return options_.executors->TotalSlots(); }

  // From the driver service: what executors report about this app's receivers.
  // The tracker's processed-through time (0: not known).
  int64_t OnBlock(const proto::ReportBlockRequest& request);
  void OnReceiverEvent(const proto::ReportReceiverEventRequest& request);

  // Stops the context (a kill): pending slot waits give up.
  void StopContext(bool graceful = false);

 private:
  struct Receiver {
    proto::OpSpec factory;
    int64_t incarnation = 0;
    ExecutorPtr executor;  // null while not placed
    int failures = 0;      // consecutive failed placements
    absl::Time next_try;
    bool given_up = false;
    double rate = 0;   // backpressure's, sent with each start and update
    std::string move;  // why it must move off its executor (it cannot store blocks)
  };

  absl::StatusOr<proto::TaskResult> RunOne(const proto::TaskSpec& task);
  // One try on one executor (`used`); `unreachable` when the call could not reach it.
  absl::StatusOr<proto::TaskResult> RunAttempt(proto::TaskSpec task, ExecutorPtr* used,
                                               bool* unreachable);
  void AddMapLocations(proto::ComputeNode* node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnExecutorLost(const ExecutorPtr& e, const std::string& reason);
  void OnExecutorHealth(const ExecutorPtr& e, const std::string& unhealthy);
  // Stops run `incarnation` of the stream's receiver on `e`; returns once it has stopped.
  grpc::Status StopReceiverOn(const ExecutorPtr& e, int stream_id, int64_t incarnation,
                              const std::string& reason);
  // Stops the receivers marked to move (on the keeper's thread), then lets them be placed.
  void MoveReceivers();
  void KeeperLoop();
  bool PlaceOne(int stream_id);
  std::vector<ExecutorPtr> Targets() const;

  const Options options_;
  // The context, once Attach() says it is complete (a status call or a kill while its
  // constructor runs must not reach it half built); `constructing_` until then.
  ContextCore* ctx_ ABSL_GUARDED_BY(ctx_mu_) = nullptr;
  ContextCore* constructing_ ABSL_GUARDED_BY(ctx_mu_);
  bool stop_requested_ ABSL_GUARDED_BY(ctx_mu_) = false;
  bool stop_graceful_ ABSL_GUARDED_BY(ctx_mu_) = false;
  absl::Mutex ctx_mu_;
  std::atomic<bool> stopping_{false};
  int listener_ = 0;
  int health_listener_ = 0;

  mutable absl::Mutex mu_;
  // shuffle id -> address of the executor holding each map's output
  std::map<int, std::vector<std::string>> map_outputs_ ABSL_GUARDED_BY(mu_);
  // "state key/partition" -> the executor holding that partition of a stream's state.
  std::map<std::string, std::string> state_owners_ ABSL_GUARDED_BY(mu_);
  std::vector<int> released_shuffles_ ABSL_GUARDED_BY(mu_);
  ReceiverTracker* tracker_ ABSL_GUARDED_BY(mu_) = nullptr;
  ReceiverSettings settings_ ABSL_GUARDED_BY(mu_);
  std::map<int, Receiver> receivers_ ABSL_GUARDED_BY(mu_);
  int64_t next_incarnation_ ABSL_GUARDED_BY(mu_);
  bool receivers_running_ ABSL_GUARDED_BY(mu_) = false;
  bool keeper_wake_ ABSL_GUARDED_BY(mu_) = false;
  std::thread keeper_;
};

}  // namespace internal
}  // namespace ember
