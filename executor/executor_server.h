#pragma once
// The executor daemon's heart: the gRPC Executor service (proto/cluster.proto), the link to
// the driver, the RocksDB block store with the replicas it takes for peers, and the task
// slots. It never runs job code: each application's tasks and receivers run in a task process
// of the application's own (TaskProcessApp), started on the application's first call and
// again after it died; the application's calls are forwarded there. With isolation=thread
// they run in this process instead (InProcessApp), which isolates nothing.
//
// Task processes reach the executor over an abstract unix socket (ExecutorLocal): to store a
// received block here and on peers, and to read this executor's blocks. Nothing a request
// holds can crash the process: malformed requests get INVALID_ARGUMENT. Thread-safe.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executor/app_handle.h"
#include "executor/block_replicator.h"
#include "executor/driver_link.h"
#include "executor/peer_client.h"
#include "executor/rocksdb_block_store.h"
#include "proto/cluster.grpc.pb.h"
#include "proto/isolation.grpc.pb.h"

namespace ember {
namespace internal {

class ExecutorServer final : public proto::Executor::Service {
 public:
  enum class Isolation { kProcess, kThread };
  struct Options {
    std::string driver;    // host:port of the driver
    std::string data_dir;  // RocksDB in data_dir/blocks, fetched plugins in data_dir/plugins
    int slots = 1;
    std::string secret;
    Isolation isolation = Isolation::kProcess;
    std::string program;    // this executable, for the task processes
    std::string log_level;  // the task processes' (empty: glog's default)
  };
  // Opens the block store (removing blocks an earlier run left behind) and starts the
  // service task processes call.
  static absl::StatusOr<std::unique_ptr<ExecutorServer>> Create(Options options);
  ~ExecutorServer() override;

  // The address this executor serves on (what peers and the driver use); then registers.
  void Start(const std::string& address);
  // Ends every application's work here (receivers report their last blocks) and the link.
  void Shutdown();

  std::string executor_id() const;

  grpc::Status RunTask(grpc::ServerContext* context, const proto::RunTaskRequest* request,
                       proto::RunTaskReply* reply) override;
  grpc::Status StartReceiver(grpc::ServerContext* context,
                             const proto::StartReceiverRequest* request,
                             proto::StartReceiverReply* reply) override;
  grpc::Status StopReceiver(grpc::ServerContext* context, const proto::StopReceiverRequest* request,
                            proto::StopReceiverReply* reply) override;
  grpc::Status UpdateReceiverRate(grpc::ServerContext* context,
                                  const proto::UpdateReceiverRateRequest* request,
                                  proto::UpdateReceiverRateReply* reply) override;
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
  class LocalService;
  struct App {
    std::string id;
    absl::Time created = absl::Now();
    // One fetch or start at a time; later callers wait for it (heartbeats never do: they
    // read `handle` under its own lock).
    absl::Mutex start_mu;
    bool fetched ABSL_GUARDED_BY(start_mu) = false;
    absl::Status fetch_status ABSL_GUARDED_BY(start_mu);
    std::string plugin_path ABSL_GUARDED_BY(start_mu);  // checked, written once
    int64_t memory_limit ABSL_GUARDED_BY(start_mu) = 0;
    absl::Mutex handle_mu;
    std::shared_ptr<AppHandle> handle ABSL_GUARDED_BY(handle_mu);
  };

  explicit ExecutorServer(Options options);
  // The application's handle, fetching its plugin and starting its process as needed.
  absl::StatusOr<std::shared_ptr<AppHandle>> HandleFor(const std::string& app_id);
  // The running handle, without starting anything; null when there is none.
  std::shared_ptr<AppHandle> RunningHandle(const std::string& app_id);
  absl::Status FetchPlugin(App* app) ABSL_EXCLUSIVE_LOCKS_REQUIRED(app->start_mu);
  absl::StatusOr<std::shared_ptr<AppHandle>> StartHandle(App* app)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(app->start_mu);
  void DropApp(const std::string& app_id, const std::string& reason);
  void DropAllApps(const std::string& reason);
  // Why this executor cannot store blocks (its block store failed), empty when it can; a
  // failed store is reopened here once the data directory has kFreeBytesToReopen more free
  // than the store keeps free.
  std::string Health();
  static constexpr uint64_t kFreeBytesToReopen = 16 << 20;
  // Removes `ids` from the store and the accounting, logging them as `what`; their number (0
  // when the store could not remove them, which is logged).
  int64_t RemoveStored(const std::vector<std::string>& ids, const std::string& what);
  // Removes the blocks (own and replicas) of the applications in `apps`; their number.
  int64_t RemoveBlocksOf(const std::set<std::string>& apps);
  // Removes the application's blocks received at or before `before_ms` and older than twice
  // the heartbeat timeout (a block whose report is still on its way is younger: its receiver
  // would have fenced itself); counted as orphans.
  void RemoveBlocksBefore(const std::string& app, int64_t before_ms);
  // The driver runs `live` (answering a heartbeat sent at `asked`): whatever this executor
  // held before then of any other application is an orphan (its end was not heard, during a
  // partition say) and goes.
  void ForgetEndedApps(const std::vector<std::string>& live, absl::Time asked);
  int Receivers();
  void ReportEvent(const proto::ReportReceiverEventRequest& request);
  grpc::Status GetBlockHere(const proto::GetBlockRequest& request, proto::GetBlockReply* reply);
  void CountBlock(const std::string& id, int64_t bytes);
  void UncountBlocks(const std::vector<std::string>& ids);

  const Options options_;
  std::string address_;
  std::unique_ptr<RocksDbBlockStore> blocks_;
  std::unique_ptr<DriverLink> link_;  // made by Create, started by Start
  PeerClient peer_client_;
  std::unique_ptr<BlockReplicator> replicator_;
  // ExecutorLocal, for the task processes.
  std::string local_address_, local_token_;
  std::unique_ptr<LocalService> local_service_;
  std::unique_ptr<grpc::Server> local_server_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<App>> apps_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> block_bytes_ ABSL_GUARDED_BY(mu_);
  int64_t total_block_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The applications with blocks here, and when the first of them came.
  std::map<std::string, absl::Time> block_apps_ ABSL_GUARDED_BY(mu_);
  int64_t orphan_blocks_removed_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_store_check_ ABSL_GUARDED_BY(mu_);
  int plugin_fetches_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex slots_mu_;
  int running_tasks_ ABSL_GUARDED_BY(slots_mu_) = 0;
  int64_t completed_tasks_ ABSL_GUARDED_BY(slots_mu_) = 0;
};

}  // namespace internal
}  // namespace ember
