#pragma once
// Where a receiver's blocks go on an executor: the local store, then `replication - 1` peers,
// each copy made before Put returns, so that a block is reported only once it has its copies.
// It remembers where each block went, for the report. Thread-safe.

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executor/peer_client.h"
#include "proto/cluster.pb.h"
#include "runtime/block_store.h"

namespace ember {
namespace internal {

class ReplicatingStore : public BlockStore {
 public:
  struct Options {
    BlockStore* local = nullptr;  // this executor's store
    PeerClient* peers = nullptr;
    std::string self;  // this executor's address, the first location
    std::string secret;
    int replication = 2;
    // The live peers now (the driver's heartbeat replies); `initial` until it has some.
    std::function<std::vector<proto::Peer>()> live_peers;
    std::vector<proto::Peer> initial;
    // A block stored locally (its id and size), for the executor's accounting.
    std::function<void(const std::string& id, int64_t bytes)> on_stored;
  };
  explicit ReplicatingStore(Options options);

  absl::Status Put(const std::string& id, std::string bytes) override;
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override {
    return options_.local->Get(id);
  }
  void Remove(const std::vector<std::string>& ids) override { options_.local->Remove(ids); }
  size_t size() const override { return options_.local->size(); }

  // The addresses holding block `id` (this executor first), forgotten once taken.
  std::vector<std::string> TakeLocations(const std::string& id);

 private:
  const Options options_;
  std::atomic<uint64_t> next_{0};  // rotates the first peer, so that replicas spread
  absl::Mutex mu_;
  std::map<std::string, std::vector<std::string>> locations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
