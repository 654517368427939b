#pragma once
// The receivers running on an executor, one per (application, stream): each under the same
// supervisor local mode uses, its blocks stored through a ReplicatingStore (this executor's
// RocksDB, then the peers) and only then reported to the driver, with their locations. A
// receiver's run is named by its incarnation: a newer start of a stream stops the older run,
// and a stop for another run changes nothing. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/receiver.h"
#include "executor/driver_link.h"
#include "executor/peer_client.h"
#include "executor/replicating_store.h"
#include "proto/cluster.pb.h"
#include "runtime/receiver_supervisor.h"
#include "util/clock.h"

namespace ember {
namespace internal {

class ReceiverHost {
 public:
  struct Options {
    BlockStore* local = nullptr;  // this executor's block store
    PeerClient* peers = nullptr;
    DriverLink* link = nullptr;  // reports go to the driver through it; it knows our address
    std::string secret;
    // A block stored locally (its id and size), for the executor's accounting.
    std::function<void(const std::string& id, int64_t bytes)> on_stored;
  };
  explicit ReceiverHost(Options options) : options_(std::move(options)) {}
  ~ReceiverHost() { Shutdown(); }
  ReceiverHost(const ReceiverHost&) = delete;
  ReceiverHost& operator=(const ReceiverHost&) = delete;

  // Runs `receiver` for the request's stream (an older run of the stream stops first).
  // Unavailable once shut down.
  absl::Status Start(const proto::StartReceiverRequest& request,
                     std::unique_ptr<ReceiverBase> receiver);
  // Stops the stream's receiver if it is run `incarnation`.
  void Stop(const std::string& app_id, int stream_id, int64_t incarnation,
            const std::string& reason);
  // Stops every receiver of `app_id`; StopAll, every receiver.
  void StopApp(const std::string& app_id, const std::string& reason);
  void StopAll(const std::string& reason);
  // Refuses new starts and stops every receiver, each reporting its last block.
  void Shutdown();
  int size() const;

 private:
  struct Running {
    int64_t incarnation = 0;
    std::unique_ptr<ReplicatingStore> store;
    std::unique_ptr<Clock> clock;
    std::unique_ptr<ReceiverSupervisor> supervisor;
  };
  using Key = std::pair<std::string, int>;  // application, stream
  // Removes the receivers `pick` selects and stops them, outside the lock.
  void StopWhere(const std::function<bool(const Key&, const Running&)>& pick,
                 const std::string& reason);
  void Report(const std::string& app_id, int64_t incarnation, ReplicatingStore* store,
              const ReceivedBlock& b);
  void ReportEvent(const std::string& app_id, int64_t incarnation, int stream,
                   proto::ReceiverEvent event, const std::string& message);

  const Options options_;
  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::map<Key, std::shared_ptr<Running>> receivers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
