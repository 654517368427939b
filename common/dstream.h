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
#include "common/executor_state.h"
#include "common/rdd.h"
#include "common/show.h"
#include "common/state.h"

namespace ember {

template <typename T, typename Stack = internal::EmptyStack<T>>
class DStream;
template <typename M, typename K, typename S>
class MapWithStateDStream;

namespace internal {
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

// A dashboard's order: the larger value first, then the smaller key (when keys compare).
template <typename T, typename = void>
struct HasLess : std::false_type {};
template <typename T>
struct HasLess<T, std::void_t<decltype(std::declval<const T&>() < std::declval<const T&>())>>
    : std::true_type {};
struct LargerValueFirst {
  template <typename P>
  bool operator()(const P& a, const P& b) const {
    if (a.second != b.second) return b.second < a.second;
    if constexpr (HasLess<typename P::first_type>::value) return a.first < b.first;
    return false;
  }
};
}  // namespace internal

// A live chart of a stream in the driver's web UI (DStream::dashboard).
struct DashboardOptions {
  int top = 10;                // a (key, number) stream: the keys of the largest values shown
  int window = 60;             // batches kept, and charted
  std::string chart = "line";  // "line" or "bar"
};

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
  // As Spark's: map(_ => 1L).reduceByWindow(_ + _, _ - _, ...), so nothing for the windows
  // before the first record, and 0 once the records have left. Stateful (a checkpoint
  // directory is needed), as every inverse window.
  DStream<int64_t> countByWindow(Duration length, Duration slide) const {
    return map(internal::OneOf<T>{})
        .reduceByWindow(internal::SumInt64{}, internal::SubInt64{}, length, slide);
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
  // one, a key stays once seen, with the neutral value when it has no records left. A key
  // the filter drops while the window still holds records of it is only hidden: it stays,
  // exact, until its last record leaves. The previous window is kept by the driver between
  // slides, as state is.
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
  auto mapWithState(const StateSpecOf<F>& spec) const;  // common/dstream_state.h

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
  // A live dashboard in the driver's web UI, /apps/APP/dashboards/NAME, and its data at
  // /api/v1/applications/APP/dashboards/NAME. A stream of (key, number) pairs, one per key
  // (as reduceByKey makes them), charts the `top` keys by value of each batch; a stream of
  // numbers charts their sum per batch (a count() stream: its count). The last `window`
  // batches are kept, also after the job ends, while the UI retains the application.
  //   counts.dashboard("words", {/*top=*/5, /*window=*/120, /*chart=*/"bar"});
  // Throws EmberError on a bad name or option, or a name the context already has.
  void dashboard(const std::string& name, DashboardOptions options = {}) const {
    internal::ContextCore* ctx = internal::ContextOf(node_);
    internal::DashboardUpdate spec;
    spec.name = name;
    spec.chart = options.chart;
    spec.top = options.top;
    spec.window = options.window;
    if constexpr (internal::IsPair<T>::value) {
      static_assert(std::is_arithmetic_v<typename T::second_type>,
                    "dashboard needs a stream of (key, number) pairs or of numbers");
      spec.keyed = true;
    } else {
      static_assert(std::is_arithmetic_v<T>,
                    "dashboard needs a stream of (key, number) pairs or of numbers");
      spec.keyed = false;
    }
    internal::RegisterDashboard(ctx, spec);
    foreachRDD([ctx, spec](const Rdd<T, Stack>& rdd, Time t) {
      internal::DashboardUpdate update = spec;
      update.batch_ms = t.milliseconds();
      if constexpr (internal::IsPair<T>::value) {
        for (const T& kv : rdd.takeOrdered(spec.top, internal::LargerValueFirst{})) {
          update.points.emplace_back(ToShowString(kv.first), static_cast<double>(kv.second));
        }
      } else {
        double sum = 0;
        Rdd<T> data = rdd.materialize();
        for (const std::string& bytes :
             internal::RunJob(data.ref(), std::make_shared<internal::SumOp<T>>())) {
          double part = 0;
          if (!DecodeFromString(bytes, &part)) throw EmberError("malformed dashboard sum");
          sum += part;
        }
        update.points.emplace_back("", sum);
      }
      internal::PostDashboard(ctx, std::move(update));
    });
    internal::NameLastOutput(node_, "dashboard");
  }
  // Every batch: a directory `prefix-<batch time ms>[.suffix]` of part-NNNNN text files.
  void saveAsTextFiles(const std::string& prefix, const std::string& suffix = "") const {
    foreachRDD([prefix, suffix](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsTextFile(internal::BatchDirectory(prefix, suffix, t));
    });
    internal::NameLastOutput(node_, "saveAsTextFiles");
  }
  // Every batch: a directory of object files, SequenceFiles of each record's encoding
  // (common/object_file.h; read with ReadObjectFiles or StreamingContext::objectFileStream).
  void saveAsObjectFiles(const std::string& prefix, const std::string& suffix = "") const {
    foreachRDD([prefix, suffix](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsObjectFile(internal::BatchDirectory(prefix, suffix, t));
    });
    internal::NameLastOutput(node_, "saveAsObjectFiles");
  }
  // Pair streams, every batch: a directory `prefix-<batch time ms>[.suffix]` in a Hadoop
  // output format (common/hadoop.h), e.g.
  //   counts.saveAsHadoopFiles("out/counts", "seq", hadoop::SequenceFileOutputFormat{});
  //   counts.saveAsHadoopFiles<hadoop::TextOutputFormat>("out/counts", "txt");
  // Files are named part-00000... as Hadoop's old API names them.
  template <typename Format>
  void saveAsHadoopFiles(const std::string& prefix, const std::string& suffix,
                         Format format = Format()) const {
    EMBER_ASSERT_PAIR(T, "saveAsHadoopFiles");
    foreachRDD([prefix, suffix, format](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsHadoopFile(internal::BatchDirectory(prefix, suffix, t), format);
    });
    internal::NameLastOutput(node_, "saveAsHadoopFiles");
  }
  // The same with the new API's file names, part-r-00000...
  template <typename Format>
  void saveAsNewAPIHadoopFiles(const std::string& prefix, const std::string& suffix,
                               Format format = Format()) const {
    EMBER_ASSERT_PAIR(T, "saveAsNewAPIHadoopFiles");
    foreachRDD([prefix, suffix, format](const Rdd<T, Stack>& rdd, Time t) {
      rdd.saveAsNewAPIHadoopFile(internal::BatchDirectory(prefix, suffix, t), format);
    });
    internal::NameLastOutput(node_, "saveAsNewAPIHadoopFiles");
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

 private:
  template <typename, typename>
  friend class DStream;

  // The implementations of the stateful operations, in headers of their own.
  template <typename St, typename F, typename P = T>
  DStream<std::pair<typename P::first_type, St>> UpdateState(
      F f, int num_partitions, internal::RddRef initial) const;  // common/dstream_state.h
  template <typename F, typename InvF, typename Filter, typename P = T>
  DStream<P> InverseWindow(F f, InvF inv, Duration length, Duration slide, int num_partitions,
                           Filter filter) const;  // common/dstream_windows.h

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

// The stateful operations' implementations (they need the complete DStream).
#include "common/dstream_state.h"
#include "common/dstream_windows.h"
