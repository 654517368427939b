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
#include "absl/status/statusor.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

struct StateCheckpoint {
  int64_t time_ms = 0;
  std::vector<std::string> parts;
};

absl::Status WriteStateCheckpoint(const std::string& dir, int stream, int64_t time_ms,
                                  const std::vector<std::string>& parts);
std::optional<StateCheckpoint> ReadLatestStateCheckpoint(const std::string& dir, int stream);
// The checkpoint of `stream` at `time_ms`, if it checks out; the times present, newest first.
std::optional<StateCheckpoint> ReadStateCheckpoint(const std::string& dir, int stream,
                                                   int64_t time_ms);
std::vector<int64_t> StateCheckpointTimes(const std::string& dir, int stream);

// The metadata checkpoint, written when a batch is generated and when it completes, framed
// with a CRC as DIR/metadata/checkpoint-<sequence number>; the newest three are kept. Reading
// takes the newest that checks out, warning about newer ones that do not. Callers serialize
// writes.
absl::Status WriteMetadataCheckpoint(const std::string& dir, const proto::MetadataCheckpoint& cp);
std::optional<proto::MetadataCheckpoint> ReadLatestMetadataCheckpoint(const std::string& dir);

// The job's submission (a serialized proto::SubmitJobRequest: the plugin's bytes, the name,
// configuration and arguments), kept as DIR/submission framed with a CRC, so that the
// directory alone starts the job again (ember-submit --from-checkpoint DIR), on any driver.
absl::Status WriteCheckpointSubmission(const std::string& dir, const std::string& submission);
absl::StatusOr<std::string> ReadCheckpointSubmission(const std::string& dir);

}  // namespace internal
}  // namespace ember
