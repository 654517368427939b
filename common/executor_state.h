#pragma once
// Private: include common/dstream.h. The driver's side of a stateful stream whose state the
// executors keep (mapWithState, updateStateByKey).

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/engine_api.h"
#include "common/rdd.h"
#include "common/state.h"

namespace ember {
namespace internal {

// Hash-partitions a pair RDD by key into n partitions (mapWithState's values and state).
template <typename K, typename V>
RddRef PartitionByKey(RddRef rdd, int n) {
  using P = std::pair<K, V>;
  return MakeShuffledRdd(
      {std::move(rdd)},
      {std::make_shared<HashPartitionWriter<K, V, EmptyStack<P>>>(EmptyStack<P>{})},
      std::make_shared<ConcatReader<P>>(), n);
}

// A stateful stream's state kept in the executors (mapWithState, updateStateByKey): the
// driver's side. It knows the batch the executors' state is as of, seeds it (the initial
// state, a checkpoint), updates it each batch, and when an executor was lost with partitions
// of it, rebuilds it from the newest checkpoint and the batches since. `Record`, (K, X), is
// what seeds and checkpoints hold; V is the stream's values. Used by the job thread only.
template <typename K, typename V, typename Record>
class ExecutorState {
 public:
  using InitialSeed = std::function<RddRef(int64_t first_ms)>;  // null RddRef: empty
  ExecutorState(ContextCore* ctx, std::shared_ptr<const StateOp> op, int partitions,
                StreamRef source, InitialSeed initial_seed)
      : ctx_(ctx),
        op_(std::move(op)),
        partitions_(partitions),
        source_(std::move(source)),
        slide_(SlideOf(source_)),
        initial_seed_(std::move(initial_seed)),
        key_(NewStateKey(ctx)) {}

  // Set once the stream exists: its checkpoints are found through it, and with
  // `keeps_versions` its remember duration says how many versions the executors keep.
  void set_stream(const StreamNode* stream, std::string kind, bool keeps_versions) {
    stream_ = stream;
    kind_ = std::move(kind);
    keeps_versions_ = keeps_versions;
  }

  // A read (kSnapshot, kRecords) of the state as of `at`.
  RddRef Read(StateRddSpec::Mode mode, int64_t at) const {
    return MakeStateRdd(ctx_, Spec(mode, at, at), nullptr, nullptr);
  }

  // Batch t's update with `values`: `run(update rdd)` runs the job and its result is returned.
  template <typename Run>
  auto Update(Time t, RddRef values, const Run& run) {
    if (last_ms_ >= t.milliseconds()) {
      throw EmberError(kind_ + ": batch " + t.toString() + " computed out of order");
    }
    if (!initialized_) {
      initialized_ = true;
      first_ms_ = t.milliseconds();
      seed_ = initial_seed_(first_ms_);
    }
    try {
      return Apply(t, values, run);  // not moved: the rebuild below applies them again
    } catch (const StateLostError&) {
      // An executor was lost with partitions of the state: start again from the newest
      // checkpoint (or the initial state) and apply the batches since, then this one.
      std::vector<std::string> parts;
      int64_t from = LatestStateCheckpoint(stream_, &parts);
      Time next(0);
      if (from >= 0) {
        SeedFrom(std::move(parts), from);
        next = Time(from) + slide_;
      } else {
        seed_ = initial_seed_(first_ms_);
        seed_parts_.clear();
        last_ms_ = -1;
        next = Time(first_ms_);
      }
      for (; next < t; next = next + slide_) {
        std::vector<RddRef> batch = SliceStream(source_, next, next);
        Apply(next, batch.empty() ? nullptr : batch[0], run);
      }
      return Apply(t, std::move(values), run);
    }
  }

  // The state as records, for a checkpoint.
  std::vector<std::string> Save() const {
    if (seed_ != nullptr && !seed_parts_.empty()) return seed_parts_;
    RddRef records = seed_ != nullptr ? seed_ : Read(StateRddSpec::kRecords, last_ms_);
    return RunJob(records, std::make_shared<CollectOp<Record, EmptyStack<Record>>>());
  }
  // The state as of `t` from a checkpoint, replacing the initial state.
  void Restore(std::vector<std::string> parts, Time t) {
    initialized_ = true;
    first_ms_ = t.milliseconds();
    SeedFrom(std::move(parts), t.milliseconds());
  }

 private:
  StateRddSpec Spec(StateRddSpec::Mode mode, int64_t prev_ms, int64_t new_ms) const {
    StateRddSpec spec;
    spec.state_key = key_;
    spec.mode = mode;
    spec.prev_ms = prev_ms;
    spec.new_ms = new_ms;
    spec.op = op_;
    spec.num_partitions = partitions_;
    if (keeps_versions_ && stream_ != nullptr) {
      spec.keep_versions = static_cast<int>(RememberOf(stream_).milliseconds() /
                                            std::max<int64_t>(1, slide_.milliseconds())) +
                           1;
    }
    return spec;
  }
  template <typename Run>
  auto Apply(Time t, RddRef values, const Run& run) {
    if (values == nullptr) values = MakeEmptyRdd(ctx_);
    RddRef seed;
    if (seed_ != nullptr)
      seed = PartitionByKey<K, typename Record::second_type>(seed_, partitions_);
    RddRef rdd = MakeStateRdd(ctx_, Spec(StateRddSpec::kUpdate, last_ms_, t.milliseconds()),
                              PartitionByKey<K, V>(values, partitions_), seed);
    auto result = run(rdd);
    seed_ = nullptr;
    seed_parts_.clear();
    last_ms_ = t.milliseconds();
    return result;
  }
  void SeedFrom(std::vector<std::string> parts, int64_t at) {
    seed_parts_ = parts;
    seed_ = MakeInlineRdd(ctx_, std::move(parts), std::make_shared<VectorDecoder<Record>>());
    last_ms_ = at;
  }

  ContextCore* const ctx_;
  const std::shared_ptr<const StateOp> op_;
  const int partitions_;
  const StreamRef source_;
  const Duration slide_;
  const InitialSeed initial_seed_;
  const std::string key_;  // the executors' name for this state
  const StreamNode* stream_ = nullptr;
  std::string kind_ = "stateful stream";  // for messages
  bool keeps_versions_ = false;
  bool initialized_ = false;
  int64_t first_ms_ = -1;  // the first batch (the initial state's)
  int64_t last_ms_ = -1;   // the executors hold the state as of this batch
  RddRef seed_;            // Rdd<Record>: when set, the state at last_ms_ to start from
  std::vector<std::string> seed_parts_;  // the seed's partitions, when from a checkpoint
};

// Makes `stream` the stateful stream of `state`: an output of its own named `kind` (so that it
// is computed every batch, in order), checkpointed and restored through `state`.
template <typename State>
void RegisterExecutorState(const std::shared_ptr<State>& state, const StreamRef& stream,
                           const std::string& kind, const std::string& type,
                           Duration default_interval, bool keeps_versions) {
  RegisterStateOutput(stream, kind);
  StatefulStream stateful;
  stateful.kind = kind;
  stateful.type = type;
  stateful.default_interval = default_interval;
  stateful.replays_inputs = true;
  stateful.save = [state] { return state->Save(); };
  stateful.restore = [state](std::vector<std::string> parts, Time t) {
    state->Restore(std::move(parts), t);
  };
  RegisterStatefulStream(stream, std::move(stateful));
  state->set_stream(stream.get(), kind, keeps_versions);
}

}  // namespace internal
}  // namespace ember
