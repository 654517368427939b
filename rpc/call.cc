#include "rpc/call.h"

#include "rpc/rpc.h"

namespace ember {
namespace rpc {

absl::Duration DeadlineOf(Deadline deadline) {
  switch (deadline) {
    case Deadline::kHeartbeat:
      return absl::Milliseconds(500);
    case Deadline::kControl:
      return absl::Seconds(5);
    case Deadline::kPeerBlock:
      return absl::Seconds(10);
    case Deadline::kReceiver:
    case Deadline::kBroadcast:
    case Deadline::kQuery:
      return absl::Seconds(30);
    case Deadline::kTransfer:
    case Deadline::kKill:
      return absl::Seconds(60);
    case Deadline::kSubmit:
      return absl::Seconds(120);
    case Deadline::kUpgrade:
      return absl::Seconds(180);
    case Deadline::kUnbounded:
      break;
  }
  return absl::InfiniteDuration();
}

void Prepare(grpc::ClientContext* context, const CallOptions& options) {
  AddSecret(context, options.secret);
  absl::Duration d = DeadlineOf(options.deadline);
  if (d != absl::InfiniteDuration()) context->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

}  // namespace rpc
}  // namespace ember
