#pragma once
// The engine behind one StreamingContext: its clock, schedulers and stream graph, sending its
// work to ContextServices: LocalServices in this process (local mode), or the cluster's
// executors (when the driver daemon runs the job). Created by the job's thread; the job thread and
// the generator thread call back into it. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/conf.h"
#include "common/engine_api.h"
#include "proto/task.pb.h"
#include "runtime/context_services.h"
#include "runtime/dag_scheduler.h"
#include "runtime/job_scheduler.h"
#include "runtime/listener_bus.h"
#include "runtime/local_services.h"
#include "runtime/rate_estimator.h"
#include "runtime/receiver_tracker.h"
#include "runtime/stream_graph.h"
#include "runtime/streaming_progress.h"
#include "util/clock.h"
#include "util/op_registry.h"

namespace ember {

enum class StreamingContextState;

namespace internal {

// Where print() output goes; stdout unless a host (ember-submit, the driver, a test) says.
void SetDefaultOutputSink(OutputSink sink);

// Stops every StreamingContext of this process (SIGTERM in ember-submit: with
// ember.streaming.stopGracefullyOnShutdown, gracefully).
void StopAllContexts(bool graceful);

class ContextCore;
// The newest context of this process that is alive (created and not yet destroyed); null
// when there is none.
ContextCore* NewestLiveContext();

class DirectKafkaStream;

class ContextCore : public std::enable_shared_from_this<ContextCore> {
 public:
  // `clock`: the batches' clock; null for the system's.
  ContextCore(Conf conf, Duration batch_interval, std::shared_ptr<Clock> clock = nullptr);
  ~ContextCore();

  const Conf& conf() const { return conf_; }
  Duration batch_interval() const { return batch_interval_; }
  // Batch times count from here: the first batch is zero_time + batch interval.
  Time zero_time() const { return zero_time_; }
  Clock& clock() { return *clock_; }
  ReceiverTracker& receiver_tracker() { return *tracker_; }
  int DefaultParallelism() const { return default_parallelism_; }

  // ------------------------------------------------------------------------- graph
  void CheckCanAddStreams() const;
  // `keeps_state`: the output that computes a stateful stream every batch; after a recovery,
  // the batches that had completed run again for these outputs only.
  void AddOutput(StreamRef stream, std::function<void(const RddRef&, Time)> fn,
                 bool keeps_state = false);
  void NameLastOutput(const std::string& name);
  void AddStreamingListener(std::shared_ptr<StreamingListener> listener);
  void AddStatefulStream(StreamNode* stream, StatefulStream state);
  void SetCheckpointInterval(StreamNode* stream, Duration interval);
  void SetCheckpointDirectory(const std::string& directory);
  // The newest state checkpoint of a stateful stream (engine_api.h).
  int64_t LatestStateCheckpoint(const StreamNode* stream, std::vector<std::string>* parts);
  std::string NewStateKey();
  std::string checkpoint_directory() const {
    absl::MutexLock lock(&mu_);
    return checkpoint_dir_;
  }
  StreamRef AddReceiverStream(std::shared_ptr<const ReceiverFactoryOp> factory,
                              std::shared_ptr<const DecoderOp> decoder);
  StreamRef AddFileStream(FileInputStream::Options options);
  // A direct Kafka stream: computed when each batch is generated, its ranges checkpointed.
  StreamRef AddKafkaStream(std::shared_ptr<DirectKafkaStream> stream);

  // ------------------------------------------------------------------------ engine
  std::vector<std::string> RunJob(const RddRef& rdd, const ResultOp& op,
                                  const std::vector<int>& partitions);
  void ReleaseShuffle(int shuffle_id);
  void EmitOutput(const std::string& text);
  void SetOutputSink(OutputSink sink);
  // Dashboards (engine_api.h): registered with the graph, updated by their output each batch.
  void RegisterDashboard(const DashboardUpdate& spec);
  void PostDashboard(DashboardUpdate update);
  // What a library keeps per context (the SQL session): made by `make` on first use, destroyed
  // with the context.
  std::shared_ptr<void> Attachment(const std::string& key,
                                   const std::function<std::shared_ptr<void>()>& make);
  friend ContextCore* NewestLiveContext();

  // --------------------------------------------------------------------- lifecycle
  void Start();
  void Stop(bool graceful);
  // Waits until stopped; returns false on timeout (timeout < 0: forever). Throws the job's
  // first error as EmberError.
  bool AwaitTermination(int64_t timeout_ms);
  StreamingContextState state() const;

  // For tests and monitoring.
  bool WaitForBatch(Time t, absl::Duration timeout);
  std::vector<BatchInfo> CompletedBatches() const;
  // Local mode's in-process executor (tests and benchmarks); null on a cluster.
  LocalServices* local_services() const { return dynamic_cast<LocalServices*>(services_.get()); }
  const std::shared_ptr<StreamingProgress>& progress() const { return progress_; }
  // Waits until the listeners have been told everything posted so far.
  bool WaitForListeners(absl::Duration timeout) { return bus_->WaitUntilEmpty(timeout); }

 private:
  std::string RunBatch(Time t);
  void CleanupBatch(Time t);
  void ReportError(const std::string& message);
  // Restores every stateful stream from the newest time all of them checkpointed; returns
  // that time, or -1 when there is none.
  int64_t RestoreState();
  // At checkpoint-interval batches, or with `force` (a graceful stop).
  void CheckpointState(Time t, bool force = false);
  // The stream graph's shape: a line per stream and output (proto::MetadataCheckpoint.graph).
  std::vector<std::string> GraphShape();
  // Throws when a checkpoint's graph is not this job's.
  void CheckShape(const proto::MetadataCheckpoint& cp, const std::string& dir);
  // Takes a recovered checkpoint's times, allocations and file selections; returns the first
  // batch to run.
  Time Recover(const proto::MetadataCheckpoint& cp, int64_t state_ms);
  void WriteMetadata(Time t);
  // Copies the application's submission (plugin included) into the checkpoint directory when
  // it is new or changed.
  void KeepSubmission(const std::string& dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(meta_mu_);
  // Backpressure: a new rate per input stream from the completed batch (`receiver_inputs`:
  // each receiver stream's records in it).
  void UpdateRates(const BatchInfo& info, const std::map<int, StreamInputInfo>& receiver_inputs);
  void PostBatchEvent(const BatchInfo& info, BatchEvent event);
  void PostReceiverEvent(const ReceiverStatus& status, proto::ReceiverEvent event);

  Time zero_time_;
  Duration input_remember_;  // how long received blocks are kept after their batch
  const Conf conf_;
  const Duration batch_interval_;
  // Where tasks, receivers and cleanups go: LocalServices, or the cluster's AppServices.
  // Declared before everything that uses it, so that it is destroyed after them.
  std::shared_ptr<ContextServices> services_;
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<ListenerBus> bus_;
  std::shared_ptr<StreamingProgress> progress_;
  int max_failures_ = 1;
  int default_parallelism_ = 1;
  OpResolver resolver_;
  std::unique_ptr<DagScheduler> dag_;
  std::unique_ptr<ReceiverTracker> tracker_;
  std::unique_ptr<JobScheduler> scheduler_;

  absl::Mutex stop_mu_;  // held for a whole stop sequence
  mutable absl::Mutex mu_;
  StreamingContextState state_ ABSL_GUARDED_BY(mu_){};  // INITIALIZED, the first enumerator
  struct Output {
    StreamRef stream;
    std::function<void(const RddRef&, Time)> fn;
    std::string name = "foreachRDD";  // what the UI and listeners show
    bool keeps_state = false;
  };
  std::vector<Output> outputs_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dashboards_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FileInputStream>> file_streams_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<DirectKafkaStream>> kafka_streams_ ABSL_GUARDED_BY(mu_);
  // Backpressure (ember.streaming.backpressure.enabled): an estimator per input stream.
  bool backpressure_ = false;
  double initial_rate_ = 0;
  PidRateEstimator::Options rate_options_;
  absl::Mutex rate_mu_;
  std::map<const void*, std::unique_ptr<PidRateEstimator>> estimators_ ABSL_GUARDED_BY(rate_mu_);
  // ember.streaming.receiver.maxRate, and the newest estimate sent to each receiver stream:
  // the limit in force is the smaller (as the receivers' supervisors apply them).
  int64_t receiver_max_rate_ = 0;
  std::map<int, double> receiver_rates_ ABSL_GUARDED_BY(rate_mu_);
  struct Stateful {
    StreamNode* stream;
    StatefulStream state;
    Duration interval;
  };
  std::vector<Stateful> stateful_ ABSL_GUARDED_BY(mu_);
  std::string checkpoint_dir_ ABSL_GUARDED_BY(mu_);
  const std::string run_id_;
  uint64_t creation_ = 0;  // orders the live contexts (NewestLiveContext)
  std::map<std::string, std::shared_ptr<void>> attachments_
      ABSL_GUARDED_BY(mu_);  // tells this run's state keys from an earlier run's
  int next_state_key_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> graph_shape_ ABSL_GUARDED_BY(mu_);
  int64_t completed_ms_ ABSL_GUARDED_BY(mu_) = -1;       // every batch up to it has completed
  int64_t state_ms_ ABSL_GUARDED_BY(mu_) = -1;           // the newest complete state checkpoint
  int64_t replay_through_ms_ ABSL_GUARDED_BY(mu_) = -1;  // batches run again for state only
  absl::Mutex meta_mu_;                                  // one metadata checkpoint write at a time
  std::string kept_submission_ ABSL_GUARDED_BY(meta_mu_);  // size@mtime of the copied one
  // The output operations of the batches being processed, for their completion events.
  std::map<int64_t, std::map<int, OutputOperationInfo>> batch_ops_ ABSL_GUARDED_BY(mu_);
  std::string error_ ABSL_GUARDED_BY(mu_);
  OutputSink sink_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
