#pragma once
// Failures the engine acts on by their kind, never by their message. A kind travels as an
// absl::Status payload inside a process and as RunTaskReply.failure between processes.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ember {
namespace internal {

// A task found the state partition it updates or reads gone: its executor was lost, or the
// version it needs is no longer kept. Retrying the task cannot help; the stateful stream
// rebuilds the state from its checkpoint and the batches since. FailedPrecondition.
absl::Status StateLostStatus(absl::string_view message);
bool IsStateLost(const absl::Status& status);

}  // namespace internal
}  // namespace ember
