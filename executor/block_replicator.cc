#include "executor/block_replicator.h"

#include <glog/logging.h>

#include <algorithm>

#include "rpc/call.h"

namespace ember {
namespace internal {

absl::StatusOr<std::vector<std::string>> BlockReplicator::Store(
    const std::string& id, std::string bytes, int replication,
    const std::vector<proto::Peer>& initial_peers) {
  replication = std::max(1, replication);
  std::vector<std::string> where = {options_.self()};
  std::vector<proto::Peer> peers = options_.live_peers ? options_.live_peers() : initial_peers;
  if (peers.empty()) peers = initial_peers;
  proto::PutBlockRequest request;
  request.set_block_id(id);
  if (replication > 1) request.set_data(bytes);
  const int64_t size = static_cast<int64_t>(bytes.size());
  absl::Status s = options_.local->Put(id, std::move(bytes));
  if (!s.ok()) return s;
  if (options_.on_stored) options_.on_stored(id, size);
  size_t start = peers.empty() ? 0 : static_cast<size_t>(next_++) % peers.size();
  for (size_t k = 0; k < peers.size() && static_cast<int>(where.size()) < replication; ++k) {
    const proto::Peer& peer = peers[(start + k) % peers.size()];
    if (peer.address() == where[0]) continue;
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
  return where;
}

}  // namespace internal
}  // namespace ember
