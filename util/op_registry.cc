#include "util/op_registry.h"

#include <glog/logging.h>

namespace ember {
namespace internal {

namespace {
thread_local OpRegistry* loading_registry = nullptr;
thread_local std::shared_ptr<const OpRegistry> current_plugin_registry;
}  // namespace

void SetCurrentPluginRegistry(std::shared_ptr<const OpRegistry> registry) {
  current_plugin_registry = std::move(registry);
}
std::shared_ptr<const OpRegistry> CurrentPluginRegistry() { return current_plugin_registry; }

void OpRegistry::Register(const std::string& key, OpFactory factory) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = factories_.emplace(key, factory);
  if (!inserted && it->second != factory) {
    LOG(ERROR) << "two operator types share the registry key " << key
               << " (lambdas in same-named static functions of two files?); give one of "
                  "them a different enclosing function name, or make it a named function object type";
    collisions_.push_back(key);
  }
}

OpFactory OpRegistry::Find(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = factories_.find(key);
  return it == factories_.end() ? nullptr : it->second;
}

std::vector<std::string> OpRegistry::Collisions() const {
  absl::MutexLock lock(&mu_);
  return collisions_;
}

size_t OpRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return factories_.size();
}

OpRegistry& OpRegistry::Process() {
  static OpRegistry* registry = new OpRegistry();
  return *registry;
}

ScopedRegistration::ScopedRegistration(OpRegistry* registry) : previous_(loading_registry) {
  loading_registry = registry;
}

ScopedRegistration::~ScopedRegistration() { loading_registry = previous_; }

void RegisterOp(const char* key, OpFactory factory) {
  OpRegistry* target = loading_registry != nullptr ? loading_registry : &OpRegistry::Process();
  target->Register(key, factory);
}

absl::StatusOr<std::unique_ptr<Op>> OpResolver::Create(const proto::OpSpec& spec) const {
  OpFactory factory = plugin_ != nullptr ? plugin_->Find(spec.key()) : nullptr;
  if (factory == nullptr) factory = OpRegistry::Process().Find(spec.key());
  if (factory == nullptr) {
    return absl::NotFoundError("no operator registered under key " + spec.key() +
                               " (is the job's plugin loaded, and built from the same source?)");
  }
  std::unique_ptr<Op> op = factory(spec.closure());
  if (op == nullptr) {
    return absl::InvalidArgumentError("malformed closure bytes for operator " + spec.key());
  }
  return op;
}

proto::OpSpec ToSpec(const Op& op) {
  proto::OpSpec spec;
  spec.set_key(op.Key());
  Writer w(spec.mutable_closure());
  op.SaveClosure(w);
  return spec;
}

}  // namespace internal
}  // namespace ember
