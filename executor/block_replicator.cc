#include "executor/block_replicator.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rpc/call.h"
#include "util/repeated_warnings.h"

namespace ember {
namespace internal {

absl::StatusOr<std::vector<std::string>> BlockReplicator::Store(
    const std::string& id, std::string bytes, int replication,
    const std::vector<proto::Peer>& initial_peers) {
  replication = std::max(1, replication);
  const std::string self = options_.self();
  std::vector<proto::Peer> peers = options_.live_peers ? options_.live_peers() : initial_peers;
  if (peers.empty()) peers = initial_peers;
  proto::PutBlockRequest request;
  request.set_block_id(id);
  const int64_t size = static_cast<int64_t>(bytes.size());
  // The bytes stay here until the local copy is made: peers may have to hold every copy.
  request.set_data(std::move(bytes));
  std::vector<std::string> where;
  absl::Status local = options_.local->Put(id, request.data());
  if (local.ok()) {
    where.push_back(self);
    if (options_.on_stored) options_.on_stored(id, size);
    if (replication == 1) return where;
  } else {
    WarnRepeated("store block locally",
                 absl::StrCat("cannot store block ", id,
                              " here, so its copies go to peers: ", local.message()));
  }
  size_t start = peers.empty() ? 0 : static_cast<size_t>(next_++) % peers.size();
  for (size_t k = 0; k < peers.size() && static_cast<int>(where.size()) < replication; ++k) {
    const proto::Peer& peer = peers[(start + k) % peers.size()];
    if (peer.address() == self) continue;
    proto::PutBlockReply reply;
    grpc::Status r =
        rpc::Call(*options_.peers->Stub(peer.address()), &proto::Executor::Stub::PutBlock, request,
                  &reply, {options_.secret, rpc::Deadline::kPeerBlock});
    if (r.ok()) {
      where.push_back(peer.address());
    } else {
      WarnRepeated("replicate " + peer.address(),
                   absl::StrCat("cannot replicate block ", id, " to ", peer.executor_id(), " (",
                                peer.address(), "): ", r.error_message()));
    }
  }
  if (where.empty()) return local;
  if (static_cast<int>(where.size()) < replication) {
    LOG_EVERY_N(WARNING, 20) << "block " << id << " has " << where.size() << " of " << replication
                             << " copies: not enough live peers";
  }
  return where;
}

}  // namespace internal
}  // namespace ember
