#pragma once
// Tracks the receivers of a job and the blocks they report, and allocates blocks to batches:
// batch T takes every block reported for an interval ending at or before T that no earlier
// batch took. Before allocating, it waits (bounded) until every running receiver has cut its
// blocks up to T, so that a batch's contents do not depend on thread timing.
//
// In local mode it also runs the receivers, in-process, through the same supervisor code the
// executors use; on a cluster the cluster services place them on executors. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/op_registry.h"
#include "common/receiver.h"
#include "driver/cluster_services.h"
#include "executor/block_store.h"
#include "executor/receiver_supervisor.h"

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
    int64_t restart_delay_ms = 2000;
    BlockStore* store = nullptr;
    // On a cluster the receivers run on executors, placed by these services.
    ClusterServices* cluster = nullptr;
    // Told of every receiver event (started, error, stopped) with the receiver's status.
    std::function<void(const ReceiverStatus&, const std::string& event)> on_event;
    // How long (real time) a batch waits for receivers to cut their blocks up to its time.
    absl::Duration watermark_wait = absl::Seconds(2);
  };
  explicit ReceiverTracker(Options options) : options_(std::move(options)) {}
  ~ReceiverTracker();

  int AddStream(std::shared_ptr<const ReceiverFactoryOp> factory);
  int num_streams() const;

  // Builds every receiver from its factory's spec (as an executor would) and starts it.
  absl::Status StartAll(const OpResolver& ops);
  void StopAll();

  void AllocateBatch(Time t);
  std::vector<ReceivedBlock> BlocksOfBatch(int stream_id, Time t) const;
  int64_t RecordsOfBatch(Time t) const;
  // Forgets the allocations of the batches at or before t and returns their blocks, for
  // deletion.
  std::vector<std::string> ReleaseThrough(Time t);
  bool HasUnallocatedBlocks() const;
  std::vector<ReceiverStatus> Statuses() const;

  // Called by the receivers' supervisors, in this process or (through the cluster services)
  // on executors.
  void OnBlock(const ReceivedBlock& block);
  void OnEvent(int stream_id, const std::string& event, const std::string& message,
               const std::string& executor_id = "driver");

 private:

  Options options_;
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<proto::OpSpec> factories_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<ReceiverSupervisor>> supervisors_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> watermarks_ ABSL_GUARDED_BY(mu_);  // stream -> blocks cut up to
  std::map<int, ReceiverStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedBlock> unallocated_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::vector<ReceivedBlock>> allocated_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
