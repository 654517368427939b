#pragma once
// Where an executor keeps received blocks, shuffle map outputs, persisted partitions and the
// state of stateful streams.
// This is the in-memory store local mode uses; the RocksDB-backed store of the cluster
// implements the same BlockStore interface. Thread-safe.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/op.h"

namespace ember {
namespace internal {

class BlockStore {
 public:
  virtual ~BlockStore() = default;
  virtual absl::Status Put(const std::string& id, std::string bytes) = 0;
  virtual absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const = 0;
  virtual void Remove(const std::vector<std::string>& ids) = 0;
  virtual size_t size() const = 0;
};

class MemoryBlockStore : public BlockStore {
 public:
  absl::Status Put(const std::string& id, std::string bytes) override;
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override;
  void Remove(const std::vector<std::string>& ids) override;
  size_t size() const override;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> blocks_ ABSL_GUARDED_BY(mu_);
};

// Map outputs: for (shuffle, map), one encoded bucket per reducer.
class ShuffleStore {
 public:
  using Buckets = std::shared_ptr<const std::vector<std::string>>;
  void Put(int shuffle_id, int map_id, std::vector<std::string> buckets);
  // Null when the map output is missing (never written, or lost).
  Buckets Get(int shuffle_id, int map_id) const;
  void RemoveShuffle(int shuffle_id);
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, absl::flat_hash_map<int, Buckets>> outputs_ ABSL_GUARDED_BY(mu_);
};

// Partitions of persisted RDDs, kept decoded for the batch's other jobs.
class PartitionCache {
 public:
  bool Get(const std::string& key, Partition* out) const;
  void Put(const std::string& key, Partition p);
  void Clear();

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Partition> parts_ ABSL_GUARDED_BY(mu_);
};

// The state of stateful streams (mapWithState, updateStateByKey) kept between batches: per (state
// key, partition) a slot holding the state as of one batch. The task runner locks a slot for the
// whole of an update; different partitions update in parallel.
class StateStore {
 public:
  struct Slot {
    absl::Mutex mu;
    std::shared_ptr<StatePartition> state ABSL_GUARDED_BY(mu);
    int64_t version ABSL_GUARDED_BY(mu) = -1;       // the batch the state is as of (ms)
    int64_t prev_version ABSL_GUARDED_BY(mu) = -1;  // the batch the last update started from
    Partition last_output ABSL_GUARDED_BY(mu);      // that update's outputs, for a retry
    // Earlier versions still read (by batch), when updates make new ones.
    std::map<int64_t, std::shared_ptr<StatePartition>> older ABSL_GUARDED_BY(mu);
  };
  // The slot, created empty when new.
  std::shared_ptr<Slot> Get(const std::string& state_key, int partition);
  // Drops the slots whose key does not start with `prefix`.
  void RemoveOtherRuns(const std::string& prefix);
  void Clear();

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<int, std::shared_ptr<Slot>>> slots_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
