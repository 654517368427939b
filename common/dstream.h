#pragma once
// DStream<T>: a discretized stream, Spark Streaming's abstraction. Every batch interval it
// yields an Rdd<T>. Narrow transformations fuse at compile time as they do on Rdd (see rdd.h):
// keep `auto` for chains, or name `DStream<T>` to materialize.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "common/engine_api.h"
#include "common/rdd.h"
#include "common/show.h"
#include "common/state.h"

namespace ember {

template <typename T, typename Stack = internal::EmptyStack<T>>
class DStream;
template <typename M, typename K, typename S>
class MapWithStateDStream;

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

template <typename T>
struct ToCountPair {
  std::pair<T, int64_t> operator()(const T& x) const { return {x, 1}; }
};
template <typename P>
struct KeyToCountPair {
  std::pair<typename P::first_type, int64_t> operator()(const P& kv) const { return {kv.first, 1}; }
};
template <typename T>
struct ToUnitKey {
  std::pair<uint8_t, T> operator()(const T& x) const { return {0, x}; }
};
template <typename T>
struct SecondOf {
  T operator()(const std::pair<uint8_t, T>& p) const { return p.second; }
};
struct PartitionCount {
  template <typename T>
  std::vector<std::pair<uint8_t, int64_t>> operator()(const std::vector<T>& p) const {
    return {{0, static_cast<int64_t>(p.size())}};
  }
};
template <typename F>
struct ReduceAdapter : WrappedFn<F> {
  template <typename X>
  X operator()(X a, X b) const {
    return this->f(std::move(a), std::move(b));
  }
};

// Spark's print(): a header with the batch time, the first `num` records, "..." when there
// are more, and a blank line.
template <typename T>
std::string FormatBatch(const std::vector<T>& first, int num, Time time) {
  std::string out = "-------------------------------------------\nTime: ";
  out += std::to_string(time.milliseconds());
  out += " ms\n-------------------------------------------\n";
  for (int i = 0; i < static_cast<int>(first.size()) && i < num; ++i) {
    Show(first[i], &out);
    out.push_back('\n');
  }
  if (static_cast<int>(first.size()) > num) out += "...\n";
  out.push_back('\n');
  return out;
}

std::string BatchDirectory(const std::string& prefix, const std::string& suffix, Time time);
}  // namespace internal

template <typename T, typename Stack>
class DStream {
 public:
  using value_type = T;

  explicit DStream(internal::StreamRef node, Stack stack = {})
      : node_(std::move(node)), stack_(std::move(stack)) {}
  template <typename S2, typename = std::enable_if_t<Stack::kEmpty && !S2::kEmpty>>
  DStream(const DStream<T, S2>& other) : DStream(other.materialize()) {}  // NOLINT

  // --------------------------------------------------------------------------- narrow
  template <typename F>
  auto map(F f) const {
    return Wrap(EmptyRdd().map(std::move(f)));
  }
  template <typename F>
  auto flatMap(F f) const {
    return Wrap(EmptyRdd().flatMap(std::move(f)));
  }
  template <typename F>
  auto filter(F f) const {
    return Wrap(EmptyRdd().filter(std::move(f)));
  }
  template <typename F>
  auto mapValues(F f) const {
    return Wrap(EmptyRdd().mapValues(std::move(f)));
  }
  template <typename F>
  auto flatMapValues(F f) const {
    return Wrap(EmptyRdd().flatMapValues(std::move(f)));
  }
  template <typename F>
  auto mapPartitions(F f) const {
    return Apply([f](const Rdd<T, Stack>& r) { return r.mapPartitions(f); });
  }
  DStream<std::vector<T>> glom() const {
    return Apply([](const Rdd<T, Stack>& r) { return r.glom(); });
  }

  // ------------------------------------------------------------------------ per batch
  DStream<T> repartition(int num_partitions) const {
    return Apply(
        [num_partitions](const Rdd<T, Stack>& r) { return r.repartition(num_partitions); });
  }
  template <typename S2>
  DStream<T> union_(const DStream<T, S2>& other) const {
    DStream<T> a = materialize();
    DStream<T> b = other.materialize();
    return DStream<T>(internal::MakeDerivedStream(
        {a.node_, b.node_}, [](const std::vector<internal::RddRef>& ps, Time) {
          return internal::MakeUnionRdd({ps[0], ps[1]});
        }));
  }
  template <typename S2>
  DStream<T> unionWith(const DStream<T, S2>& other) const {
    return union_(other);
  }
  // One record per batch: the number of records (0 for an empty batch).
  DStream<int64_t> count() const {
    internal::ContextCore* ctx = internal::ContextOf(node_);
    return Apply([ctx](const Rdd<T, Stack>& r) {
      Rdd<std::pair<uint8_t, int64_t>> zero(
          internal::MakeParallelRdd<std::pair<uint8_t, int64_t>>(ctx, {{0, 0}}, 1));
      return r.mapPartitions(internal::PartitionCount{})
          .union_(zero)
          .reduceByKey(internal::SumInt64{}, 1)
          .map(internal::SecondOf<int64_t>{})
          .materialize();
    });
  }
  DStream<std::pair<T, int64_t>> countByValue(int num_partitions = 0) const {
    return map(internal::ToCountPair<T>{}).reduceByKey(internal::SumInt64{}, num_partitions);
  }
  // At most one record per batch: all records reduced with f (none for an empty batch).
  template <typename F>
  DStream<T> reduce(F f) const {
    return map(internal::ToUnitKey<T>{})
        .reduceByKey(internal::ReduceAdapter<F>{{f}}, 1)
        .map(internal::SecondOf<T>{});
  }

  // f(Rdd<T>) or f(Rdd<T>, Time) -> Rdd<U>, run on the driver every batch.
  template <typename F>
  auto transform(F f) const {
    return Apply(std::move(f));
  }
  template <typename U, typename S2, typename F>
  auto transformWith(const DStream<U, S2>& other, F f) const {
    DStream<T> a = materialize();
    DStream<U> b = other.materialize();
    using Out = decltype(CallWithTime(f, std::declval<Rdd<T>>(), std::declval<Rdd<U>>(), Time()));
    using V = typename Out::value_type;
    return DStream<V>(internal::MakeDerivedStream(
        {a.node_, b.node_}, [f](const std::vector<internal::RddRef>& ps, Time t) {
          return CallWithTime(f, Rdd<T>(ps[0]), Rdd<U>(ps[1]), t).ref();
        }));
  }

  // ------------------------------------------------------------------------------ pairs
  template <typename F>
  auto reduceByKey(F f, int num_partitions = 0) const {
    return Apply(
        [f, num_partitions](const Rdd<T, Stack>& r) { return r.reduceByKey(f, num_partitions); });
  }
  auto groupByKey(int num_partitions = 0) const {
    num_partitions = Parts(num_partitions);
    return Apply([num_partitions](const Rdd<T, Stack>& r) { return r.groupByKey(num_partitions); });
  }
  template <typename Create, typename MergeV, typename MergeC>
  auto combineByKey(Create create, MergeV merge_value, MergeC merge_combiners,
                    int num_partitions = 0, bool map_side_combine = true) const {
    num_partitions = Parts(num_partitions);
    return Apply([=](const Rdd<T, Stack>& r) {
      return r.combineByKey(create, merge_value, merge_combiners, num_partitions, map_side_combine);
    });
  }
  // Per batch, (key, number of records with that key).
  auto countByKey(int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "countByKey");
    return map(internal::KeyToCountPair<T>{}).reduceByKey(internal::SumInt64{}, num_partitions);
  }
  template <typename W, typename S2>
  auto cogroup(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    n = Parts(n);
    return Binary(other, [n](const auto& a, const auto& b) { return a.cogroup(b, n); });
  }
  template <typename W, typename S2>
  auto join(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    n = Parts(n);
    return Binary(other, [n](const auto& a, const auto& b) { return a.join(b, n); });
  }
  template <typename W, typename S2>
  auto leftOuterJoin(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    n = Parts(n);
    return Binary(other, [n](const auto& a, const auto& b) { return a.leftOuterJoin(b, n); });
  }
  template <typename W, typename S2>
  auto rightOuterJoin(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    n = Parts(n);
    return Binary(other, [n](const auto& a, const auto& b) { return a.rightOuterJoin(b, n); });
  }
  template <typename W, typename S2>
  auto fullOuterJoin(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    n = Parts(n);
    return Binary(other, [n](const auto& a, const auto& b) { return a.fullOuterJoin(b, n); });
  }

  // ---------------------------------------------------------------------------- windows
  // Every `slide` (default: this stream's slide), the records of the batches in
  // (t - length, t]. Both must be multiples of this stream's slide.
  DStream<T> window(Duration length) const { return window(length, internal::SlideOf(node_)); }
  DStream<T> window(Duration length, Duration slide) const {
    return DStream<T>(internal::MakeWindowedStream(ref(), length, slide));
  }
  DStream<int64_t> countByWindow(Duration length, Duration slide) const {
    return window(length, slide).count();
  }
  template <typename F>
  DStream<T> reduceByWindow(F f, Duration length, Duration slide) const {
    // Reduce each batch first, so that a window combines one record per batch.
    return reduce(f).window(length, slide).reduce(f);
  }
  // Incremental: counts entering are added, counts leaving subtracted, keys at zero dropped.
  DStream<std::pair<T, int64_t>> countByValueAndWindow(Duration length, Duration slide,
                                                       int num_partitions = 0) const {
    return map(internal::PairWithOne<T>{})
        .reduceByKeyAndWindow(internal::SumInt64{}, internal::SubInt64{}, length, slide,
                              num_partitions, internal::PositiveCount<T>{});
  }
  template <typename F>
  auto reduceByKeyAndWindow(F f, Duration length, int num_partitions = 0) const {
    return reduceByKeyAndWindow(f, length, internal::SlideOf(node_), num_partitions);
  }
  template <typename F>
  auto reduceByKeyAndWindow(F f, Duration length, Duration slide, int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "reduceByKeyAndWindow");
    return reduceByKey(f, num_partitions).window(length, slide).reduceByKey(f, num_partitions);
  }
  // The incremental form (Spark's reduceByKeyAndWindow with invReduceFunc): every `slide`,
  // the previous window's value of each key, plus the batches entering (f), minus the
  // batches leaving (inv, which must undo f), so that the cost does not grow with the window
  // length. `filter(const std::pair<K, V>&)` keeps a key (e.g. drop counts of zero); without
  // one, a key stays once seen, with the neutral value when it has no records left. The
  // previous window is kept by the driver between slides, as state is.
  template <typename F, typename InvF>
  auto reduceByKeyAndWindow(F f, InvF inv, Duration length, Duration slide,
                            int num_partitions = 0) const {
    return reduceByKeyAndWindow(std::move(f), std::move(inv), length, slide, num_partitions,
                                internal::KeepAll{});
  }
  template <typename F, typename InvF, typename Filter>
  auto reduceByKeyAndWindow(F f, InvF inv, Duration length, Duration slide, int num_partitions,
                            Filter filter) const {
    EMBER_ASSERT_PAIR(T, "reduceByKeyAndWindow");
    return InverseWindow(std::move(f), std::move(inv), length, slide, num_partitions,
                         std::move(filter));
  }
  // reduceByWindow with an inverse function: incremental, as above.
  template <typename F, typename InvF>
  DStream<T> reduceByWindow(F f, InvF inv, Duration length, Duration slide) const {
    return map(internal::KeyedByZero<T>{})
        .reduceByKeyAndWindow(internal::ApplyToPair<F>{{std::move(f)}},
                              internal::ApplyToPair<InvF>{{std::move(inv)}}, length, slide, 1)
        .map(internal::SecondOf<T>{});
  }
  auto groupByKeyAndWindow(Duration length, Duration slide, int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "groupByKeyAndWindow");
    return window(length, slide).groupByKey(num_partitions);
  }
  // The RDDs this stream has kept for the batches in [from, to] (see remember durations).
  std::vector<Rdd<T>> slice(Time from, Time to) const {
    std::vector<Rdd<T>> out;
    for (auto& r : internal::SliceStream(ref(), from, to)) out.emplace_back(std::move(r));
    return out;
  }

  // How often this stream's state is checkpointed (stateful streams: updateStateByKey,
  // mapWithState, inverse windows); a positive multiple of its slide. Other streams keep no
  // state between batches and ignore it.
  DStream<T> checkpoint(Duration interval) const {
    DStream<T> m = materialize();
    internal::SetCheckpointInterval(m.node_, interval);
    return m;
  }

  // ------------------------------------------------------------------------------ state
  // The state of every key, updated every batch (Spark's updateStateByKey):
  //   f(const std::vector<V>& new_values, const std::optional<S>& state) -> std::optional<S>
  // f sees every key that has state or new values, every batch (with no new values too);
  // returning std::nullopt removes the key. S is deduced from f's return type (write
  // updateStateByKey<S>(f) for a generic f). `initial` gives keys a state before the first
  // batch.
  //
  // The state stays in the executors between batches, a hash map per partition (see
  // mapWithState); each batch makes a new one, and earlier ones stay readable while the
  // stream remembers them (a window over the state stream).
  template <typename S = void, typename F>
  auto updateStateByKey(F f, int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "updateStateByKey");
    using St = internal::StateTypeOf<S, F>;
    return UpdateState<St>(std::move(f), num_partitions, nullptr);
  }
  template <typename S = void, typename F, typename InitialRdd>
  auto updateStateByKey(F f, int num_partitions, const InitialRdd& initial) const {
    EMBER_ASSERT_PAIR(T, "updateStateByKey");
    using St = internal::StateTypeOf<S, F>;
    static_assert(
        std::is_same_v<typename InitialRdd::value_type, std::pair<typename T::first_type, St>>,
        "updateStateByKey: the initial state must be an Rdd<std::pair<K, S>>");
    return UpdateState<St>(std::move(f), num_partitions, initial.ref());
  }

  // mapWithState(StateSpec::function(f)...): f(key, value, State<S>&) -> M for every record
  // of every batch, and for keys timing out (common/state.h). Returns the stream of what f
  // returns; its stateSnapshots() is the (key, state) of every key after each batch.
  //
  // The state stays in the executors, one hash map per partition: each batch's records are
  // partitioned by key and applied where their partition's state is, so that a batch costs
  // what it touches. Every checkpoint interval the state is collected and checkpointed; an
  // executor lost with its partitions is made good from that checkpoint and the batches since.
  template <typename F>
  auto mapWithState(const StateSpecOf<F>& spec) const {
    EMBER_ASSERT_PAIR(T, "mapWithState");
    using Spec = StateSpecOf<F>;
    using K = typename Spec::K;
    using V = typename Spec::V;
    using S = typename Spec::S;
    using M = typename Spec::M;
    static_assert(std::is_same_v<T, std::pair<K, V>>,
                  "mapWithState: the function must take (const K&, const std::optional<V>&, "
                  "ember::State<S>&) for a stream of std::pair<K, V>");
    using Op = internal::MapWithStateOp<F, K, V, S, M>;
    using Record = typename Op::Record;
    using Snapshot = std::pair<K, S>;
    DStream<T> parent = materialize();
    internal::ContextCore* ctx = internal::ContextOf(node_);
    const int n = spec.partitions() > 0 ? spec.partitions() : internal::DefaultParallelism(ctx);
    internal::RddRef initial = spec.initial();
    auto state = std::make_shared<internal::ExecutorState<K, V, Record>>(
        ctx, std::make_shared<const Op>(spec.fn(), spec.timeout_ms()), n, parent.node_,
        [initial](int64_t first_ms) -> internal::RddRef {
          if (initial == nullptr) return nullptr;
          // The initial state counts as updated at the first batch.
          return Rdd<Snapshot>(initial).map(internal::StampState<K, S>{first_ms}).ref();
        });
    // Each batch's outputs (the mapped records), until the mapped stream takes them.
    auto mapped_rdds = std::make_shared<std::map<int64_t, internal::RddRef>>();
    auto core = internal::MakeDerivedStream(
        {parent.node_},
        [state, mapped_rdds, ctx](const std::vector<internal::RddRef>& ps,
                                  Time t) -> internal::RddRef {
          (*mapped_rdds)[t.milliseconds()] =
              state->Update(t, ps[0], [ctx](const internal::RddRef& update) {
                std::vector<std::string> parts = internal::RunJob(
                    update, std::make_shared<internal::CollectOp<M, internal::EmptyStack<M>>>());
                return internal::MakeInlineRdd(ctx, std::move(parts),
                                               std::make_shared<internal::VectorDecoder<M>>());
              });
          // Outputs no one asked for go after a while.
          while (mapped_rdds->size() > 16) mapped_rdds->erase(mapped_rdds->begin());
          return internal::MakeEmptyRdd(ctx);  // the batch is done; its streams are below
        });
    // The snapshots stream reads the state of its batch where the executors keep it.
    auto snapshots = internal::MakeDerivedStream(
        std::vector<internal::StreamRef>{core},
        [state](const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
          return state->Read(internal::StateRddSpec::kSnapshot, t.milliseconds());
        });
    internal::RegisterExecutorState(state, core, "mapWithState", typeid(Record).name(),
                                    Milliseconds(10 * internal::SlideOf(core).milliseconds()),
                                    /*keeps_versions=*/false);
    auto mapped = internal::MakeDerivedStream(
        std::vector<internal::StreamRef>{core},
        [mapped_rdds, ctx](const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
          auto it = mapped_rdds->find(t.milliseconds());
          if (it == mapped_rdds->end()) return internal::MakeEmptyRdd(ctx);
          internal::RddRef rdd = it->second;
          mapped_rdds->erase(it);
          return rdd;
        });
    return MapWithStateDStream<M, K, S>(DStream<M>(mapped), DStream<Snapshot>(snapshots), core);
  }

  // --------------------------------------------------------------------------- outputs
  // f(Rdd<T>) or f(Rdd<T>, Time), run on the driver every batch, in registration order.
  template <typename F>
  void foreachRDD(F f) const {
    Stack stack = stack_;
    internal::RegisterOutput(node_, [f, stack](const internal::RddRef& rdd, Time t) {
      CallWithTime(f, Rdd<T, Stack>(rdd, stack), t);
    });
  }
  void print(int num = 10) const {
    internal::ContextCore* ctx = internal::ContextOf(node_);
    foreachRDD([num, ctx](const Rdd<T, Stack>& rdd, Time t) {
      internal::EmitOutput(ctx, internal::FormatBatch(rdd.take(num + 1), num, t));
    });
    internal::NameLastOutput(node_, "print");
  }
  // Every batch: a directory `prefix-<batch time ms>[.suffix]` of part-NNNNN text files.
  void saveAsTextFiles(const std::string& prefix, const std::string& suffix = "") const {
    foreachRDD([prefix, suffix](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsTextFile(internal::BatchDirectory(prefix, suffix, t));
    });
    internal::NameLastOutput(node_, "saveAsTextFiles");
  }
  // Every batch: a directory of object files (common/object_file.h; read with ReadObjectFiles).
  void saveAsObjectFiles(const std::string& prefix, const std::string& suffix = "") const {
    foreachRDD([prefix, suffix](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsObjectFile(internal::BatchDirectory(prefix, suffix, t));
    });
    internal::NameLastOutput(node_, "saveAsObjectFiles");
  }

  // Keeps each batch's RDD once computed, for the outputs that share it. Returns the
  // persisted stream: use the returned stream (a fused chain is materialized first).
  DStream<T> persist() const {
    DStream<T> m = materialize();
    internal::PersistStream(m.node_);
    return m;
  }
  DStream<T> cache() const { return persist(); }

  DStream<T> materialize() const {
    if constexpr (Stack::kEmpty) {
      return DStream<T>(node_);
    } else {
      return Apply([](const Rdd<T, Stack>& r) { return r.materialize(); });
    }
  }
  internal::StreamRef ref() const { return materialize().node_; }

  template <typename St, typename F, typename P = T>
  DStream<std::pair<typename P::first_type, St>> UpdateState(F f, int num_partitions,
                                                             internal::RddRef initial) const {
    using K = typename P::first_type;
    using V = typename T::second_type;
    using Out = std::pair<K, St>;
    using Op = internal::UpdateStateOp<F, K, V, St>;
    DStream<T> parent = materialize();
    internal::ContextCore* ctx = internal::ContextOf(node_);
    const int n = num_partitions > 0 ? num_partitions : internal::DefaultParallelism(ctx);
    auto state = std::make_shared<internal::ExecutorState<K, V, Out>>(
        ctx, std::make_shared<const Op>(std::move(f)), n, parent.node_,
        [initial](int64_t) { return initial; });
    // Its RDD reads the executors' state of that batch.
    auto node = internal::MakeDerivedStream(
        {parent.node_},
        [state](const std::vector<internal::RddRef>& ps, Time t) -> internal::RddRef {
          state->Update(t, ps[0], [](const internal::RddRef& update) {
            return internal::RunJob(update, internal::CountResultOp()).size();
          });
          return state->Read(internal::StateRddSpec::kSnapshot, t.milliseconds());
        });
    internal::RegisterExecutorState(state, node, "updateStateByKey", typeid(Out).name(),
                                    internal::DefaultCheckpointInterval(internal::SlideOf(node)),
                                    /*keeps_versions=*/true);
    return DStream<Out>(node);
  }

  template <typename F, typename InvF, typename Filter, typename P = T>
  DStream<P> InverseWindow(F f, InvF inv, Duration length, Duration slide, int num_partitions,
                           Filter filter) const {
    using K = typename P::first_type;
    using V = typename P::second_type;
    DStream<T> parent = materialize();
    internal::StreamRef source = parent.node_;
    internal::ContextCore* ctx = internal::ContextOf(node_);
    Duration interval = internal::SlideOf(source);
    // Checks the durations, and makes the parent keep the batches of the window and the
    // slide before it (those leaving the window).
    internal::StreamRef keeper = internal::MakeWindowedStream(source, length + slide, slide);
    internal::MakeWindowedStream(source, length, slide);  // the same checks, with length
    struct Holder {
      internal::RddRef last;  // the previous window, reduced and filtered
      std::vector<std::string> last_parts;
      int64_t last_ms = -1;
    };
    auto holder = std::make_shared<Holder>();
    internal::WindowMergeFn<F, InvF, Filter, K, V> merge{f, inv, filter};
    internal::KeepIf<Filter> keep{{filter}};
    int n = num_partitions;
    auto union_of = [ctx](std::vector<internal::RddRef> rdds) {
      return Rdd<T>(rdds.empty() ? internal::MakeEmptyRdd(ctx)
                                 : internal::MakeUnionRdd(std::move(rdds)));
    };
    auto node = internal::MakeDerivedStream(
        {keeper},
        [holder, source, f, merge, keep, n, ctx, interval, length, slide, union_of](
            const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
          Rdd<P> next(internal::MakeEmptyRdd(ctx));
          std::vector<std::string> parts;
          if (holder->last == nullptr || holder->last_ms != (t - slide).milliseconds()) {
            // The first window (or one after a gap): from its batches.
            auto window = union_of(internal::SliceStream(source, t - length + interval, t));
            parts = internal::RunJob(
                window.reduceByKey(f, n).filter(keep).ref(),
                std::make_shared<internal::CollectOp<P, internal::EmptyStack<P>>>());
          } else {
            auto entering =
                union_of(internal::SliceStream(source, t - slide + interval, t)).reduceByKey(f, n);
            auto leaving =
                union_of(internal::SliceStream(source, t - length - slide + interval, t - length))
                    .reduceByKey(f, n);
            Rdd<P> prev(holder->last);
            auto merged = prev.cogroup(entering, n).cogroup(leaving, n).flatMap(merge);
            parts = internal::RunJob(
                merged.ref(), std::make_shared<internal::CollectOp<P, internal::EmptyStack<P>>>());
          }
          holder->last_parts = parts;
          holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                                 std::make_shared<internal::VectorDecoder<P>>());
          holder->last_ms = t.milliseconds();
          return holder->last;
        });
    internal::StatefulStream state;
    state.kind = "reduceByKeyAndWindow with an inverse function";
    state.type = typeid(P).name();
    state.default_interval = internal::DefaultCheckpointInterval(slide);
    state.save = [holder] { return holder->last_parts; };
    // A window restored from its checkpoint continues only if the next slide follows it; after
    // a longer gap the window is computed again from its batches.
    state.restore = [holder, ctx](std::vector<std::string> parts, Time t) {
      holder->last_parts = parts;
      holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                             std::make_shared<internal::VectorDecoder<P>>());
      holder->last_ms = t.milliseconds();
    };
    internal::RegisterStatefulStream(node, std::move(state));
    return DStream<P>(node);
  }

 private:
  template <typename, typename>
  friend class DStream;

  // DStream shuffles default to the context's parallelism, as Spark Streaming's do.
  int Parts(int requested) const {
    return requested > 0 ? requested : internal::DefaultParallelism(internal::ContextOf(node_));
  }
  Rdd<T, Stack> EmptyRdd() const { return Rdd<T, Stack>(nullptr, stack_); }
  template <typename U, typename S2>
  DStream<U, S2> Wrap(const Rdd<U, S2>& r) const {
    return DStream<U, S2>(node_, r.stack());
  }

  template <typename F, typename... Args>
  static auto CallWithTime(F& f, Args&&... args_and_time) {
    return CallWithTimeImpl(f, std::forward_as_tuple(std::forward<Args>(args_and_time)...),
                            std::make_index_sequence<sizeof...(Args) - 1>());
  }
  template <typename F, typename Tuple, size_t... I>
  static auto CallWithTimeImpl(F& f, Tuple&& t, std::index_sequence<I...>) {
    constexpr size_t kLast = sizeof...(I);
    if constexpr (std::is_invocable_v<F&, std::tuple_element_t<I, std::decay_t<Tuple>>..., Time>) {
      return f(std::get<I>(t)..., std::get<kLast>(t));
    } else {
      return f(std::get<I>(t)...);
    }
  }

  // A stream whose RDD each batch is g(this batch's RDD, with the fused stack).
  template <typename G>
  auto Apply(G g) const {
    using Out = std::decay_t<decltype(CallWithTime(g, std::declval<Rdd<T, Stack>>(), Time()))>;
    using U = typename Out::value_type;
    Stack stack = stack_;
    return DStream<U>(internal::MakeDerivedStream(
        {node_}, [g, stack](const std::vector<internal::RddRef>& ps, Time t) mutable {
          return Rdd<U>(CallWithTime(g, Rdd<T, Stack>(ps[0], stack), t)).ref();
        }));
  }
  template <typename W, typename S2, typename G>
  auto Binary(const DStream<std::pair<internal::KeyOf<T>, W>, S2>& other, G g) const {
    using Other = Rdd<std::pair<internal::KeyOf<T>, W>, S2>;
    using Out = decltype(g(std::declval<Rdd<T, Stack>>(), std::declval<Other>()));
    using U = typename Out::value_type;
    Stack stack = stack_;
    S2 other_stack = other.stack_;
    return DStream<U>(internal::MakeDerivedStream(
        {node_, other.node_},
        [g, stack, other_stack](const std::vector<internal::RddRef>& ps, Time) {
          return Rdd<U>(g(Rdd<T, Stack>(ps[0], stack), Other(ps[1], other_stack))).ref();
        }));
  }

  internal::StreamRef node_;
  Stack stack_;
};

// What mapWithState returns: the stream of the mapping function's results, and the state.
template <typename M, typename K, typename S>
class MapWithStateDStream : public DStream<M> {
 public:
  MapWithStateDStream(DStream<M> mapped, DStream<std::pair<K, S>> snapshots,
                      internal::StreamRef state)
      : DStream<M>(std::move(mapped)), snapshots_(std::move(snapshots)), state_(std::move(state)) {}
  // Every key's state after each batch (read in that batch: the executors keep one version).
  DStream<std::pair<K, S>> stateSnapshots() const { return snapshots_; }
  // How often the state is checkpointed (default: 10 batch intervals).
  MapWithStateDStream checkpoint(Duration interval) const {
    internal::SetCheckpointInterval(state_, interval);
    return *this;
  }

 private:
  DStream<std::pair<K, S>> snapshots_;
  internal::StreamRef state_;  // the stream that updates the state each batch
};

}  // namespace ember
