#pragma once
// Where a StreamingContext's work goes: tasks, receivers, cleanups and driver-side output.
// The engine talks only to this interface, so that local mode and the cluster run the same
// code: LocalServices (runtime/local_services.h) runs everything in this process;
// AppServices (driver/cluster_backend.h) sends it to the executors. The driver daemon
// creates one AppServices per context, through a factory it installs on the job's thread.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/conf.h"
#include "proto/task.pb.h"
#include "runtime/task_backend.h"

namespace ember {
namespace internal {

class ContextCore;
class ReceiverTracker;

// How a context's receivers run.
struct ReceiverSettings {
  int64_t block_interval_ms = 200;
  // The batch interval: blocks are also cut at its multiples, so that no block spans two
  // batches and a batch never waits for a block interval to end (0: block interval only).
  int64_t batch_interval_ms = 0;
  int64_t restart_delay_ms = 2000;
  std::string wal_dir;  // the write-ahead log's directory; empty: no log
  // ember.streaming.receiver.maxRate (records per second; 0: none), and the rate each starts
  // at under backpressure (ember.streaming.backpressure.initialRate; 0: none).
  double max_rate = 0;
  double initial_rate = 0;
  // ember.streaming.receiver.maxBufferedBytes (0: no bound).
  int64_t max_buffered_bytes = 0;
};

class ContextServices {
 public:
  virtual ~ContextServices() = default;
  virtual TaskBackend* backend() = 0;
  // Task slots now (the default parallelism).
  virtual int TotalSlots() = 0;
  // Called once before the context starts `receivers` receivers: where receivers share the
  // task slots (local mode), one slot each is set aside. backend() may change.
  virtual void ReserveSlotsForReceivers(int receivers) = 0;
  // Starts one receiver per factory (stream id = index); their blocks and events come back
  // through the tracker's OnBlock/OnEvent.
  virtual absl::Status StartReceivers(const std::vector<proto::OpSpec>& factories,
                                      ReceiverTracker* tracker,
                                      const ReceiverSettings& settings) = 0;
  // Backpressure's new rate for stream `stream_id`'s receiver (under its maxRate).
  virtual void UpdateReceiverRate(int stream_id, double rate) = 0;
  // Returns once every receiver has stopped and reported its last block.
  virtual void StopReceivers() = 0;
  virtual void RemoveBlocks(std::vector<std::string> ids) = 0;
  virtual void ReleaseShuffle(int shuffle_id) = 0;
  // Called at the end of each batch's cleanup: drops cached partitions and released shuffles.
  // `state_run`: the context's run; executors drop state kept for earlier runs.
  // `blocks_before_ms`: no block received before this time is needed any more (0: unknown);
  // executors drop those the driver never heard of (replicas of unreported blocks).
  virtual void EndBatchCleanup(const std::string& state_run, int64_t blocks_before_ms = 0) = 0;
  // The job's driver-side output (print()).
  virtual void Emit(const std::string& text) = 0;
  // Whether received blocks may outlive this process (they do on executors), for recovery.
  virtual bool BlocksOutliveTheDriver() const = 0;
  // The context's constructor has finished: calls into it may begin (a status query, a kill).
  virtual void Attach() = 0;
  // The context is being destroyed: no call reaches it after this returns.
  virtual void Detach() = 0;
};

using ClusterServicesFactory =
    std::function<std::shared_ptr<ContextServices>(ContextCore* ctx, const Conf& conf)>;

// Installed by the driver daemon on the thread that runs a job's entry point (and inherited
// by nothing else): contexts created there with an ember:// master run on the cluster.
void SetThreadClusterServicesFactory(ClusterServicesFactory factory);
const ClusterServicesFactory& ThreadClusterServicesFactory();

}  // namespace internal
}  // namespace ember
