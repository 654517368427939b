#include "runtime/dag_scheduler.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "runtime/streaming_progress.h"
#include "util/op_registry.h"
#include "util/task_status.h"

namespace ember {
namespace internal {

absl::StatusOr<std::vector<std::string>> DagScheduler::RunJob(const RddRef& rdd, const ResultOp& op,
                                                              const std::vector<int>& partitions,
                                                              Time batch_time) {
  absl::MutexLock lock(&mu_);
  int64_t job_id = next_job_id_++;
  std::vector<int> parts = partitions;
  if (parts.empty()) {
    for (int p = 0; p < rdd->num_partitions(); ++p) parts.push_back(p);
  }
  if (parts.empty()) return std::vector<std::string>{};
  for (int p : parts) {
    if (p < 0 || p >= rdd->num_partitions()) {
      return absl::InvalidArgumentError(absl::StrCat("no partition ", p));
    }
  }
  proto::OpSpec result_spec = ToSpec(op);
  for (int round = 0;; ++round) {
    std::vector<proto::TaskResult> results;
    absl::Status s = ComputeShuffles(*rdd, batch_time);
    if (s.ok()) s = RunResultStage(*rdd, parts, result_spec, job_id, batch_time, &results);
    if (s.ok()) {
      std::vector<std::string> out;
      out.reserve(results.size());
      for (auto& r : results) out.push_back(std::move(*r.mutable_result()));
      return out;
    }
    // A lost map output, found by the result stage or by a map stage reading an earlier
    // shuffle: recompute every shuffle of the lineage, then the stages, a bounded number of
    // times (Spark's spark.stage.maxConsecutiveAttempts), apart from the task attempts.
    if (!absl::IsNotFound(s) || round + 1 >= kMaxStageAttempts) return s;
    ForgetShuffles(*rdd);
    LOG(WARNING) << "job " << job_id << ": " << s.message() << "; recomputing its shuffles";
  }
}

void DagScheduler::ForgetShuffles(const RddNode& rdd) {
  std::vector<std::shared_ptr<ShuffleDependency>> deps;
  rdd.CollectShuffles(&deps);
  for (auto& d : deps) {
    d->done = false;
    ForgetShuffles(*d->parent);
  }
}

absl::Status DagScheduler::RunResultStage(const RddNode& rdd, const std::vector<int>& parts,
                                          const proto::OpSpec& result_spec, int64_t job_id,
                                          Time batch_time,
                                          std::vector<proto::TaskResult>* results) {
  int stage_id = next_stage_id_++;
  std::vector<proto::TaskSpec> tasks;
  for (int p : parts) {
    proto::TaskSpec t;
    t.set_job_id(job_id);
    t.set_stage_id(stage_id);
    t.set_partition(p);
    t.set_batch_time_ms(batch_time.milliseconds());
    rdd.Describe(p, t.mutable_root());
    *t.mutable_result() = result_spec;
    tasks.push_back(std::move(t));
  }
  return RunStage(std::move(tasks), results);
}

absl::Status DagScheduler::ComputeShuffles(const RddNode& rdd, Time batch_time) {
  std::vector<std::shared_ptr<ShuffleDependency>> deps;
  rdd.CollectShuffles(&deps);
  for (auto& dep : deps) {
    if (dep->done) continue;
    absl::Status s = ComputeShuffles(*dep->parent, batch_time);
    if (!s.ok()) return s;
    s = RunMapStage(*dep, batch_time);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status DagScheduler::RunMapStage(ShuffleDependency& dep, Time batch_time) {
  int stage_id = next_stage_id_++;
  proto::OpSpec writer = ToSpec(*dep.writer);
  std::vector<proto::TaskSpec> tasks;
  for (int m = 0; m < dep.parent->num_partitions(); ++m) {
    proto::TaskSpec t;
    t.set_job_id(next_job_id_ - 1);
    t.set_stage_id(stage_id);
    t.set_partition(m);
    t.set_batch_time_ms(batch_time.milliseconds());
    dep.parent->Describe(m, t.mutable_root());
    auto* w = t.mutable_shuffle_write();
    w->set_shuffle_id(dep.shuffle_id);
    w->set_map_id(m);
    w->set_num_reducers(dep.num_reducers);
    *w->mutable_writer() = writer;
    tasks.push_back(std::move(t));
  }
  std::vector<proto::TaskResult> results;
  absl::Status s = RunStage(std::move(tasks), &results);
  if (s.ok()) dep.done = true;
  return s;
}

absl::Status DagScheduler::RunStage(std::vector<proto::TaskSpec> tasks,
                                    std::vector<proto::TaskResult>* results) {
  results->assign(tasks.size(), proto::TaskResult());
  std::vector<size_t> pending(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) pending[i] = i;
  metrics_.tasks += static_cast<int64_t>(tasks.size());
  Monitor::Global().CountTasks(static_cast<int64_t>(tasks.size()), 0);
  for (int attempt = 0; !pending.empty(); ++attempt) {
    std::vector<proto::TaskSpec> batch;
    for (size_t i : pending) {
      tasks[i].set_attempt(attempt);
      batch.push_back(tasks[i]);
    }
    auto outcomes = backend_->RunTasks(batch);
    std::vector<size_t> failed;
    absl::Status last_error;
    int64_t last_failed_partition = -1;
    for (size_t k = 0; k < pending.size(); ++k) {
      if (outcomes[k].ok()) {
        (*results)[pending[k]] = std::move(*outcomes[k]);
        continue;
      }
      last_error = outcomes[k].status();
      last_failed_partition = tasks[pending[k]].partition();
      // Data that is gone will not come back by retrying the same task: a lost map output
      // (its stage runs again), a lost state partition (its stream rebuilds it).
      if (absl::IsNotFound(last_error)) return last_error;
      if (IsStateLost(last_error)) return last_error;
      failed.push_back(pending[k]);
      ++metrics_.failed_attempts;
      Monitor::Global().CountTasks(0, 1);
      LOG(WARNING) << "task " << tasks[pending[k]].partition() << " of stage "
                   << tasks[pending[k]].stage_id() << " failed (attempt " << attempt + 1 << "/"
                   << max_failures_ << "): " << last_error.message();
    }
    if (!failed.empty() && attempt + 1 >= max_failures_) {
      return absl::AbortedError(absl::StrCat(
          "Job aborted: task ", last_failed_partition, " of stage ", tasks[failed[0]].stage_id(),
          " failed ", max_failures_, " times; most recent failure: ", last_error.message()));
    }
    pending = std::move(failed);
  }
  return absl::OkStatus();
}

JobMetrics DagScheduler::metrics() const {
  absl::MutexLock lock(&mu_);
  return metrics_;
}

}  // namespace internal
}  // namespace ember
