#pragma once
// The executor daemon's core (ember-executor; proto/cluster.proto), in three parts:
//
//   CountingBlockStore  the RocksDB block store, plus the byte count heartbeats report;
//   DriverLink          registration with backoff, heartbeats, re-registration (one thread);
//   ExecutorService     the gRPC Executor service: per-application plugins, task slots,
//                       shuffle outputs served to peers, receivers with replicated blocks.
//
// Per application (created on the first request naming it) the service keeps the job's plugin,
// fetched from the driver and loaded from a new file name, with the resolver over its operator
// registry, its map outputs and its cached partitions. Tasks run in `slots` slots through the
// task runner local mode uses; blocks this executor lacks come from the peers listed in the
// task, reduce buckets from the executors that ran the maps. Receivers run under the receiver
// supervisor; each block is stored here, copied to `replication - 1` peers and only then
// reported to the driver. Nothing a request holds can crash the process: malformed requests
// get INVALID_ARGUMENT and change nothing.
//
// The driver link:
//
//   unregistered --RegisterExecutor ok--> registered --heartbeat every interval--+
//     ^    |                                  |   ^                              |
//     |    +-- fails: log why, back off       |   +------------------------------+
//     |        200 ms, 400 ms, ... 5 s        |     (a failed heartbeat: log, next interval)
//     +-- on_reregister(): drop every app <---+ reply says reregister (the driver restarted,
//         and receiver, register again          or declared this executor lost)

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executor/block_store.h"
#include "executor/rocksdb_block_store.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace internal {

// The RocksDB store, counting the bytes it holds (RocksDB offers no exact figure cheaply).
// Thread-safe.
class CountingBlockStore : public BlockStore {
 public:
  explicit CountingBlockStore(std::unique_ptr<RocksDbBlockStore> store);

  absl::Status Put(const std::string& id, std::string bytes) override;
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override;
  // Failures are logged (BlockStore's interface); TryRemove reports them.
  void Remove(const std::vector<std::string>& ids) override;
  absl::Status TryRemove(const std::vector<std::string>& ids);
  size_t size() const override;
  int64_t bytes() const;

 private:
  const std::unique_ptr<RocksDbBlockStore> store_;
  // Held across a write and the count update after it, so that both apply in the same order.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> sizes_ ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

// Keeps this executor registered with the driver. Owns one thread (Start..Stop), which also
// runs on_reregister. Thread-safe.
class DriverLink {
 public:
  struct Options {
    std::string driver;  // host:port, for messages
    int slots = 1;
    std::string secret;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    // Fills the heartbeat's figures (all but the executor id).
    std::function<void(proto::HeartbeatRequest*)> stats;
    // The driver no longer knows this executor: drop what it asked for. Runs on the link's
    // thread before registering again.
    std::function<void()> on_reregister;
  };
  // `driver` is not owned and must outlive the link.
  DriverLink(Options options, proto::Driver::StubInterface* driver);
  ~DriverLink();
  DriverLink(const DriverLink&) = delete;
  DriverLink& operator=(const DriverLink&) = delete;

  // `address`: this executor's, as the driver and the peers reach it.
  void Start(const std::string& address);
  void Stop();

  std::string executor_id() const;
  bool registered() const;
  // The other live executors from the last heartbeat reply; false until a heartbeat has been
  // answered since (re-)registering.
  bool Peers(std::vector<proto::Peer>* out) const;

 private:
  void Loop();
  bool Register(std::chrono::milliseconds retry_in);
  void Heartbeat();
  // Waits `d`, or less when stopping; false when stopping.
  bool Sleep(std::chrono::milliseconds d);

  const Options options_;
  proto::Driver::StubInterface* const driver_;
  std::string address_;  // set before the thread starts
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  std::string executor_id_ ABSL_GUARDED_BY(mu_);
  std::chrono::milliseconds interval_ ABSL_GUARDED_BY(mu_){1000};
  bool peers_known_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<proto::Peer> peers_ ABSL_GUARDED_BY(mu_);

  // The link's thread only.
  int heartbeat_failures_ = 0;
};

class LoadedPlugin;
class OpResolver;

class ExecutorService final : public proto::Executor::Service {
 public:
  struct Options {
    std::string driver;    // host:port of the driver
    std::string data_dir;  // RocksDB in data_dir/blocks, fetched plugins in data_dir/plugins
    int slots = 1;
    std::string secret;    // empty: no secret
    // Calls to peers: GetBlock and PutBlock, and a whole FetchShuffle stream.
    std::chrono::milliseconds block_timeout{10000};
    std::chrono::milliseconds shuffle_timeout{60000};
    // Registration backoff (DriverLink::Options).
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
  };
  // Opens the block store and removes what an earlier run left in the data directory. The
  // error names the path.
  static absl::StatusOr<std::unique_ptr<ExecutorService>> Create(Options options);
  ~ExecutorService() override;

  // `address` is where this executor serves (host:port): what the driver and the peers use,
  // and how it recognizes itself in block and map output locations. Starts the driver link.
  // Call once the server listens, before any request can arrive from the driver.
  void Start(const std::string& address);
  // Stops the receivers (their last blocks stored and reported), then the driver link.
  // Idempotent; later requests are refused.
  void Shutdown();

  std::string address() const;
  std::string executor_id() const;
  bool registered() const;
  // A broadcast variable's bytes from the driver (the process-wide hook is the caller's).
  absl::StatusOr<std::string> FetchBroadcast(int64_t id);

  grpc::Status RunTask(grpc::ServerContext* context, const proto::RunTaskRequest* request,
                       proto::RunTaskReply* reply) override;
  grpc::Status StartReceiver(grpc::ServerContext* context,
                             const proto::StartReceiverRequest* request,
                             proto::StartReceiverReply* reply) override;
  grpc::Status StopReceiver(grpc::ServerContext* context,
                            const proto::StopReceiverRequest* request,
                            proto::StopReceiverReply* reply) override;
  grpc::Status FetchShuffle(grpc::ServerContext* context,
                            const proto::FetchShuffleRequest* request,
                            grpc::ServerWriter<proto::ShuffleChunk>* writer) override;
  grpc::Status PutBlock(grpc::ServerContext* context, const proto::PutBlockRequest* request,
                        proto::PutBlockReply* reply) override;
  grpc::Status GetBlock(grpc::ServerContext* context, const proto::GetBlockRequest* request,
                        proto::GetBlockReply* reply) override;
  grpc::Status RemoveBlocks(grpc::ServerContext* context,
                            const proto::RemoveBlocksRequest* request,
                            proto::RemoveBlocksReply* reply) override;
  grpc::Status Cleanup(grpc::ServerContext* context, const proto::CleanupRequest* request,
                       proto::CleanupReply* reply) override;

 private:
  struct App;
  struct Receiver;
  class ReplicatingStore;

  ExecutorService(Options options, std::unique_ptr<CountingBlockStore> blocks);

  // The app's state with its plugin loaded (fetching it on the first call).
  absl::StatusOr<std::shared_ptr<App>> LoadedApp(const std::string& app_id);
  absl::Status LoadPluginOf(App* app);
  std::shared_ptr<App> FindApp(const std::string& app_id) const;
  // Stops the app's receivers and forgets it.
  void DropApp(const std::string& app_id);
  void DropAllApps();

  bool AcquireSlot(grpc::ServerContext* context);
  void ReleaseSlot();
  absl::StatusOr<std::shared_ptr<const std::string>> FetchRemoteBlock(
      const proto::BlockInput& block);
  absl::StatusOr<std::vector<std::string>> FetchShuffleBuckets(const App& app,
                                                               const proto::ShuffleRef& ref,
                                                               int reduce_id);
  // Map outputs `maps` for `reduce_id` from the executor at `address`, into (*buckets)[map].
  absl::Status FetchFromPeer(const std::string& address, const std::string& app_id,
                             int shuffle_id, int reduce_id, const std::vector<int>& maps,
                             std::vector<std::string>* buckets);

  // Removes the receivers `which` selects from the table and stops them.
  void StopReceivers(const std::function<bool(const Receiver&)>& which, const std::string& why);
  void ReportBlock(const proto::ReportBlockRequest& request);
  void ReportEvent(proto::ReportReceiverEventRequest request);
  // Where receivers replicate: the heartbeat's list once one came, else the start request's.
  std::vector<proto::Peer> ReplicationPeers(const std::vector<proto::Peer>& initial) const;

  void FillStats(proto::HeartbeatRequest* request);
  proto::Executor::StubInterface* Peer(const std::string& address);
  std::unique_ptr<grpc::ClientContext> Call(std::chrono::milliseconds timeout) const;

  const Options options_;
  const std::unique_ptr<CountingBlockStore> blocks_;
  const std::unique_ptr<proto::Driver::Stub> driver_;
  const std::unique_ptr<DriverLink> link_;

  mutable absl::Mutex mu_;
  // Set by Start (a peer's request may race it); empty before.
  std::string address_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<App>> apps_ ABSL_GUARDED_BY(mu_);
  int plugin_files_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, int>, std::shared_ptr<Receiver>> receivers_
      ABSL_GUARDED_BY(mu_);
  // Bumped when every receiver is dropped, so that a start racing the drop does not survive.
  int64_t receivers_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Never erased: the raw pointers Peer() hands out stay valid.
  std::map<std::string, std::unique_ptr<proto::Executor::Stub>> peers_ ABSL_GUARDED_BY(mu_);

  absl::Mutex slots_mu_;
  int running_tasks_ ABSL_GUARDED_BY(slots_mu_) = 0;
};

// A started gRPC server for an executor service.
struct ExecutorEndpoint {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string address;  // bind host (bracketed if IPv6) and the port chosen
};

// Serves `service` on bind:port (port 0: the system chooses) with the project's message-size
// limits. The error names the address.
absl::StatusOr<ExecutorEndpoint> ServeExecutor(ExecutorService* service, const std::string& bind,
                                             int port);

}  // namespace internal
}  // namespace ember
