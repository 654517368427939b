#pragma once
// mapWithState's API (Spark's StateSpec and State):
//
//   auto spec = ember::StateSpec::function(
//       [](const std::string& word, const std::optional<int>& one, ember::State<int64_t>& state) {
//         int64_t n = state.getOption().value_or(0) + one.value_or(0);
//         if (!state.isTimingOut()) state.update(n);
//         return std::make_pair(word, n);
//       }).numPartitions(4).timeout(ember::Seconds(30));
//   auto counts = pairs.mapWithState(spec);       // DStream of what the function returns
//   auto snapshots = counts.stateSnapshots();     // DStream<std::pair<K, S>>, every batch
//
// The function is called once per record of the batch (value present), and once more for
// each key idle longer than the timeout (value empty, state.isTimingOut() true), after which
// the key is gone.

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/errors.h"
#include "common/op.h"
#include "common/ops.h"
#include "common/rdd.h"
#include "common/time.h"

namespace ember {

template <typename S>
class State {
 public:
  bool exists() const { return value_.has_value(); }
  // Throws when there is no state.
  const S& get() const {
    if (!value_) throw EmberError("State.get(): the key has no state");
    return *value_;
  }
  std::optional<S> getOption() const { return value_; }
  void update(S value) {
    if (timing_out_) throw EmberError("State.update(): a timing-out key cannot be updated");
    value_ = std::move(value);
    updated_ = true;
  }
  void remove() {
    if (timing_out_) throw EmberError("State.remove(): a timing-out key is removed anyway");
    value_.reset();
    updated_ = true;
  }
  bool isTimingOut() const { return timing_out_; }

  // Runtime use.
  State() = default;
  State(std::optional<S> value, bool timing_out)
      : value_(std::move(value)), timing_out_(timing_out) {}
  bool updated() const { return updated_; }
  std::optional<S> take() { return std::move(value_); }

 private:
  std::optional<S> value_;
  bool timing_out_ = false;
  bool updated_ = false;
};

namespace internal {
// The parts of f(const K&, const std::optional<V>&, State<S>&) -> M.
template <typename F, typename = void>
struct MappingTraits;
template <typename C, typename R, typename A1, typename A2, typename A3>
struct MappingTraits<R (C::*)(A1, A2, A3) const> {
  using Key = std::decay_t<A1>;
  using Value = typename std::decay_t<A2>::value_type;
  using StateT = std::decay_t<A3>;
  using Mapped = R;
};
template <typename F>
struct MappingTraits<F, std::void_t<decltype(&F::operator())>>
    : MappingTraits<decltype(&F::operator())> {};
template <typename T>
struct StateValue;
template <typename S>
struct StateValue<State<S>> {
  using type = S;
};
}  // namespace internal

template <typename F>
class StateSpecOf {
 public:
  using Traits = internal::MappingTraits<F>;
  using K = typename Traits::Key;
  using V = typename Traits::Value;
  using S = typename internal::StateValue<typename Traits::StateT>::type;
  using M = typename Traits::Mapped;

  explicit StateSpecOf(F f) : f_(std::move(f)) {}
  StateSpecOf& numPartitions(int n) {
    num_partitions_ = n;
    return *this;
  }
  // Keys without records for this long get a last call and are removed.
  StateSpecOf& timeout(Duration idle) {
    timeout_ms_ = idle.milliseconds();
    return *this;
  }
  template <typename Stack>
  StateSpecOf& initialState(const Rdd<std::pair<K, S>, Stack>& rdd) {
    initial_ = rdd.ref();
    return *this;
  }

  const F& fn() const { return f_; }
  int partitions() const { return num_partitions_; }
  int64_t timeout_ms() const { return timeout_ms_; }
  internal::RddRef initial() const { return initial_; }

 private:
  F f_;
  int num_partitions_ = 0;
  int64_t timeout_ms_ = -1;
  internal::RddRef initial_;
};

struct StateSpec {
  template <typename F>
  static StateSpecOf<F> function(F f) {
    return StateSpecOf<F>(std::move(f));
  }
};

namespace internal {
// A partition of state as a hash map, marked with the op that made it.
template <typename Map>
struct MapStatePartition : StatePartition {
  explicit MapStatePartition(const char* key) : op_key(key) {}
  const char* OpKey() const override { return op_key; }
  size_t size() const override { return map.size(); }
  const char* op_key;
  Map map;
};

// Orders (key, ...) records by the stable hash of the key, so that the same state lists the
// same way in every run (checkpoints, snapshots).
template <typename P>
void SortByStableHash(std::vector<P>* v) {
  using K = typename P::first_type;
  StableHash<K> hash;
  std::vector<std::pair<uint64_t, size_t>> order;
  order.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) order.emplace_back(hash((*v)[i].first), i);
  std::sort(order.begin(), order.end(), [v](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return EncodeToString((*v)[a.second].first) < EncodeToString((*v)[b.second].first);
  });
  std::vector<P> sorted;
  sorted.reserve(v->size());
  for (const auto& o : order) sorted.push_back(std::move((*v)[o.second]));
  *v = std::move(sorted);
}

// mapWithState's per-partition work in the executor that keeps the partition's state: a hash
// map of each key's state and the time of its last update. An update visits the batch's
// records and the keys whose idle time ran out (found through an index by update time), so
// its cost follows the keys the batch touches, not the keys the state holds.
template <typename F, typename K, typename V, typename S, typename M>
class MapWithStateOp : public OpBase<MapWithStateOp<F, K, V, S, M>, StateOp> {
 public:
  using Stored = std::pair<S, int64_t>;  // the state, the time of its last update (ms)
  using Record = std::pair<K, Stored>;   // what checkpoints and seeds hold
  using Snap = std::pair<K, S>;

  MapWithStateOp(F f, int64_t timeout_ms) : f_(std::move(f)), timeout_ms_(timeout_ms) {
    // Checked where the op is made: left to the (deferred) registration, g++ 12 finds a
    // captureless lambda not trivially copyable.
    EMBER_ASSERT_SHIPPABLE(F);
  }

  std::unique_ptr<StatePartition> Seed(const Partition* records) const override {
    auto part = std::make_unique<Part>(this->Key());
    if (records == nullptr) return part;
    for (const Record& r : records->As<Record>()) {
      part->map.insert_or_assign(r.first, r.second);
      if (timeout_ms_ >= 0) part->by_time[r.second.second].push_back(r.first);
    }
    return part;
  }

  std::unique_ptr<StatePartition> Update(StatePartition& state, const Partition& values, Time time,
                                         const TaskInfo&, Partition* outputs) const override {
    Part& part = static_cast<Part&>(state);
    const int64_t now = time.milliseconds();
    // Nothing below changes `part` until the user's function has run for every key.
    HashMap<K, std::optional<S>> touched;
    std::vector<M> out;
    const auto& records = values.As<std::pair<K, V>>();
    out.reserve(records.size());
    for (const auto& kv : records) {
      auto [it, first] = touched.try_emplace(kv.first);
      if (first) {
        auto found = part.map.find(kv.first);
        if (found != part.map.end()) it->second = found->second.first;
      }
      State<S> st(std::move(it->second), /*timing_out=*/false);
      out.push_back(f_(kv.first, std::optional<V>(kv.second), st));
      it->second = st.take();
    }
    HashMap<K, bool> timed_out;  // a key can sit in one bucket twice (seeded, then updated)
    auto expired = part.by_time.end();
    if (timeout_ms_ >= 0) {
      // Idle strictly longer than the timeout, as Spark's lastUpdate < batchTime - timeout.
      expired = part.by_time.lower_bound(now - timeout_ms_);
      for (auto bucket = part.by_time.begin(); bucket != expired; ++bucket) {
        for (const K& k : bucket->second) {
          if (touched.contains(k) || timed_out.contains(k)) continue;
          auto found = part.map.find(k);
          // Updated since (the key is in a later bucket too), or removed.
          if (found == part.map.end() || found->second.second != bucket->first) continue;
          State<S> st(found->second.first, /*timing_out=*/true);
          out.push_back(f_(k, std::optional<V>(), st));
          timed_out.emplace(k, true);
        }
      }
    }
    // Commit.
    if (timeout_ms_ >= 0) part.by_time.erase(part.by_time.begin(), expired);
    for (const auto& [k, unused] : timed_out) part.map.erase(k);
    for (auto& [k, value] : touched) {
      if (!value) {
        part.map.erase(k);
        continue;
      }
      // A key with records was active at this batch: its idle time starts again.
      part.map.insert_or_assign(k, Stored(std::move(*value), now));
      if (timeout_ms_ >= 0) part.by_time[now].push_back(k);
    }
    *outputs = Partition::Of(std::move(out));
    return nullptr;  // updated in place
  }

  Partition Snapshot(const StatePartition& state) const override {
    const Part& part = static_cast<const Part&>(state);
    std::vector<Snap> out;
    out.reserve(part.map.size());
    for (const auto& [k, stored] : part.map) out.emplace_back(k, stored.first);
    SortByStableHash(&out);
    return Partition::Of(std::move(out));
  }
  Partition Records(const StatePartition& state) const override {
    const Part& part = static_cast<const Part&>(state);
    std::vector<Record> out(part.map.begin(), part.map.end());
    SortByStableHash(&out);
    return Partition::Of(std::move(out));
  }

  void SaveClosure(Writer& w) const override {
    internal::SaveClosure(f_, w);
    Codec<int64_t>::Encode(timeout_ms_, w);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto f = LoadClosure<F>(r);
    int64_t timeout_ms = 0;
    if (!f || !Codec<int64_t>::Decode(r, &timeout_ms)) return nullptr;
    return std::make_unique<MapWithStateOp>(std::move(*f), timeout_ms);
  }

 private:
  struct Part : MapStatePartition<HashMap<K, Stored>> {
    using MapStatePartition<HashMap<K, Stored>>::MapStatePartition;
    // Keys by the time of their last update, with a timeout only. A key updated again stays
    // in its older bucket too; the scan skips it there.
    std::map<int64_t, std::vector<K>> by_time;
  };
  F f_;
  int64_t timeout_ms_;
};

// updateStateByKey's per-partition work in the executor that keeps the partition's state:
// f(new values, state) for every key with state or values, each batch, into a new map (the
// previous one stays readable while a window over the state stream needs it).
template <typename F, typename K, typename V, typename S>
class UpdateStateOp : public OpBase<UpdateStateOp<F, K, V, S>, StateOp> {
 public:
  using Record = std::pair<K, S>;

  explicit UpdateStateOp(F f) : f_(std::move(f)) {
    EMBER_ASSERT_SHIPPABLE(F);  // where the op is made, as MapWithStateOp's
  }

  std::unique_ptr<StatePartition> Seed(const Partition* records) const override {
    auto part = std::make_unique<Part>(this->Key());
    if (records == nullptr) return part;
    for (const Record& r : records->As<Record>()) part->map.insert_or_assign(r.first, r.second);
    return part;
  }

  std::unique_ptr<StatePartition> Update(StatePartition& state, const Partition& values, Time,
                                         const TaskInfo&, Partition* outputs) const override {
    const Part& prev = static_cast<const Part&>(state);
    HashMap<K, std::vector<V>> grouped;
    for (const auto& kv : values.As<std::pair<K, V>>()) grouped[kv.first].push_back(kv.second);
    auto next = std::make_unique<Part>(this->Key());
    next->map.reserve(prev.map.size() + grouped.size());
    const std::vector<V> none;
    for (const auto& [k, s] : prev.map) {
      auto g = grouped.find(k);
      std::optional<S> r = f_(g == grouped.end() ? none : g->second, std::optional<S>(s));
      if (r) next->map.emplace(k, std::move(*r));
    }
    for (auto& [k, vs] : grouped) {
      if (prev.map.contains(k)) continue;
      std::optional<S> r = f_(vs, std::optional<S>());
      if (r) next->map.emplace(k, std::move(*r));
    }
    *outputs = Partition::Of(std::vector<Record>());  // the state stream reads the state
    return next;
  }

  Partition Snapshot(const StatePartition& state) const override { return Records(state); }
  Partition Records(const StatePartition& state) const override {
    const Part& part = static_cast<const Part&>(state);
    std::vector<Record> out(part.map.begin(), part.map.end());
    SortByStableHash(&out);
    return Partition::Of(std::move(out));
  }

  void SaveClosure(Writer& w) const override { internal::SaveClosure(f_, w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto f = LoadClosure<F>(r);
    if (!f) return nullptr;
    return std::make_unique<UpdateStateOp>(std::move(*f));
  }

 private:
  using Part = MapStatePartition<HashMap<K, S>>;

  F f_;
};

// Stamps an initial state with the batch it is given at.
template <typename K, typename S>
struct StampState {
  int64_t now = 0;
  std::pair<K, std::pair<S, int64_t>> operator()(const std::pair<K, S>& kv) const {
    return {kv.first, {kv.second, now}};
  }
};
}  // namespace internal

}  // namespace ember
