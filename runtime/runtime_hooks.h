#pragma once
// Hooks the daemons set on the runtime (not part of the job API).

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace ember {
namespace internal {

// An executor fetches broadcast variables it does not hold from the driver.
using BroadcastFetcher = std::function<absl::StatusOr<std::string>(int64_t id)>;
void SetBroadcastFetcher(BroadcastFetcher fetcher);
// The driver serves its broadcast variables' bytes; false when `id` is unknown here.
bool BroadcastBytes(int64_t id, std::string* out);

}  // namespace internal
}  // namespace ember
