#include "runtime/block_store.h"

namespace ember {
namespace internal {

absl::Status MemoryBlockStore::Put(const std::string& id, std::string bytes) {
  absl::MutexLock lock(&mu_);
  blocks_[id] = std::make_shared<const std::string>(std::move(bytes));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> MemoryBlockStore::Get(
    const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = blocks_.find(id);
  if (it == blocks_.end()) return absl::NotFoundError("block " + id + " is not stored here");
  return it->second;
}

void MemoryBlockStore::Remove(const std::vector<std::string>& ids) {
  absl::MutexLock lock(&mu_);
  for (const auto& id : ids) blocks_.erase(id);
}

size_t MemoryBlockStore::size() const {
  absl::MutexLock lock(&mu_);
  return blocks_.size();
}

void ShuffleStore::Put(int shuffle_id, int map_id, std::vector<std::string> buckets) {
  auto value = std::make_shared<const std::vector<std::string>>(std::move(buckets));
  absl::MutexLock lock(&mu_);
  outputs_[shuffle_id][map_id] = std::move(value);
}

ShuffleStore::Buckets ShuffleStore::Get(int shuffle_id, int map_id) const {
  absl::MutexLock lock(&mu_);
  auto it = outputs_.find(shuffle_id);
  if (it == outputs_.end()) return nullptr;
  auto m = it->second.find(map_id);
  return m == it->second.end() ? nullptr : m->second;
}

void ShuffleStore::RemoveShuffle(int shuffle_id) {
  absl::MutexLock lock(&mu_);
  outputs_.erase(shuffle_id);
}

size_t ShuffleStore::size() const {
  absl::MutexLock lock(&mu_);
  return outputs_.size();
}

bool PartitionCache::Get(const std::string& key, Partition* out) const {
  absl::MutexLock lock(&mu_);
  auto it = parts_.find(key);
  if (it == parts_.end()) return false;
  *out = it->second;
  return true;
}

void PartitionCache::Put(const std::string& key, Partition p) {
  absl::MutexLock lock(&mu_);
  parts_[key] = std::move(p);
}

void PartitionCache::Clear() {
  absl::MutexLock lock(&mu_);
  parts_.clear();
}

std::shared_ptr<StateStore::Slot> StateStore::Get(const std::string& state_key, int partition) {
  absl::MutexLock lock(&mu_);
  auto& slot = slots_[state_key][partition];
  if (slot == nullptr) slot = std::make_shared<Slot>();
  return slot;
}

void StateStore::RemoveOtherRuns(const std::string& prefix) {
  absl::MutexLock lock(&mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->first.rfind(prefix, 0) != 0) {
      slots_.erase(it++);
    } else {
      ++it;
    }
  }
}

void StateStore::Clear() {
  absl::MutexLock lock(&mu_);
  slots_.clear();
}

}  // namespace internal
}  // namespace ember
