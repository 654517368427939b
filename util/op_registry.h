#pragma once
// Where operator factories live (DESIGN.md, decision 2). Each loaded job plugin gets its own
// registry, filled while its static initializers run inside dlopen; code linked into the
// process itself registers into the process registry. A key registered twice in one registry
// by two different types (g++ mangles lambdas in same-named static functions of two files
// alike) is recorded as a collision, and the loader refuses the plugin.
//
// Thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/op.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

class OpRegistry {
 public:
  void Register(const std::string& key, OpFactory factory);
  OpFactory Find(const std::string& key) const;
  // The keys registered more than once by different factories.
  std::vector<std::string> Collisions() const;
  size_t size() const;

  // The registry of the process's own code.
  static OpRegistry& Process();

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, OpFactory> factories_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> collisions_ ABSL_GUARDED_BY(mu_);
};

// While alive, registrations on this thread go to `registry` (the plugin being loaded).
class ScopedRegistration {
 public:
  explicit ScopedRegistration(OpRegistry* registry);
  ~ScopedRegistration();
  ScopedRegistration(const ScopedRegistration&) = delete;
  ScopedRegistration& operator=(const ScopedRegistration&) = delete;

 private:
  OpRegistry* previous_;
};

// The registries a job's tasks look operators up in: its plugin's first, then the process's.
class OpResolver {
 public:
  explicit OpResolver(std::shared_ptr<const OpRegistry> plugin = nullptr)
      : plugin_(std::move(plugin)) {}
  absl::StatusOr<std::unique_ptr<Op>> Create(const proto::OpSpec& spec) const;
  template <typename OpT>
  absl::StatusOr<std::unique_ptr<OpT>> CreateAs(const proto::OpSpec& spec) const {
    auto op = Create(spec);
    if (!op.ok()) return op.status();
    auto* typed = dynamic_cast<OpT*>(op->get());
    if (typed == nullptr) {
      return absl::InvalidArgumentError("operator " + spec.key() + " is not of the expected kind");
    }
    op->release();
    return std::unique_ptr<OpT>(typed);
  }

 private:
  std::shared_ptr<const OpRegistry> plugin_;
};

// The registry of the plugin whose entry point runs on this thread (set by the loader), so
// that a StreamingContext the job creates looks its operators up there first.
void SetCurrentPluginRegistry(std::shared_ptr<const OpRegistry> registry);
std::shared_ptr<const OpRegistry> CurrentPluginRegistry();

// The spec that names `op` and carries its closure.
proto::OpSpec ToSpec(const Op& op);

}  // namespace internal
}  // namespace ember
