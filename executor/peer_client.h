#pragma once
// Stubs for the other executors (block replicas, block reads, shuffle fetches), one channel per
// address, made on first use and kept. Thread-safe.

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace internal {

class PeerClient {
 public:
  PeerClient() = default;
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  // Valid as long as this client lives.
  proto::Executor::Stub* Stub(const std::string& address);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<proto::Executor::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
