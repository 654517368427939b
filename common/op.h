#pragma once
// The type-erased operators the engine runs (DESIGN.md, decisions 2 and 3).
//
// Job code instantiates typed operator templates (ops.h); the engine sees only these bases.
// Each concrete operator type registers a factory at load time under a key derived from its
// type, so that an executor can rebuild it from (key, closure bytes).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "common/codec.h"
#include "common/time.h"

namespace ember {
namespace internal {

// One partition of one batch's data: a std::vector<T> behind a type-erased pointer.
struct Partition {
  std::shared_ptr<void> data;
  size_t size = 0;

  template <typename T>
  static Partition Of(std::vector<T> v) {
    size_t n = v.size();
    return Partition{std::make_shared<std::vector<T>>(std::move(v)), n};
  }
  template <typename T>
  const std::vector<T>& As() const {
    return *static_cast<const std::vector<T>*>(data.get());
  }
};

// What a running task knows about itself: what result operators (saves, sinks) are given.
struct TaskInfo {
  int64_t job_id = 0;
  int32_t stage_id = 0;
  int32_t partition = 0;
  int32_t attempt = 0;
  Time batch_time;
};

}  // namespace internal

// Spark's TaskContext: the task running on this thread, for job code that needs its
// partition (a marker keyed by batch and partition, a file per partition):
//   rdd.foreachPartition([](const std::vector<T>& records) {
//     int p = ember::TaskContext::get()->partitionId();  ...
//   });
// get() is null outside a task (on the driver, in a receiver).
class TaskContext {
 public:
  explicit TaskContext(const internal::TaskInfo& info) : info_(info) {}
  static const TaskContext* get();  // the runtime's (runtime/task_runner.cc)
  int partitionId() const { return info_.partition; }
  int stageId() const { return info_.stage_id; }
  int attemptNumber() const { return info_.attempt; }
  Time batchTime() const { return info_.batch_time; }  // the batch the task computes

 private:
  internal::TaskInfo info_;
};

namespace internal {

class Op {
 public:
  virtual ~Op() = default;
  // The registry key: the mangled name of the concrete operator type.
  virtual const char* Key() const = 0;
  virtual void SaveClosure(Writer& w) const = 0;
};

// Rebuilds an operator from the bytes SaveClosure wrote; nullptr when they are malformed.
using OpFactory = std::unique_ptr<Op> (*)(std::string_view closure);

// bytes -> partition (blocks, inline data, empty partitions).
class DecoderOp : public Op {
 public:
  virtual bool Decode(std::string_view bytes, Partition* out) const = 0;
};

// partitions -> partition: a fused chain of narrow functions, or mapPartitions.
class NarrowOp : public Op {
 public:
  virtual Partition Compute(const std::vector<Partition>& inputs, const TaskInfo& task) const = 0;
};

// partition -> one encoded bucket per reducer (map side of a shuffle).
class ShuffleWriterOp : public Op {
 public:
  virtual void Write(const Partition& input, int num_reducers, const TaskInfo& task,
                     std::vector<std::string>* buckets) const = 0;
};

// For each shuffled parent, the buckets every map wrote for this reducer -> partition.
class ShuffleReaderOp : public Op {
 public:
  virtual bool Read(const std::vector<std::vector<std::string_view>>& buckets,
                    Partition* out) const = 0;
};

// partition -> bytes returned to the driver (collect, count, reduce, foreachPartition, save).
class ResultOp : public Op {
 public:
  virtual std::string Run(const Partition& input, const TaskInfo& task) const = 0;
};

// A partition of a stateful stream's state as an executor keeps it between batches: a typed
// structure (a hash map of the keys' states) that only its StateOp understands.
class StatePartition {
 public:
  virtual ~StatePartition() = default;
  // The key of the op that made it: an op never reads another type's state.
  virtual const char* OpKey() const = 0;
  virtual size_t size() const = 0;
};

// The per-partition work of a stateful stream whose state stays in the executors
// (mapWithState, whose update costs what the batch touches; updateStateByKey, whose function
// sees every key every batch).
class StateOp : public Op {
 public:
  // The state made from stored records (a checkpoint, or the initial state); null: empty.
  virtual std::unique_ptr<StatePartition> Seed(const Partition* records) const = 0;
  // Applies a batch's records to `state` at time `now`, setting `outputs` to what the user's
  // function returned: either in place (returns null) or into a new state that it returns,
  // `state` left as it was. Throws (user code failed) before changing `state`.
  virtual std::unique_ptr<StatePartition> Update(StatePartition& state, const Partition& values,
                                                 Time now, const TaskInfo& task,
                                                 Partition* outputs) const = 0;
  // The state as (key, state) records, and as the records Seed takes.
  virtual Partition Snapshot(const StatePartition& state) const = 0;
  virtual Partition Records(const StatePartition& state) const = 0;
};

// Registers into the registry of the plugin being loaded, or the process's own registry.
// Defined in the runtime; a plugin's reference resolves against the process that loads it.
void RegisterOp(const char* key, OpFactory factory);

// A stable, process-independent name for T (its mangled type name).
template <typename T>
const char* TypeKey() {
  return typeid(T).name();
}

// Instantiating Registrar<OpT>::registered (ops do so in their constructor) makes the loading
// of the shared object that holds OpT register OpT's factory.
template <typename OpT>
struct Registrar {
  static std::unique_ptr<Op> Create(std::string_view closure) {
    Reader r(closure);
    std::unique_ptr<Op> op = OpT::Load(r);
    if (op == nullptr || !r.done()) return nullptr;
    return op;
  }
  static bool Register() {
    RegisterOp(TypeKey<OpT>(), &Create);
    return true;
  }
  static inline const bool registered = Register();
};

// CRTP helper: the key and registration of a concrete operator.
template <typename Derived, typename Base>
class OpBase : public Base {
 public:
  OpBase() { (void)Registrar<Derived>::registered; }
  const char* Key() const override { return TypeKey<Derived>(); }
};

}  // namespace internal
}  // namespace ember
