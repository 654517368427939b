#pragma once
// Cuts a job's lineage into stages at shuffle boundaries and runs them: the map stages of
// every shuffle not yet computed (parents first), then the result stage. A failed task is
// retried up to max_failures attempts; a task that finds a map output missing re-runs the map
// stage that lost it. Jobs run one at a time (Spark's spark.streaming.concurrentJobs = 1).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/op.h"
#include "runtime/rdd_graph.h"
#include "runtime/task_backend.h"

namespace ember {
namespace internal {

struct JobMetrics {
  int64_t tasks = 0;
  int64_t failed_attempts = 0;
};

class DagScheduler {
 public:
  DagScheduler(TaskBackend* backend, int max_failures)
      : backend_(backend), max_failures_(max_failures) {}

  absl::StatusOr<std::vector<std::string>> RunJob(const RddRef& rdd, const ResultOp& op,
                                                  const std::vector<int>& partitions,
                                                  Time batch_time);
  JobMetrics metrics() const;

 private:
  // Rounds of recomputing lost map outputs per job (Spark's spark.stage.maxConsecutiveAttempts
  // default), counted apart from the attempts of each task.
  static constexpr int kMaxStageAttempts = 4;

  absl::Status ComputeShuffles(const RddNode& rdd, Time batch_time)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RunResultStage(const RddNode& rdd, const std::vector<int>& parts,
                              const proto::OpSpec& result_spec, int64_t job_id, Time batch_time,
                              std::vector<proto::TaskResult>* results)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks every shuffle of the lineage as not computed.
  void ForgetShuffles(const RddNode& rdd);
  absl::Status RunMapStage(ShuffleDependency& dep, Time batch_time)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the tasks, retrying failures; fills results in order.
  absl::Status RunStage(std::vector<proto::TaskSpec> tasks, std::vector<proto::TaskResult>* results)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  TaskBackend* backend_;
  int max_failures_;
  mutable absl::Mutex mu_;
  int64_t next_job_id_ ABSL_GUARDED_BY(mu_) = 0;
  int next_stage_id_ ABSL_GUARDED_BY(mu_) = 0;
  JobMetrics metrics_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
