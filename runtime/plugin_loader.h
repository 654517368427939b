#pragma once
// Loads a job plugin: checks its file (plugin_file.h), then dlopen(RTLD_NOW | RTLD_LOCAL) with the
// plugin's own operator registry collecting its static registrations, then checks the exported ABI
// version and entry point. Every failure (not a shared object, not an Ember plugin, another ABI,
// colliding operator keys, an entry point that throws) is a Status naming the plugin, never a
// crash.
//
// dlopen of one path twice returns the same handle: load an upgraded plugin from a new path.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

class LoadedPlugin {
 public:
  ~LoadedPlugin();
  const std::string& path() const { return path_; }
  const std::string& version() const { return version_; }
  std::shared_ptr<const OpRegistry> registry() const { return registry_; }
  // Runs the job's entry point on this thread; its error message as a Status.
  absl::Status RunJob(JobContext& job) const;

 private:
  friend absl::StatusOr<std::shared_ptr<LoadedPlugin>> LoadPlugin(const std::string& path);
  using MainFn = int (*)(JobContext*, char*, int);
  std::string path_;
  std::string version_;
  void* handle_ = nullptr;
  MainFn main_ = nullptr;
  std::shared_ptr<OpRegistry> registry_;
};

absl::StatusOr<std::shared_ptr<LoadedPlugin>> LoadPlugin(const std::string& path);

}  // namespace internal
}  // namespace ember
