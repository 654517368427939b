#pragma once
// Rdd<T>: one batch's partitioned data, as `transform` and `foreachRDD` hand it to job code.
// Spark's RDD API, lazily built into a lineage that the engine runs as stages of tasks.
// Narrow functions (map, flatMap, filter...) fuse at compile time: Rdd<T, Stack> carries them
// in its type until an operation needs a materialized partition. Declare variables `auto` to
// keep the fusion, or `Rdd<T>` to materialize.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/closure.h"
#include "common/engine_api.h"
#include "common/errors.h"
#include "common/ops.h"
#include "common/result_ops.h"
#include "common/show.h"
#include "common/stack.h"

namespace ember {

template <typename T, typename Stack = internal::EmptyStack<T>>
class Rdd;

namespace internal {
template <typename T>
struct IsPair : std::false_type {};
template <typename A, typename B>
struct IsPair<std::pair<A, B>> : std::true_type {};

// The key type of a pair record; a placeholder for other records, so that the signatures of
// pair-only operations can be declared on every Rdd<T>.
struct NotAPair {};
template <typename T>
struct KeyOfImpl {
  using type = NotAPair;
};
template <typename A, typename B>
struct KeyOfImpl<std::pair<A, B>> {
  using type = A;
};
template <typename T>
using KeyOf = typename KeyOfImpl<T>::type;

#define EMBER_ASSERT_PAIR(T, op)                                                        \
  static_assert(::ember::internal::IsPair<T>::value, op                                 \
                " needs a stream or RDD of std::pair<K, V>; map your records to pairs " \
                "first, e.g. .map([](const auto& x) { return std::make_pair(key, value); })")

struct Identity {
  template <typename X>
  X operator()(X x) const {
    return x;
  }
};
template <typename V>
struct GroupCreate {
  std::vector<V> operator()(V v) const { return std::vector<V>{std::move(v)}; }
};
template <typename V>
struct GroupMergeValue {
  std::vector<V> operator()(std::vector<V> c, V v) const {
    c.push_back(std::move(v));
    return c;
  }
};
template <typename V>
struct GroupMergeCombiners {
  std::vector<V> operator()(std::vector<V> a, std::vector<V> b) const {
    a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
    return a;
  }
};
struct SumInt64 {
  int64_t operator()(int64_t a, int64_t b) const { return a + b; }
};
template <typename T>
struct Glom {
  std::vector<std::vector<T>> operator()(const std::vector<T>& p) const { return {p}; }
};
template <typename T>
struct ToUnitPair {
  std::pair<T, bool> operator()(const T& x) const { return {x, true}; }
};
struct KeepFirst {
  bool operator()(bool a, bool) const { return a; }
};
template <typename T>
struct FirstOf {
  T operator()(const std::pair<T, bool>& p) const { return p.first; }
};
// An internal wrapper around the user's function ships as that function: a trivially
// copyable one as bytes (these members then go unused), a serializable one through its codec.
template <typename F>
struct WrappedFn {
  F f;
  void serialize(Writer& w) const { SaveClosure(f, w); }
  bool deserialize(Reader& r) {
    auto g = LoadClosure<F>(r);
    if (!g) return false;
    f = std::move(*g);
    return true;
  }
};

template <typename F>
struct ApplyToValue : WrappedFn<F> {
  template <typename P>
  auto operator()(const P& kv) const {
    return std::make_pair(kv.first, this->f(kv.second));
  }
};
template <typename F, typename K, typename U>
struct FlatApplyToValue : WrappedFn<F> {
  template <typename P>
  std::vector<std::pair<K, U>> operator()(const P& kv) const {
    std::vector<std::pair<K, U>> out;
    for (auto&& u : this->f(kv.second)) out.emplace_back(kv.first, U(u));
    return out;
  }
};

// The smallest multiple of `slide` that is at least 10 s (Spark's default for state).
inline Duration DefaultCheckpointInterval(Duration slide) {
  int64_t s = std::max<int64_t>(1, slide.milliseconds());
  return Milliseconds((10000 + s - 1) / s * s);
}

// updateStateByKey's state type: S when given, else the value type of f's std::optional result.
template <typename F, typename = void>
struct CallResult;
template <typename C, typename R, typename... A>
struct CallResult<R (C::*)(A...) const> {
  using type = R;
};
template <typename F>
struct CallResult<F, std::void_t<decltype(&F::operator())>> : CallResult<decltype(&F::operator())> {
};
template <typename S, typename F>
using StateTypeOf =
    std::conditional_t<std::is_void_v<S>, typename CallResult<F>::type::value_type, S>;

// Inverse windows: the previous window's value of a key, the reduced values entering and
// leaving -> the new value, kept if the filter says so.
struct KeepAll {
  template <typename P>
  bool operator()(const P&) const {
    return true;
  }
};
// An inverse window keeps each key's value with the number of records it sums in the window,
// so that a key the filter hides stays, exact, until its last record leaves: a hidden key
// whose records later leave never comes back with a wrong sum.
template <typename K, typename V>
using CountedPair = std::pair<K, std::pair<V, int64_t>>;
template <typename K, typename V>
struct WithRecordCount {
  CountedPair<K, V> operator()(const std::pair<K, V>& kv) const {
    return {kv.first, {kv.second, 1}};
  }
};
template <typename F, typename V>
struct CountedReduce : WrappedFn<F> {
  std::pair<V, int64_t> operator()(const std::pair<V, int64_t>& a,
                                   const std::pair<V, int64_t>& b) const {
    return {this->f(a.first, b.first), a.second + b.second};
  }
};
// What the window shows: the keys the filter keeps, without their counts.
template <typename Filter, typename K, typename V>
struct ShownIf : WrappedFn<Filter> {
  bool operator()(const CountedPair<K, V>& kv) const {
    return this->f(std::pair<K, V>(kv.first, kv.second.first));
  }
};
template <typename K, typename V>
struct WithoutCount {
  std::pair<K, V> operator()(const CountedPair<K, V>& kv) const {
    return {kv.first, kv.second.first};
  }
};
// What the window keeps: keys with records in it, and the others the filter keeps.
template <typename Filter, typename K, typename V>
struct KeptIf : WrappedFn<Filter> {
  bool operator()(const CountedPair<K, V>& kv) const {
    return kv.second.second > 0 || this->f(std::pair<K, V>(kv.first, kv.second.first));
  }
};
template <typename F, typename InvF, typename Filter, typename K, typename V>
struct WindowMergeFn {
  using Counted = std::pair<V, int64_t>;
  F f;
  InvF inv;
  Filter filter;
  std::vector<CountedPair<K, V>> operator()(
      const std::pair<K,
                      std::pair<std::vector<std::pair<std::vector<Counted>, std::vector<Counted>>>,
                                std::vector<Counted>>>& kv) const {
    std::optional<Counted> value;
    std::optional<Counted> entering, leaving;
    for (const auto& group : kv.second.first) {
      if (!group.first.empty()) value = group.first.front();
      if (!group.second.empty()) entering = group.second.front();
    }
    if (!kv.second.second.empty()) leaving = kv.second.second.front();
    if (leaving) {
      // Every key with records in the window is kept (KeptIf): records leaving a window
      // that does not hold their key cannot happen unless the window's state is corrupt.
      if (!value) {
        std::string key;
        Show(kv.first, &key);
        throw EmberError("reduceByKeyAndWindow: records of key " + key +
                         " leave a window that does not hold the key (its previous window "
                         "value is missing)");
      }
      value->first = inv(value->first, leaving->first);
      value->second -= leaving->second;
    }
    if (entering) {
      if (value) {
        value->first = f(value->first, entering->first);
        value->second += entering->second;
      } else {
        value = *entering;
      }
    }
    if (!value) return {};
    CountedPair<K, V> out(kv.first, std::move(*value));
    if (out.second.second <= 0 && !filter(std::pair<K, V>(out.first, out.second.first))) {
      return {};
    }
    return {std::move(out)};
  }
  void serialize(Writer& w) const {
    SaveClosure(f, w);
    SaveClosure(inv, w);
    SaveClosure(filter, w);
  }
  bool deserialize(Reader& r) {
    auto a = LoadClosure<F>(r);
    auto b = LoadClosure<InvF>(r);
    auto c = LoadClosure<Filter>(r);
    if (!a || !b || !c) return false;
    f = std::move(*a);
    inv = std::move(*b);
    filter = std::move(*c);
    return true;
  }
};
template <typename T>
struct KeyedByZero {
  std::pair<uint8_t, T> operator()(const T& x) const { return {0, x}; }
};
template <typename F>
struct ApplyToPair : WrappedFn<F> {
  template <typename V>
  V operator()(const V& a, const V& b) const {
    return this->f(a, b);
  }
};
template <typename T>
struct PairWithOne {
  std::pair<T, int64_t> operator()(const T& x) const { return {x, 1}; }
};
struct SubInt64 {
  int64_t operator()(int64_t a, int64_t b) const { return a - b; }
};
template <typename T>
struct OneOf {
  int64_t operator()(const T&) const { return 1; }
};
template <typename T>
struct PositiveCount {
  bool operator()(const std::pair<T, int64_t>& kv) const { return kv.second > 0; }
};

enum class JoinKind { kInner, kLeft, kRight, kFull };
template <typename K, typename V, typename W, JoinKind kKind>
struct JoinFn {
  using Left = std::conditional_t<kKind == JoinKind::kRight || kKind == JoinKind::kFull,
                                  std::optional<V>, V>;
  using Right =
      std::conditional_t<kKind == JoinKind::kLeft || kKind == JoinKind::kFull, std::optional<W>, W>;
  using Out = std::pair<K, std::pair<Left, Right>>;
  std::vector<Out> operator()(
      const std::pair<K, std::pair<std::vector<V>, std::vector<W>>>& g) const {
    const auto& vs = g.second.first;
    const auto& ws = g.second.second;
    std::vector<Out> out;
    if constexpr (kKind == JoinKind::kInner) {
      for (const V& v : vs)
        for (const W& w : ws) out.push_back({g.first, {v, w}});
    } else if constexpr (kKind == JoinKind::kLeft) {
      for (const V& v : vs) {
        if (ws.empty()) out.push_back({g.first, {v, std::nullopt}});
        for (const W& w : ws) out.push_back({g.first, {v, w}});
      }
    } else if constexpr (kKind == JoinKind::kRight) {
      for (const W& w : ws) {
        if (vs.empty()) out.push_back({g.first, {std::nullopt, w}});
        for (const V& v : vs) out.push_back({g.first, {v, w}});
      }
    } else {
      if (vs.empty()) {
        for (const W& w : ws) out.push_back({g.first, {std::nullopt, w}});
      } else if (ws.empty()) {
        for (const V& v : vs) out.push_back({g.first, {v, std::nullopt}});
      } else {
        for (const V& v : vs)
          for (const W& w : ws) out.push_back({g.first, {v, w}});
      }
    }
    return out;
  }
};

// Counts what a stack emits, without materializing it.
template <typename Stack>
class CountOp : public OpBase<CountOp<Stack>, ResultOp> {
 public:
  explicit CountOp(Stack stack) : stack_(std::move(stack)) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    uint64_t n = 0;
    auto emit = [&n](auto&&) { ++n; };
    for (const auto& x : input.As<typename Stack::Input>()) stack_.Apply(x, emit);
    return EncodeToString(n);
  }
  void SaveClosure(Writer& w) const override { stack_.Save(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    return std::make_unique<CountOp>(std::move(*s));
  }

 private:
  Stack stack_;
};

template <typename T>
std::vector<T> DecodeResults(const std::vector<std::string>& results) {
  std::vector<T> out;
  for (const std::string& bytes : results) {
    if (!DecodeVector(bytes, &out)) throw EmberError("malformed task result");
  }
  return out;
}

template <typename T>
RddRef MakeParallelRdd(ContextCore* ctx, const std::vector<T>& data, int slices) {
  if (slices <= 0) slices = DefaultParallelism(ctx);
  std::vector<std::string> parts(slices);
  size_t n = data.size();
  for (int i = 0; i < slices; ++i) {
    size_t begin = n * i / slices, end = n * (i + 1) / slices;
    EncodeVector(std::vector<T>(data.begin() + begin, data.begin() + end), &parts[i]);
  }
  return MakeInlineRdd(ctx, std::move(parts), std::make_shared<VectorDecoder<T>>());
}
}  // namespace internal

template <typename T, typename Stack>
class Rdd {
 public:
  using value_type = T;
  using stack_type = Stack;

  explicit Rdd(internal::RddRef node, Stack stack = {})
      : node_(std::move(node)), stack_(std::move(stack)) {}
  // Rdd<T> from a fused Rdd<T, S>: materializes the chain.
  template <typename S2, typename = std::enable_if_t<Stack::kEmpty && !S2::kEmpty>>
  Rdd(const Rdd<T, S2>& other) : Rdd(other.materialize()) {}  // NOLINT: implicit on purpose

  // ------------------------------------------------------------------ narrow transformations
  template <typename F>
  auto map(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    static_assert(std::is_invocable_v<const F&, const T&>,
                  "map: f must be callable as f(const T&)");
    using U = std::decay_t<std::invoke_result_t<const F&, const T&>>;
    using S2 = internal::MapStage<Stack, F>;
    return Rdd<U, S2>(node_, S2{stack_, std::move(f)});
  }
  template <typename F>
  auto flatMap(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    static_assert(std::is_invocable_v<const F&, const T&>,
                  "flatMap: f must be callable as f(const T&) and return a range");
    using R = std::decay_t<std::invoke_result_t<const F&, const T&>>;
    using U = internal::OwnedT<decltype(*std::begin(std::declval<R&>()))>;
    using S2 = internal::FlatMapStage<Stack, F, U>;
    return Rdd<U, S2>(node_, S2{stack_, std::move(f)});
  }
  template <typename F>
  auto filter(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    static_assert(std::is_invocable_r_v<bool, const F&, const T&>,
                  "filter: f must be callable as f(const T&) and return bool");
    using S2 = internal::FilterStage<Stack, F>;
    return Rdd<T, S2>(node_, S2{stack_, std::move(f)});
  }
  // f(const std::vector<T>& partition) -> std::vector<U>
  template <typename F>
  auto mapPartitions(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    static_assert(std::is_invocable_v<const F&, const std::vector<T>&>,
                  "mapPartitions: f must be callable as f(const std::vector<T>&)");
    using R = std::decay_t<std::invoke_result_t<const F&, const std::vector<T>&>>;
    using U = typename R::value_type;
    auto op = std::make_shared<internal::MapPartitionsOp<T, U, Stack, F>>(stack_, std::move(f));
    return Rdd<U>(internal::MakeNarrowRdd({node_}, std::move(op)));
  }
  Rdd<std::vector<T>> glom() const { return mapPartitions(internal::Glom<T>{}); }

  template <typename F>
  auto mapValues(F f) const {
    EMBER_ASSERT_PAIR(T, "mapValues");
    return map(internal::ApplyToValue<F>{{std::move(f)}});
  }
  template <typename F>
  auto flatMapValues(F f) const {
    EMBER_ASSERT_PAIR(T, "flatMapValues");
    using K = typename T::first_type;
    using R = std::decay_t<std::invoke_result_t<const F&, const typename T::second_type&>>;
    using U = internal::OwnedT<decltype(*std::begin(std::declval<R&>()))>;
    return flatMap(internal::FlatApplyToValue<F, K, U>{{std::move(f)}});
  }

  // --------------------------------------------------------------------------- shuffles
  template <typename Create, typename MergeV, typename MergeC>
  auto combineByKey(Create create, MergeV merge_value, MergeC merge_combiners,
                    int num_partitions = 0, bool map_side_combine = true) const {
    EMBER_ASSERT_PAIR(T, "combineByKey");
    EMBER_ASSERT_SHIPPABLE(Create);
    EMBER_ASSERT_SHIPPABLE(MergeV);
    EMBER_ASSERT_SHIPPABLE(MergeC);
    using K = typename T::first_type;
    using V = typename T::second_type;
    using C = std::decay_t<std::invoke_result_t<const Create&, V>>;
    int n = Partitions(num_partitions);
    auto writer = std::make_shared<internal::CombineWriter<K, V, C, Stack, Create, MergeV, MergeC>>(
        stack_, create, merge_value, merge_combiners, map_side_combine);
    auto reader = std::make_shared<internal::CombineReader<K, V, C, Create, MergeV, MergeC>>(
        create, merge_value, merge_combiners, map_side_combine);
    return Rdd<std::pair<K, C>>(
        internal::MakeShuffledRdd({node_}, {std::move(writer)}, std::move(reader), n));
  }
  template <typename F>
  auto reduceByKey(F f, int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "reduceByKey");
    using V = typename T::second_type;
    static_assert(std::is_invocable_r_v<V, const F&, V, V>,
                  "reduceByKey: f must be callable as f(V, V) and return V");
    return combineByKey(internal::Identity{}, f, f, num_partitions);
  }
  auto groupByKey(int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "groupByKey");
    using V = typename T::second_type;
    return combineByKey(internal::GroupCreate<V>{}, internal::GroupMergeValue<V>{},
                        internal::GroupMergeCombiners<V>{}, num_partitions,
                        /*map_side_combine=*/false);
  }
  template <typename W, typename S2>
  auto cogroup(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other,
               int num_partitions = 0) const {
    EMBER_ASSERT_PAIR(T, "cogroup");
    using K = typename T::first_type;
    using V = typename T::second_type;
    int n = Partitions(num_partitions, other.node_);
    std::vector<std::shared_ptr<const internal::ShuffleWriterOp>> writers = {
        std::make_shared<internal::HashPartitionWriter<K, V, Stack>>(stack_),
        std::make_shared<internal::HashPartitionWriter<K, W, S2>>(other.stack_)};
    return Rdd<std::pair<K, std::pair<std::vector<V>, std::vector<W>>>>(
        internal::MakeShuffledRdd({node_, other.node_}, std::move(writers),
                                  std::make_shared<internal::CoGroupReader<K, V, W>>(), n));
  }
  template <typename W, typename S2>
  auto join(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    return JoinImpl<internal::JoinKind::kInner>(other, n);
  }
  template <typename W, typename S2>
  auto leftOuterJoin(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    return JoinImpl<internal::JoinKind::kLeft>(other, n);
  }
  template <typename W, typename S2>
  auto rightOuterJoin(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    return JoinImpl<internal::JoinKind::kRight>(other, n);
  }
  template <typename W, typename S2>
  auto fullOuterJoin(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other, int n = 0) const {
    return JoinImpl<internal::JoinKind::kFull>(other, n);
  }

  Rdd<T> repartition(int num_partitions) const {
    if (num_partitions <= 0) throw EmberError("repartition: the number of partitions must be > 0");
    return Rdd<T>(internal::MakeShuffledRdd(
        {node_}, {std::make_shared<internal::RoundRobinWriter<T, Stack>>(stack_)},
        std::make_shared<internal::ConcatReader<T>>(), num_partitions));
  }
  Rdd<T> distinct(int num_partitions = 0) const {
    if (num_partitions <= 0) num_partitions = std::max(1, getNumPartitions());
    return map(internal::ToUnitPair<T>{})
        .reduceByKey(internal::KeepFirst{}, num_partitions)
        .map(internal::FirstOf<T>{});
  }
  template <typename S2>
  Rdd<T> union_(const Rdd<T, S2>& other) const {
    return Rdd<T>(internal::MakeUnionRdd({materialize().node_, other.materialize().node_}));
  }
  // Spark's name; `union` is a C++ keyword.
  template <typename S2>
  Rdd<T> unionWith(const Rdd<T, S2>& other) const {
    return union_(other);
  }

  // Sorts by key(x): range partitions by keys sampled from the data (a small job, as Spark's
  // sortBy runs), then sorts each range.
  template <typename KeyFn>
  Rdd<T> sortBy(KeyFn key, bool ascending = true, int num_partitions = 0) const {
    EMBER_ASSERT_SHIPPABLE(KeyFn);
    using K = std::decay_t<std::invoke_result_t<const KeyFn&, const T&>>;
    // As Spark's sortBy: as many partitions as this RDD has, unless told.
    int n = num_partitions > 0 ? num_partitions : std::max(1, getNumPartitions());
    Rdd<T> data = materialize();
    std::vector<K> bounds;
    if (n > 1) {
      auto sample = internal::DecodeResults<K>(internal::RunJob(
          data.node_, std::make_shared<internal::SampleKeysOp<T, KeyFn>>(key, 20)));
      if (ascending) {
        std::sort(sample.begin(), sample.end());
      } else {
        std::sort(sample.begin(), sample.end(), [](const K& a, const K& b) { return b < a; });
      }
      for (int i = 1; i < n && !sample.empty(); ++i) {
        bounds.push_back(sample[sample.size() * i / n]);
      }
    }
    using Empty = internal::EmptyStack<T>;
    return Rdd<T>(internal::MakeShuffledRdd(
        {data.node_},
        {std::make_shared<internal::RangeWriter<T, Empty, KeyFn>>(Empty{}, key, bounds, ascending)},
        std::make_shared<internal::SortReader<T, KeyFn>>(key, ascending), n));
  }

  // -------------------------------------------------------------------------------- actions
  std::vector<T> collect() const {
    return internal::DecodeResults<T>(
        internal::RunJob(node_, std::make_shared<internal::CollectOp<T, Stack>>(stack_)));
  }
  int64_t count() const {
    std::shared_ptr<const internal::ResultOp> op;
    if constexpr (Stack::kEmpty) {
      op = internal::CountResultOp();
    } else {
      op = std::make_shared<internal::CountOp<Stack>>(stack_);
    }
    int64_t total = 0;
    for (const std::string& bytes : internal::RunJob(node_, op)) {
      uint64_t n = 0;
      if (!DecodeFromString(bytes, &n)) throw EmberError("malformed count result");
      total += static_cast<int64_t>(n);
    }
    return total;
  }
  // The first n records, scanning as few partitions as it can (1, then 4x more each round).
  std::vector<T> take(int64_t n) const {
    std::vector<T> out;
    if (n <= 0) return out;
    Rdd<T> data = materialize();
    int total = data.getNumPartitions();
    int scanned = 0, batch = 1;
    while (static_cast<int64_t>(out.size()) < n && scanned < total) {
      std::vector<int> parts;
      for (int p = scanned; p < std::min(total, scanned + batch); ++p) parts.push_back(p);
      auto results = internal::RunJob(
          data.node_, std::make_shared<internal::TakeOp<T>>(static_cast<uint64_t>(n) - out.size()),
          parts);
      for (T& x : internal::DecodeResults<T>(results)) {
        if (static_cast<int64_t>(out.size()) < n) out.push_back(std::move(x));
      }
      scanned += static_cast<int>(parts.size());
      batch *= 4;
    }
    return out;
  }
  // The n smallest records by `less` (operator< by default), smallest first: Spark's
  // takeOrdered. Each partition sends its own n; the driver merges them.
  template <typename Less = std::less<>>
  std::vector<T> takeOrdered(int64_t n, Less less = Less()) const {
    EMBER_ASSERT_SHIPPABLE(Less);
    if (n <= 0) return {};
    Rdd<T> data = materialize();
    using Op = internal::TakeOrderedOp<T, Less>;
    std::vector<T> all = internal::DecodeResults<T>(internal::RunJob(
        data.node_, std::make_shared<Op>(static_cast<uint64_t>(n), less)));
    return Op::FirstInOrder(all, static_cast<uint64_t>(n), less);
  }
  // The n largest records by `less`, largest first: Spark's top.
  template <typename Less = std::less<>>
  std::vector<T> top(int64_t n, Less less = Less()) const {
    return takeOrdered(n, internal::ReversedLess<Less>{less});
  }
  T first() const {
    auto one = take(1);
    if (one.empty()) throw EmberError("first: empty collection");
    return std::move(one[0]);
  }
  bool isEmpty() const { return getNumPartitions() == 0 || take(1).empty(); }
  int getNumPartitions() const { return internal::NumPartitions(node_); }

  template <typename F>
  T reduce(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    Rdd<T> data = materialize();
    std::optional<T> acc;
    for (const std::string& bytes :
         internal::RunJob(data.node_, std::make_shared<internal::ReduceOp<T, F>>(f))) {
      std::optional<T> part;
      if (!DecodeFromString(bytes, &part)) throw EmberError("malformed reduce result");
      if (part) acc = acc ? f(std::move(*acc), *part) : std::move(*part);
    }
    if (!acc) throw EmberError("reduce: empty collection");
    return std::move(*acc);
  }
  // f(const std::vector<T>& partition), run on the executors.
  template <typename F>
  void foreachPartition(F f) const {
    EMBER_ASSERT_SHIPPABLE(F);
    Rdd<T> data = materialize();
    internal::RunJob(data.node_, std::make_shared<internal::ForeachPartitionOp<T, F>>(f));
  }
  // A directory `path` of part-NNNNN files, one line per record as print() shows it.
  // Every saved directory is written under a hidden name and renamed whole, with _SUCCESS.
  void saveAsTextFile(const std::string& path) const {
    SaveDirectory(path, [](const std::string& dir) {
      return std::make_shared<internal::SaveTextOp<T>>(dir);
    });
  }
  // A SequenceFile per partition of NullWritable keys and BytesWritable values holding each
  // record's encoding (common/object_file.h).
  void saveAsObjectFile(const std::string& path) const {
    SaveDirectory(path, [](const std::string& dir) {
      return std::make_shared<internal::SaveObjectOp<T>>(dir);
    });
  }
  // Pair RDDs in a Hadoop output format (common/hadoop.h): hadoop::TextOutputFormat or
  // hadoop::SequenceFileOutputFormat{compression, codec}. The old API's file names
  // (part-00000), as Spark's saveAsHadoopFile writes them.
  template <typename Format>
  void saveAsHadoopFile(const std::string& path, Format format = Format()) const {
    SaveHadoop(path, "part-", format);
  }
  // The same with the new API's file names (part-r-00000).
  template <typename Format>
  void saveAsNewAPIHadoopFile(const std::string& path, Format format = Format()) const {
    SaveHadoop(path, "part-r-", format);
  }
  // Spark's saveAsSequenceFile: uncompressed, or block-compressed with `codec`.
  void saveAsSequenceFile(const std::string& path,
                          std::optional<hadoop::Codec> codec = std::nullopt) const {
    hadoop::SequenceFileOutputFormat format;
    if (codec) format = {hadoop::CompressionType::kBlock, *codec};
    saveAsHadoopFile(path, format);
  }

  // ------------------------------------------------------------------------------- engine
  Rdd<T> materialize() const {
    if constexpr (Stack::kEmpty) {
      return Rdd<T>(node_);
    } else {
      return Rdd<T>(
          internal::MakeNarrowRdd({node_}, std::make_shared<internal::FusedOp<T, Stack>>(stack_)));
    }
  }
  internal::RddRef ref() const { return materialize().node_; }
  const Stack& stack() const { return stack_; }
  internal::ContextCore* context() const { return internal::ContextOf(node_); }

 private:
  template <typename, typename>
  friend class Rdd;

  template <typename MakeOp>
  void SaveDirectory(const std::string& path, MakeOp make_op) const {
    Rdd<T> data = materialize();
    std::string temporary = internal::BeginOutputDirectory(path);
    internal::RunJob(data.node_, make_op(temporary));
    internal::CommitOutputDirectory(temporary, path);
  }
  template <typename Format>
  void SaveHadoop(const std::string& path, const char* part_prefix, Format format) const {
    EMBER_ASSERT_PAIR(T, "saveAsHadoopFile");
    using K = typename T::first_type;
    using V = typename T::second_type;
    SaveDirectory(path, [&](const std::string& dir) {
      return std::make_shared<internal::SaveHadoopOp<K, V, Format>>(dir, part_prefix, format);
    });
  }

  // Spark's defaults for an RDD's shuffle: ember.default.parallelism when set, else the
  // largest parent's partition count.
  int Partitions(int requested, const internal::RddRef& other = nullptr) const {
    if (requested > 0) return requested;
    return internal::DefaultShufflePartitions({node_, other});
  }
  template <internal::JoinKind kKind, typename W, typename S2>
  auto JoinImpl(const Rdd<std::pair<internal::KeyOf<T>, W>, S2>& other, int n) const {
    EMBER_ASSERT_PAIR(T, "join");
    using K = typename T::first_type;
    using V = typename T::second_type;
    return cogroup(other, n).flatMap(internal::JoinFn<K, V, W, kKind>{});
  }

  internal::RddRef node_;
  Stack stack_;
};

}  // namespace ember
