#pragma once
// One application's work on one executor: its plugin, its tasks, receivers, map outputs,
// cached partitions and state. It runs in the application's task process (task_process.h),
// which the executor starts and supervises; with isolation=thread, in the executor's own.
//
// Tasks run through the same task runner local mode uses, reading blocks from this executor's
// store (or a peer that holds a replica) and reduce buckets from the executors that ran the
// maps. Thread-safe.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "executor/peer_client.h"
#include "executor/receiver_host.h"
#include "proto/cluster.pb.h"
#include "runtime/block_store.h"
#include "runtime/plugin_loader.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

class AppHost {
 public:
  struct Options {
    std::string app_id;
    std::string plugin_path;             // fetched and checked by the executor
    std::string self;                    // this executor's address: its own blocks and map outputs
    std::string secret;                  // for the peers
    BlockStore* local_blocks = nullptr;  // this executor's blocks (read only)
    PeerClient* peers = nullptr;
    // Where its receivers' blocks and reports go; `app_id` is set from above.
    ReceiverHost::Options receivers;
  };
  // Loads the plugin (a failure names it).
  static absl::StatusOr<std::unique_ptr<AppHost>> Create(Options options);
  // Stops the receivers, each reporting its last block.
  ~AppHost();

  // A failed task's status carries its kind (util/task_status.h).
  absl::StatusOr<proto::TaskResult> RunTask(const proto::TaskSpec& task);
  absl::Status StartReceiver(const proto::StartReceiverRequest& request);
  void StopReceiver(const proto::StopReceiverRequest& request);
  void UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request);
  void StopReceivers(const std::string& reason);
  // This executor's buckets of the request's map outputs, each in chunks of at most
  // rpc::kChunkBytes, a missing one marked; stops when `write` returns false.
  void WriteShuffle(const proto::FetchShuffleRequest& request,
                    const std::function<bool(const proto::ShuffleChunk&)>& write);
  void Cleanup(const proto::CleanupRequest& request);
  int receivers() const { return receivers_.size(); }
  const std::string& plugin_version() const { return plugin_->version(); }

 private:
  AppHost(Options options, std::shared_ptr<LoadedPlugin> plugin);
  absl::StatusOr<std::shared_ptr<const std::string>> FetchBlock(const proto::BlockInput& block);
  absl::StatusOr<std::vector<std::string>> FetchShuffleBuckets(const proto::ShuffleRef& ref,
                                                               int reduce_id);

  const Options options_;
  std::shared_ptr<LoadedPlugin> plugin_;
  OpResolver resolver_;
  ShuffleStore shuffles_;
  PartitionCache cache_;
  StateStore states_;  // destroyed before the plugin whose code its state objects are
  ReceiverHost receivers_;
};

// A failed call that carries a task-level failure: the status in the reply.
void FailInReply(const absl::Status& s, proto::RunTaskReply* reply);

}  // namespace internal
}  // namespace ember
