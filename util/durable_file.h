#pragma once
// Files that survive a crash whole or not at all: written to a temporary name, fsynced, renamed
// into place and the directory synced. A framed file carries a magic word, its length and a
// CRC-32 of its contents, so that a reader tells a torn or corrupt file from a good one.
// Used by checkpoints and the receivers' write-ahead log. Thread-compatible.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ember {
namespace internal {

uint32_t Crc32(const std::string& data);

// Writes `data` to `path` and fsyncs it (no rename). ResourceExhausted when the disk is full.
absl::Status WriteFileSynced(const std::string& path, const std::string& data);
void SyncDirectory(const std::string& path);

// `path` holds exactly `data` afterwards, or (on failure, or after a crash) what it held before.
absl::Status WriteFileAtomically(const std::string& path, const std::string& data);

// Frames `data` with `magic` (4 characters), its length and CRC, then writes it atomically.
absl::Status WriteFramedFile(const std::string& path, const std::string& magic,
                             const std::string& data);
// The framed contents; DataLoss when the frame does not check out, NotFound when absent.
absl::StatusOr<std::string> ReadFramedFile(const std::string& path, const std::string& magic);

}  // namespace internal
}  // namespace ember
