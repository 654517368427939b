#pragma once
// Every gRPC call the programs make goes through here: the cluster secret and a deadline named
// by what the call does are added in one place, so that the deadlines can be read (and kept
// consistent with the heartbeat timeout) together, and a call is never sent without them.
//
//   proto::HeartbeatReply reply;
//   grpc::Status s = rpc::Call(*stub, &proto::Driver::Stub::Heartbeat, request, &reply,
//                              {secret, rpc::Deadline::kControl});
//
// Streaming calls and calls whose context must be cancellable from elsewhere prepare their
// own grpc::ClientContext with rpc::Prepare.

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/time/time.h"

namespace ember {
namespace rpc {

enum class Deadline {
  kControl,    // registration, block and receiver reports, cleanups: small, frequent
  kHeartbeat,  // a heartbeat: short, so that a lost one is retried well inside the timeout
  kPeerBlock,  // one block copied to or read from another executor
  kReceiver,   // starting or stopping a receiver (its onStart/onStop run inside the call)
  kBroadcast,  // a broadcast variable's bytes from the driver
  kTransfer,   // a plugin or a reduce task's shuffle buckets, streamed in chunks
  kQuery,      // status and listings
  kKill,       // a kill: the application's context stops
  kSubmit,     // a plugin upload: stored, checked, loaded, its entry point started
  kUpgrade,    // a graceful stop, then the new plugin's start
  kUnbounded,  // tasks (bounded by the executor's loss instead) and output followers
};

// The deadline's length; absl::InfiniteDuration() for kUnbounded.
absl::Duration DeadlineOf(Deadline deadline);

struct CallOptions {
  const std::string& secret;
  Deadline deadline;
};

// Adds the secret (if any) and the deadline to a context about to be used for one call.
void Prepare(grpc::ClientContext* context, const CallOptions& options);

// One unary call: `method` is the stub's member, for example &proto::Executor::Stub::RunTask.
template <typename Stub, typename Request, typename Reply>
grpc::Status Call(Stub& stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Reply*),
                  const Request& request, Reply* reply, const CallOptions& options) {
  grpc::ClientContext context;
  Prepare(&context, options);
  return (stub.*method)(&context, request, reply);
}

}  // namespace rpc
}  // namespace ember
