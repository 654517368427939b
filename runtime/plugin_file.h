#pragma once
// Checks a job plugin's file before any process maps it.
//
// dlopen trusts the file it maps: a copy cut short in transfer (a segment reaching past the
// end of the file) faults with SIGBUS inside the loader, and damaged dynamic tables crash it,
// taking the whole process (and every other job in it) down. So the daemons and ember-submit
// read the file as data first, with bounds checked on every offset:
//
//  - the ELF header: a 64-bit shared object for this machine, little-endian;
//  - every program header and section header lies inside the file, and every segment's and
//    section's bytes do too (a truncated file fails here, at whatever offset it was cut);
//  - the dynamic table: each address it names falls inside a loaded segment, each string
//    offset inside the string table;
//  - the Ember note (`.note.ember`, written by EMBER_JOB): the ABI version and the Ember
//    version the plugin was built against, so another ABI is refused before loading.
//
// What passes can still be a wrong program; it is not a sandbox. It is a file the loader can
// map without faulting, built for this ABI.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ember {
namespace internal {

// Nothing larger is a plugin: ember-submit refuses to send it, the driver to take it.
constexpr uint64_t kMaxPluginBytes = 256ull << 20;

struct PluginFileInfo {
  int abi_version = 0;
  std::string ember_version;
};

// `name` is how errors refer to the file. Errors are InvalidArgument (not a plugin, damaged)
// or FailedPrecondition (another ABI), their messages starting "cannot load job plugin NAME".
absl::StatusOr<PluginFileInfo> CheckPluginBytes(std::string_view bytes, const std::string& name);
// Reads the file (NotFound when it is missing or not a regular file), then CheckPluginBytes;
// the file's bytes when they pass (and what the check read, into `info`).
absl::StatusOr<std::string> ReadCheckedPlugin(const std::string& path,
                                              PluginFileInfo* info = nullptr);
absl::StatusOr<PluginFileInfo> CheckPluginFile(const std::string& path);

}  // namespace internal
}  // namespace ember
