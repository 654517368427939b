#pragma once
// Where a received block goes on an executor before it is reported: this executor's block
// store, then `replication - 1` live peers, each copy made before Store returns, so that a
// block is reported only once it has its copies. When this executor's store cannot take it (a
// full disk), its copies all go to peers: a receiver loses nothing while it is being moved
// off an executor that cannot store blocks. Thread-safe.

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/peer_client.h"
#include "proto/cluster.pb.h"
#include "runtime/block_store.h"

namespace ember {
namespace internal {

class BlockReplicator {
 public:
  struct Options {
    BlockStore* local = nullptr;  // this executor's store
    PeerClient* peers = nullptr;
    std::string secret;
    // This executor's address, the first location.
    std::function<std::string()> self;
    // The live peers now (the driver's heartbeat replies).
    std::function<std::vector<proto::Peer>()> live_peers;
    // A block stored locally (its id and size), for the executor's accounting.
    std::function<void(const std::string& id, int64_t bytes)> on_stored;
  };
  explicit BlockReplicator(Options options) : options_(std::move(options)) {}

  // Stores the block here and on peers (the live ones, else `initial_peers`, those the
  // receiver was started with); returns the addresses holding a copy, this executor first
  // when it holds one. Fewer copies than asked for is logged, not an error: the block is
  // stored. An error only when no copy could be made anywhere (the local store's).
  absl::StatusOr<std::vector<std::string>> Store(const std::string& id, std::string bytes,
                                                 int replication,
                                                 const std::vector<proto::Peer>& initial_peers);

 private:
  const Options options_;
  std::atomic<uint64_t> next_{0};  // rotates the first peer, so that replicas spread
};

}  // namespace internal
}  // namespace ember
