#pragma once
// The state checkpoints of a context's stateful streams, in its checkpoint directory:
//
//   DIR/state-<stream>/<time ms>/part-00000 ... MANIFEST
//
// A checkpoint is written to a temporary directory, each file fsynced, then renamed into
// place (atomic); the MANIFEST names the parts with their sizes and CRCs. The newest two are
// kept. Reading takes the newest checkpoint whose MANIFEST and parts check out, warning about
// any newer one that does not (a crash or a full disk mid-write). Thread-compatible.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ember {
namespace internal {

struct StateCheckpoint {
  int64_t time_ms = 0;
  std::vector<std::string> parts;
};

absl::Status WriteStateCheckpoint(const std::string& dir, int stream, int64_t time_ms,
                                  const std::vector<std::string>& parts);
std::optional<StateCheckpoint> ReadLatestStateCheckpoint(const std::string& dir, int stream);

}  // namespace internal
}  // namespace ember
