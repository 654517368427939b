#include "executor/replicating_store.h"

#include <glog/logging.h>

#include <algorithm>

#include "rpc/call.h"

namespace ember {
namespace internal {

ReplicatingStore::ReplicatingStore(Options options) : options_(std::move(options)) {}

absl::Status ReplicatingStore::Put(const std::string& id, std::string bytes) {
  const int replication = std::max(1, options_.replication);
  std::vector<std::string> where = {options_.self};
  std::vector<proto::Peer> peers = options_.live_peers ? options_.live_peers() : options_.initial;
  if (peers.empty()) peers = options_.initial;
  proto::PutBlockRequest request;
  request.set_block_id(id);
  request.set_data(bytes);
  absl::Status s = options_.local->Put(id, std::move(bytes));
  if (!s.ok()) return s;
  if (options_.on_stored) options_.on_stored(id, static_cast<int64_t>(request.data().size()));
  size_t start = peers.empty() ? 0 : static_cast<size_t>(next_++) % peers.size();
  for (size_t k = 0; k < peers.size() && static_cast<int>(where.size()) < replication; ++k) {
    const proto::Peer& peer = peers[(start + k) % peers.size()];
    proto::PutBlockReply reply;
    grpc::Status r =
        rpc::Call(*options_.peers->Stub(peer.address()), &proto::Executor::Stub::PutBlock, request,
                  &reply, {options_.secret, rpc::Deadline::kPeerBlock});
    if (r.ok()) {
      where.push_back(peer.address());
    } else {
      LOG(WARNING) << "cannot replicate block " << id << " to " << peer.executor_id() << " ("
                   << peer.address() << "): " << r.error_message();
    }
  }
  if (static_cast<int>(where.size()) < replication) {
    LOG_EVERY_N(WARNING, 20) << "block " << id << " has " << where.size() << " of " << replication
                             << " copies: not enough live peers";
  }
  absl::MutexLock lock(&mu_);
  locations_[id] = std::move(where);
  return absl::OkStatus();
}

std::vector<std::string> ReplicatingStore::TakeLocations(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = locations_.find(id);
  if (it == locations_.end()) return {options_.self};
  std::vector<std::string> out = std::move(it->second);
  locations_.erase(it);
  return out;
}

}  // namespace internal
}  // namespace ember
