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

#include <optional>
#include <type_traits>
#include <utility>

#include "common/errors.h"
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
// cogroup(previous state with its last update time, this batch's values) -> the key's new
// state (if kept) and the function's outputs.
template <typename F, typename K, typename V, typename S, typename M>
struct MapWithStateFn : WrappedFn<F> {
  int64_t timeout_ms = -1;
  int64_t now = 0;  // the batch time (ms): set by the driver for each batch
  using Stored = std::pair<S, int64_t>;  // state, time of its last update (ms)
  using Out = std::pair<K, std::pair<std::optional<Stored>, std::vector<M>>>;

  std::vector<Out> operator()(
      const std::pair<K, std::pair<std::vector<Stored>, std::vector<V>>>& kv) const {
    std::optional<Stored> stored;
    if (!kv.second.first.empty()) stored = kv.second.first.front();
    std::vector<M> mapped;
    const std::vector<V>& values = kv.second.second;
    if (values.empty()) {
      if (!stored) return {};
      if (timeout_ms >= 0 && now - stored->second >= timeout_ms) {
        State<S> state(stored->first, /*timing_out=*/true);
        mapped.push_back(this->f(kv.first, std::optional<V>(), state));
        return {Out(kv.first, {std::nullopt, std::move(mapped)})};
      }
      return {Out(kv.first, {stored, {}})};
    }
    std::optional<S> value;
    if (stored) value = stored->first;
    for (const V& v : values) {
      State<S> state(value, false);
      mapped.push_back(this->f(kv.first, std::optional<V>(v), state));
      if (state.updated()) value = state.getOption();
    }
    // A key with records was active at this batch: its idle time starts again.
    std::optional<Stored> next;
    if (value) next = Stored(std::move(*value), now);
    return {Out(kv.first, {std::move(next), std::move(mapped)})};
  }
  void serialize(Writer& w) const {
    WrappedFn<F>::serialize(w);
    Codec<int64_t>::Encode(timeout_ms, w);
    Codec<int64_t>::Encode(now, w);
  }
  bool deserialize(Reader& r) {
    return WrappedFn<F>::deserialize(r) && Codec<int64_t>::Decode(r, &timeout_ms) &&
           Codec<int64_t>::Decode(r, &now);
  }
};
}  // namespace internal

}  // namespace ember
