#pragma once
// Tracks the receivers of a job and the blocks they report, and allocates blocks to batches:
// batch T takes every block reported for an interval ending at or before T that no earlier
// batch took. Before allocating, it waits (bounded) until every running receiver has cut its
// blocks up to T, so that a batch's contents do not depend on thread timing.
//
// The receivers themselves run where the context's services put them (ContextServices): in
// this process in local mode, on executors on a cluster. Thread-safe.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/receiver.h"
#include "proto/task.pb.h"
#include "runtime/block_store.h"
#include "runtime/context_services.h"
#include "runtime/receiver_supervisor.h"
#include "util/clock.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

struct ReceiverStatus {
  int stream_id = 0;
  bool active = false;
  std::string executor_id;  // "driver" in local mode
  std::string last_error;
  int64_t last_error_time_ms = 0;
};

class ReceiverTracker {
 public:
  struct Options {
    Clock* clock = nullptr;
    Duration block_interval = Milliseconds(200);
    Duration batch_interval = Milliseconds(0);  // ReceiverSettings::batch_interval_ms
    int64_t restart_delay_ms = 2000;
    // Where the receivers run: in this process (local mode) or on executors.
    ContextServices* services = nullptr;
    // Told of every receiver event (started, error, stopped) with the receiver's status.
    std::function<void(const ReceiverStatus&, proto::ReceiverEvent event)> on_event;
    // How long (real time) a batch waits for receivers to cut their blocks up to its time.
    absl::Duration watermark_wait = absl::Seconds(2);
    // ReceiverSettings::max_rate and initial_rate.
    double max_rate = 0;
    double initial_rate = 0;
    int64_t max_buffered_bytes = 0;  // ReceiverSettings::max_buffered_bytes
  };
  explicit ReceiverTracker(Options options) : options_(std::move(options)) {}
  ~ReceiverTracker();

  int AddStream(std::shared_ptr<const ReceiverFactoryOp> factory);
  int num_streams() const;

  // Starts every receiver through the services (each built from its factory's spec).
  absl::Status StartAll();
  void StopAll();

  // Receivers write each block to this directory before reporting it (write-ahead log).
  void SetWalDir(std::string dir);

  // Allocates the blocks reported up to t to batch t (a batch restored from a checkpoint
  // keeps the blocks it had).
  void AllocateBatch(Time t);
  std::vector<ReceivedBlock> BlocksOfBatch(int stream_id, Time t) const;
  int64_t RecordsOfBatch(Time t) const;
  // Forgets the allocations of the batches at or before t and returns their blocks, for
  // deletion.
  std::vector<std::string> ReleaseThrough(Time t);
  bool HasUnallocatedBlocks() const;

  // For the metadata checkpoint: every allocation not yet released, and the blocks not yet
  // allocated.
  void Snapshot(proto::MetadataCheckpoint* cp) const;
  // Takes them back after a restart. `blocks_survive`: the blocks' executors may still hold
  // them (cluster); otherwise only logged blocks are kept. Blocks in the write-ahead log that
  // the checkpoint does not know of (reported after it was written) are taken as unallocated.
  // Returns the records dropped.
  int64_t Restore(const proto::MetadataCheckpoint& cp, bool blocks_survive);
  std::vector<ReceiverStatus> Statuses() const;

  // Called by the receivers' supervisors, in this process or (through the services)
  // on executors. A block reported again (its first report's reply was lost, and the executor
  // tried again) is taken once. Returns the time through which batches are processed (0: none
  // yet), for the receivers' bound on buffered bytes.
  int64_t OnBlock(const ReceivedBlock& block);
  // Every batch through `t` is processed: their blocks no longer count as buffered.
  void MarkProcessed(Time t);
  void OnEvent(int stream_id, proto::ReceiverEvent event, const std::string& message,
               const std::string& executor_id = "driver");

 private:
  Options options_;
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<proto::OpSpec> factories_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> watermarks_ ABSL_GUARDED_BY(mu_);  // stream -> blocks cut up to
  std::map<int, ReceiverStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::string wal_dir_ ABSL_GUARDED_BY(mu_);
  int64_t released_ms_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t processed_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ReceivedBlock> unallocated_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::vector<ReceivedBlock>> allocated_ ABSL_GUARDED_BY(mu_);
  // The ids of the blocks taken, oldest first, until their time is kRememberReported behind
  // the last released batch: a report repeated later than that is not expected (an executor
  // stops repeating once the heartbeat timeout fences it).
  static constexpr int64_t kRememberReportedMs = 5 * 60 * 1000;
  void Remember(const ReceivedBlock& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::flat_hash_set<std::string> reported_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<int64_t, std::string>> reported_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
