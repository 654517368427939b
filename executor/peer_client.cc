#include "executor/peer_client.h"

#include "rpc/rpc.h"

namespace ember {
namespace internal {

proto::Executor::Stub* PeerClient::Stub(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (stub == nullptr) stub = proto::Executor::NewStub(rpc::MakeChannel(address));
  return stub.get();
}

}  // namespace internal
}  // namespace ember
