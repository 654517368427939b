#pragma once
// What a StreamingContext uses when its job runs on a cluster: the driver daemon creates one
// ClusterServices per context (through a factory it installs on the job's thread) and the
// context sends its tasks, receivers, cleanups and output there instead of to in-process
// slots. Local mode has none.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/conf.h"
#include "runtime/task_backend.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

class ContextCore;
class ReceiverTracker;

class ClusterServices {
 public:
  virtual ~ClusterServices() = default;
  virtual TaskBackend* backend() = 0;
  // Task slots of the live executors now (the default parallelism).
  virtual int TotalSlots() = 0;
  // Places one receiver per factory (stream id = index) on the executors; their blocks and
  // events come back through the tracker's OnBlock/OnEvent.
  virtual absl::Status StartReceivers(const std::vector<proto::OpSpec>& factories,
                                      ReceiverTracker* tracker, int64_t block_interval_ms,
                                      int64_t restart_delay_ms,
                                      const std::string& wal_dir) = 0;
  // Returns once every receiver has stopped and reported its last block.
  virtual void StopReceivers() = 0;
  virtual void RemoveBlocks(std::vector<std::string> ids) = 0;
  virtual void ReleaseShuffle(int shuffle_id) = 0;
  // Called at the end of each batch's cleanup: drops cached partitions and released shuffles.
  // `state_run`: the context's run; executors drop state kept for earlier runs.
  virtual void EndBatchCleanup(const std::string& state_run) = 0;
  virtual void Emit(const std::string& text) = 0;
  // The context is being destroyed: no call reaches it after this returns.
  virtual void Detach() = 0;
};

using ClusterServicesFactory =
    std::function<std::shared_ptr<ClusterServices>(ContextCore* ctx, const Conf& conf)>;

// Installed by the driver daemon on the thread that runs a job's entry point (and inherited
// by nothing else): contexts created there with an ember:// master run on the cluster.
void SetThreadClusterServicesFactory(ClusterServicesFactory factory);
const ClusterServicesFactory& ThreadClusterServicesFactory();

}  // namespace internal
}  // namespace ember
