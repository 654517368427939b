#pragma once
// The executor daemon's heart: the gRPC Executor service (proto/cluster.proto) and the link to
// the driver (registration with backoff, heartbeats, re-registration after a driver restart).
//
// Per application it keeps the job's plugin (fetched from the driver once, loaded from a new
// file name), its shuffle outputs and cached partitions. Tasks run in `slots` slots through
// the same task runner local mode uses, reading blocks from the RocksDB store (or a peer that
// holds a replica) and reduce buckets from the executors that ran the maps. Receivers run
// under the same supervisor as in local mode; each block is stored locally, replicated to
// peers, and only then reported to the driver. Nothing a request holds can crash the process:
// malformed requests get INVALID_ARGUMENT. Thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executor/driver_link.h"
#include "executor/peer_client.h"
#include "executor/receiver_host.h"
#include "executor/rocksdb_block_store.h"
#include "proto/cluster.grpc.pb.h"
#include "runtime/block_store.h"
#include "runtime/plugin_loader.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

class ExecutorServer final : public proto::Executor::Service {
 public:
  struct Options {
    std::string driver;    // host:port of the driver
    std::string data_dir;  // RocksDB in data_dir/blocks, fetched plugins in data_dir/plugins
    int slots = 1;
    std::string secret;
  };
  // Opens the block store (removing blocks an earlier run left behind).
  static absl::StatusOr<std::unique_ptr<ExecutorServer>> Create(Options options);
  ~ExecutorServer() override;

  // The address this executor serves on (what peers and the driver use); then registers.
  void Start(const std::string& address);
  // Stops the receivers (their last blocks reported) and the driver link.
  void Shutdown();

  std::string executor_id() const;

  grpc::Status RunTask(grpc::ServerContext* context, const proto::RunTaskRequest* request,
                       proto::RunTaskReply* reply) override;
  grpc::Status StartReceiver(grpc::ServerContext* context,
                             const proto::StartReceiverRequest* request,
                             proto::StartReceiverReply* reply) override;
  grpc::Status StopReceiver(grpc::ServerContext* context, const proto::StopReceiverRequest* request,
                            proto::StopReceiverReply* reply) override;
  grpc::Status FetchShuffle(grpc::ServerContext* context, const proto::FetchShuffleRequest* request,
                            grpc::ServerWriter<proto::ShuffleChunk>* writer) override;
  grpc::Status PutBlock(grpc::ServerContext* context, const proto::PutBlockRequest* request,
                        proto::PutBlockReply* reply) override;
  grpc::Status GetBlock(grpc::ServerContext* context, const proto::GetBlockRequest* request,
                        proto::GetBlockReply* reply) override;
  grpc::Status RemoveBlocks(grpc::ServerContext* context, const proto::RemoveBlocksRequest* request,
                            proto::RemoveBlocksReply* reply) override;
  grpc::Status Cleanup(grpc::ServerContext* context, const proto::CleanupRequest* request,
                       proto::CleanupReply* reply) override;

 private:
  struct App {
    std::string id;
    absl::Mutex load_mu;  // one plugin load at a time; later callers wait for it
    bool loaded ABSL_GUARDED_BY(load_mu) = false;
    absl::Status load_status ABSL_GUARDED_BY(load_mu);
    std::shared_ptr<LoadedPlugin> plugin;
    std::unique_ptr<OpResolver> resolver;
    ShuffleStore shuffles;
    PartitionCache cache;
    StateStore states;  // destroyed before the plugin whose code its state objects are
  };

  explicit ExecutorServer(Options options);
  absl::StatusOr<std::shared_ptr<App>> LoadedApp(const std::string& app_id);
  std::shared_ptr<App> FindApp(const std::string& app_id);
  void DropApp(const std::string& app_id);
  void DropAllApps();
  absl::StatusOr<std::shared_ptr<const std::string>> FetchBlock(const proto::BlockInput& block);
  absl::StatusOr<std::vector<std::string>> FetchShuffleBuckets(App* app,
                                                               const proto::ShuffleRef& ref,
                                                               int reduce_id);
  void CountBlock(const std::string& id, int64_t bytes);
  void UncountBlocks(const std::vector<std::string>& ids);

  const Options options_;
  std::string address_;
  std::unique_ptr<RocksDbBlockStore> blocks_;
  std::unique_ptr<DriverLink> link_;         // made by Create, started by Start
  std::unique_ptr<ReceiverHost> receivers_;  // made by Create
  PeerClient peer_client_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<App>> apps_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> block_bytes_ ABSL_GUARDED_BY(mu_);
  int64_t total_block_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int plugin_loads_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex slots_mu_;
  int running_tasks_ ABSL_GUARDED_BY(slots_mu_) = 0;
};

}  // namespace internal
}  // namespace ember
