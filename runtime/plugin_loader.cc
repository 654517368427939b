#include "runtime/plugin_loader.h"

#include <dlfcn.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/plugin_file.h"

namespace ember {
namespace internal {

namespace {
// Static initializers of a plugin register into whatever registry is current on the loading
// thread; one load at a time keeps that unambiguous.
absl::Mutex load_mu(absl::kConstInit);
}  // namespace

LoadedPlugin::~LoadedPlugin() {
  // Plugins stay mapped: operators, vtables and threads of a finished job may still refer to
  // the code, and unloading buys little in a daemon that loads each plugin once.
}

absl::StatusOr<std::shared_ptr<LoadedPlugin>> LoadPlugin(const std::string& path) {
  // Read as data first: a damaged file must never reach dlopen (see plugin_file.h).
  auto checked = CheckPluginFile(path);
  if (!checked.ok()) return checked.status();
  auto plugin = std::shared_ptr<LoadedPlugin>(new LoadedPlugin());
  plugin->path_ = path;
  plugin->registry_ = std::make_shared<OpRegistry>();
  {
    absl::MutexLock lock(&load_mu);
    ScopedRegistration scope(plugin->registry_.get());
    // A path with a slash, so dlopen does not search the library path.
    std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
    plugin->handle_ = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (plugin->handle_ == nullptr) {
    const char* err = dlerror();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load job plugin ", path, ": ", err ? err : "unknown dlopen error"));
  }
  auto abi = reinterpret_cast<int (*)()>(dlsym(plugin->handle_, "ember_plugin_abi_version"));
  auto version =
      reinterpret_cast<const char* (*)()>(dlsym(plugin->handle_, "ember_plugin_version"));
  plugin->main_ = reinterpret_cast<LoadedPlugin::MainFn>(dlsym(plugin->handle_, "ember_job_main"));
  if (abi == nullptr || version == nullptr || plugin->main_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job plugin ", path, " is not an Ember job: it exports no EMBER_JOB entry point"));
  }
  plugin->version_ = version();
  if (abi() != EMBER_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat("job plugin ", path, " was built against Ember ", plugin->version_, " (ABI ",
                     abi(), "), but this is Ember ", EMBER_VERSION_STRING, " (ABI ",
                     EMBER_ABI_VERSION, "): rebuild the plugin against this version"));
  }
  auto collisions = plugin->registry_->Collisions();
  if (!collisions.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job plugin ", path, " has two operators under the registry key ", collisions[0],
        " (lambdas in same-named static functions of two files mangle alike); rename one of "
        "the enclosing functions, or give the function a name of its own: a function object type"));
  }
  return plugin;
}

absl::Status LoadedPlugin::RunJob(JobContext& job) const {
  std::vector<char> error(4096, '\0');
  SetCurrentPluginRegistry(registry_);
  int rc = main_(&job, error.data(), static_cast<int>(error.size()));
  SetCurrentPluginRegistry(nullptr);
  if (rc != 0) return absl::AbortedError(error.data());
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace ember
