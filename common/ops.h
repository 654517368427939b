#pragma once
// The typed operators job code instantiates; the engine runs them through the bases in op.h.
// Each reads or writes whole partitions in one loop: the user's functions are inlined, and no
// record costs a virtual call, a lock or an allocation of its own.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/closure.h"
#include "common/codec.h"
#include "common/op.h"
#include "common/stable_hash.h"
#include "common/stack.h"

namespace ember {
namespace internal {

template <typename K>
struct MapHasher {
  size_t operator()(const K& k) const { return static_cast<size_t>(StableHash<K>()(k)); }
};
template <typename K, typename V>
using HashMap = absl::flat_hash_map<K, V, MapHasher<K>>;

// A hash map's entries in an order that is the same in every process and run (the stable
// hash, then the encoded key), where absl's iteration order is not: a batch computed again
// after a recovery writes the same output, and values reach their reducers in the same order.
template <typename K, typename V>
std::vector<std::pair<K, V>> InStableOrder(HashMap<K, V>& map) {
  using Entry = typename HashMap<K, V>::value_type;
  std::vector<std::pair<uint64_t, Entry*>> order;  // sorting 16-byte handles, not the entries
  order.reserve(map.size());
  StableHash<K> hash;
  for (auto& kv : map) order.emplace_back(hash(kv.first), &kv);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return EncodeToString(a.second->first) < EncodeToString(b.second->first);  // a collision
  });
  std::vector<std::pair<K, V>> out;
  out.reserve(order.size());
  for (auto& e : order) out.emplace_back(e.second->first, std::move(e.second->second));
  return out;
}

// Ops with no closure of their own share this Load.
template <typename Derived>
struct NoClosure {
  static std::unique_ptr<Op> Load(Reader&) { return std::make_unique<Derived>(); }
};

// --------------------------------------------------------------------------------- decoders

template <typename T>
class VectorDecoder : public OpBase<VectorDecoder<T>, DecoderOp>,
                      public NoClosure<VectorDecoder<T>> {
 public:
  bool Decode(std::string_view bytes, Partition* out) const override {
    std::vector<T> v;
    if (!bytes.empty() && !DecodeVector(bytes, &v)) return false;
    *out = Partition::Of(std::move(v));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};

// ---------------------------------------------------------------------------- narrow ops

// Runs a fused stack of map/flatMap/filter functions over one partition.
template <typename T, typename Stack>
class FusedOp : public OpBase<FusedOp<T, Stack>, NarrowOp> {
 public:
  explicit FusedOp(Stack stack) : stack_(std::move(stack)) {}
  Partition Compute(const std::vector<Partition>& inputs, const TaskInfo&) const override {
    const auto& in = inputs[0].As<typename Stack::Input>();
    std::vector<T> out;
    out.reserve(in.size());
    RunStack<T>(stack_, in, &out);
    return Partition::Of(std::move(out));
  }
  void SaveClosure(Writer& w) const override { stack_.Save(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    return std::make_unique<FusedOp>(std::move(*s));
  }

 private:
  Stack stack_;
};

// Materializes the stack's output for one partition, without a copy when the stack is empty.
template <typename T, typename Stack>
const std::vector<T>& StackOutput(const Stack& stack, const Partition& in, std::vector<T>* buf) {
  if constexpr (Stack::kEmpty) {
    return in.As<T>();
  } else {
    const auto& src = in.As<typename Stack::Input>();
    buf->reserve(src.size());
    RunStack<T>(stack, src, buf);
    return *buf;
  }
}

// mapPartitions(f): f takes the whole partition, `const std::vector<T>&`, and returns a
// std::vector<U>.
template <typename T, typename U, typename Stack, typename F>
class MapPartitionsOp : public OpBase<MapPartitionsOp<T, U, Stack, F>, NarrowOp> {
 public:
  MapPartitionsOp(Stack stack, F f) : stack_(std::move(stack)), f_(std::move(f)) {}
  Partition Compute(const std::vector<Partition>& inputs, const TaskInfo&) const override {
    std::vector<T> buf;
    const std::vector<T>& in = StackOutput<T>(stack_, inputs[0], &buf);
    return Partition::Of(std::vector<U>(f_(in)));
  }
  void SaveClosure(Writer& w) const override {
    stack_.Save(w);
    internal::SaveClosure(f_, w);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    auto f = LoadClosure<F>(r);
    if (!f) return nullptr;
    return std::make_unique<MapPartitionsOp>(std::move(*s), std::move(*f));
  }

 private:
  Stack stack_;
  F f_;
};

// ---------------------------------------------------------------------------------- shuffles

template <typename T>
void EncodeBuckets(std::vector<std::vector<T>>& parts, std::vector<std::string>* buckets) {
  buckets->resize(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) EncodeVector(parts[i], &(*buckets)[i]);
}

// Map side of reduceByKey/combineByKey/groupByKey: hash-partitions the stack's (K, V) output,
// combining values of a key first when map_side_combine is set.
template <typename K, typename V, typename C, typename Stack, typename Create, typename MergeV,
          typename MergeC>
class CombineWriter
    : public OpBase<CombineWriter<K, V, C, Stack, Create, MergeV, MergeC>, ShuffleWriterOp> {
 public:
  CombineWriter(Stack stack, Create create, MergeV merge_value, MergeC merge_combiners,
                bool map_side_combine)
      : stack_(std::move(stack)),
        create_(std::move(create)),
        merge_value_(std::move(merge_value)),
        merge_combiners_(std::move(merge_combiners)),
        map_side_combine_(map_side_combine) {}

  void Write(const Partition& input, int num_reducers, const TaskInfo&,
             std::vector<std::string>* buckets) const override {
    const auto& in = input.As<typename Stack::Input>();
    if (map_side_combine_) {
      HashMap<K, C> combined;
      auto emit = [this, &combined](auto&& kv) {
        auto it = combined.find(kv.first);
        if (it == combined.end()) {
          combined.emplace(std::forward<decltype(kv)>(kv).first, create_(kv.second));
        } else {
          it->second = merge_value_(std::move(it->second), kv.second);
        }
      };
      for (const auto& x : in) stack_.Apply(x, emit);
      std::vector<std::vector<std::pair<K, C>>> parts(num_reducers);
      for (auto& kv : InStableOrder(combined)) {
        parts[PartitionOf(kv.first, num_reducers)].push_back(std::move(kv));
      }
      EncodeBuckets(parts, buckets);
    } else {
      std::vector<std::vector<std::pair<K, V>>> parts(num_reducers);
      auto emit = [&parts, num_reducers](auto&& kv) {
        parts[PartitionOf(kv.first, num_reducers)].emplace_back(std::forward<decltype(kv)>(kv));
      };
      for (const auto& x : in) stack_.Apply(x, emit);
      EncodeBuckets(parts, buckets);
    }
  }
  void SaveClosure(Writer& w) const override {
    stack_.Save(w);
    internal::SaveClosure(create_, w);
    internal::SaveClosure(merge_value_, w);
    internal::SaveClosure(merge_combiners_, w);
    w.PutVarint64(map_side_combine_ ? 1 : 0);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    auto c = s ? LoadClosure<Create>(r) : std::nullopt;
    auto mv = c ? LoadClosure<MergeV>(r) : std::nullopt;
    auto mc = mv ? LoadClosure<MergeC>(r) : std::nullopt;
    uint64_t flag = 0;
    if (!mc || !r.GetVarint64(&flag)) return nullptr;
    return std::make_unique<CombineWriter>(std::move(*s), std::move(*c), std::move(*mv),
                                           std::move(*mc), flag != 0);
  }

 private:
  Stack stack_;
  Create create_;
  MergeV merge_value_;
  MergeC merge_combiners_;
  bool map_side_combine_;
};

// Reduce side of CombineWriter: merges every map's bucket for this reducer.
template <typename K, typename V, typename C, typename Create, typename MergeV, typename MergeC>
class CombineReader
    : public OpBase<CombineReader<K, V, C, Create, MergeV, MergeC>, ShuffleReaderOp> {
 public:
  CombineReader(Create create, MergeV merge_value, MergeC merge_combiners, bool map_side_combine)
      : create_(std::move(create)),
        merge_value_(std::move(merge_value)),
        merge_combiners_(std::move(merge_combiners)),
        map_side_combine_(map_side_combine) {}

  bool Read(const std::vector<std::vector<std::string_view>>& buckets,
            Partition* out) const override {
    HashMap<K, C> combined;
    for (std::string_view bytes : buckets[0]) {
      if (map_side_combine_) {
        std::vector<std::pair<K, C>> part;
        if (!DecodeVector(bytes, &part)) return false;
        for (auto& kv : part) {
          auto it = combined.find(kv.first);
          if (it == combined.end()) {
            combined.emplace(std::move(kv.first), std::move(kv.second));
          } else {
            it->second = merge_combiners_(std::move(it->second), std::move(kv.second));
          }
        }
      } else {
        std::vector<std::pair<K, V>> part;
        if (!DecodeVector(bytes, &part)) return false;
        for (auto& kv : part) {
          auto it = combined.find(kv.first);
          if (it == combined.end()) {
            combined.emplace(std::move(kv.first), create_(std::move(kv.second)));
          } else {
            it->second = merge_value_(std::move(it->second), std::move(kv.second));
          }
        }
      }
    }
    *out = Partition::Of(InStableOrder(combined));
    return true;
  }
  void SaveClosure(Writer& w) const override {
    internal::SaveClosure(create_, w);
    internal::SaveClosure(merge_value_, w);
    internal::SaveClosure(merge_combiners_, w);
    w.PutVarint64(map_side_combine_ ? 1 : 0);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto c = LoadClosure<Create>(r);
    auto mv = c ? LoadClosure<MergeV>(r) : std::nullopt;
    auto mc = mv ? LoadClosure<MergeC>(r) : std::nullopt;
    uint64_t flag = 0;
    if (!mc || !r.GetVarint64(&flag)) return nullptr;
    return std::make_unique<CombineReader>(std::move(*c), std::move(*mv), std::move(*mc),
                                           flag != 0);
  }

 private:
  Create create_;
  MergeV merge_value_;
  MergeC merge_combiners_;
  bool map_side_combine_;
};

// Hash-partitions the stack's (K, V) output as is (one side of a cogroup).
template <typename K, typename V, typename Stack>
class HashPartitionWriter : public OpBase<HashPartitionWriter<K, V, Stack>, ShuffleWriterOp> {
 public:
  explicit HashPartitionWriter(Stack stack) : stack_(std::move(stack)) {}
  void Write(const Partition& input, int num_reducers, const TaskInfo&,
             std::vector<std::string>* buckets) const override {
    std::vector<std::vector<std::pair<K, V>>> parts(num_reducers);
    auto emit = [&parts, num_reducers](auto&& kv) {
      parts[PartitionOf(kv.first, num_reducers)].emplace_back(std::forward<decltype(kv)>(kv));
    };
    for (const auto& x : input.As<typename Stack::Input>()) stack_.Apply(x, emit);
    EncodeBuckets(parts, buckets);
  }
  void SaveClosure(Writer& w) const override { stack_.Save(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    return std::make_unique<HashPartitionWriter>(std::move(*s));
  }

 private:
  Stack stack_;
};

// Reduce side of a two-way cogroup: (K, (all V of K, all W of K)).
template <typename K, typename V, typename W>
class CoGroupReader : public OpBase<CoGroupReader<K, V, W>, ShuffleReaderOp>,
                      public NoClosure<CoGroupReader<K, V, W>> {
 public:
  using Groups = std::pair<std::vector<V>, std::vector<W>>;
  bool Read(const std::vector<std::vector<std::string_view>>& buckets,
            Partition* out) const override {
    HashMap<K, Groups> groups;
    for (std::string_view bytes : buckets[0]) {
      std::vector<std::pair<K, V>> part;
      if (!DecodeVector(bytes, &part)) return false;
      for (auto& kv : part) groups[std::move(kv.first)].first.push_back(std::move(kv.second));
    }
    for (std::string_view bytes : buckets[1]) {
      std::vector<std::pair<K, W>> part;
      if (!DecodeVector(bytes, &part)) return false;
      for (auto& kv : part) groups[std::move(kv.first)].second.push_back(std::move(kv.second));
    }
    *out = Partition::Of(InStableOrder(groups));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};

// repartition(n): spreads the stack's output round-robin from a start that depends on the
// map's partition, as Spark does, so that small partitions do not all land on reducer 0.
template <typename T, typename Stack>
class RoundRobinWriter : public OpBase<RoundRobinWriter<T, Stack>, ShuffleWriterOp> {
 public:
  explicit RoundRobinWriter(Stack stack) : stack_(std::move(stack)) {}
  void Write(const Partition& input, int num_reducers, const TaskInfo& task,
             std::vector<std::string>* buckets) const override {
    std::vector<std::vector<T>> parts(num_reducers);
    int next = static_cast<int>(Mix64(static_cast<uint64_t>(task.partition)) % num_reducers);
    auto emit = [&parts, &next, num_reducers](auto&& x) {
      parts[next].emplace_back(std::forward<decltype(x)>(x));
      if (++next == num_reducers) next = 0;
    };
    for (const auto& x : input.As<typename Stack::Input>()) stack_.Apply(x, emit);
    EncodeBuckets(parts, buckets);
  }
  void SaveClosure(Writer& w) const override { stack_.Save(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    return std::make_unique<RoundRobinWriter>(std::move(*s));
  }

 private:
  Stack stack_;
};

template <typename T>
class ConcatReader : public OpBase<ConcatReader<T>, ShuffleReaderOp>,
                     public NoClosure<ConcatReader<T>> {
 public:
  bool Read(const std::vector<std::vector<std::string_view>>& buckets,
            Partition* out) const override {
    std::vector<T> result;
    for (std::string_view bytes : buckets[0]) {
      if (!DecodeVector(bytes, &result)) return false;
    }
    *out = Partition::Of(std::move(result));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};

// sortBy: range-partitions by key with bounds sampled by the driver, then sorts each range.
template <typename T, typename Stack, typename KeyFn>
class RangeWriter : public OpBase<RangeWriter<T, Stack, KeyFn>, ShuffleWriterOp> {
 public:
  using K = std::decay_t<std::invoke_result_t<const KeyFn&, const T&>>;
  RangeWriter(Stack stack, KeyFn key, std::vector<K> bounds, bool ascending)
      : stack_(std::move(stack)),
        key_(std::move(key)),
        bounds_(std::move(bounds)),
        ascending_(ascending) {}
  void Write(const Partition& input, int num_reducers, const TaskInfo&,
             std::vector<std::string>* buckets) const override {
    std::vector<std::vector<T>> parts(num_reducers);
    auto emit = [&](auto&& x) {
      K k = key_(static_cast<const T&>(x));
      int p =
          ascending_
              ? static_cast<int>(std::lower_bound(bounds_.begin(), bounds_.end(), k) -
                                 bounds_.begin())
              : static_cast<int>(std::lower_bound(bounds_.begin(), bounds_.end(), k,
                                                  [](const K& a, const K& b) { return b < a; }) -
                                 bounds_.begin());
      parts[std::min(p, num_reducers - 1)].emplace_back(std::forward<decltype(x)>(x));
    };
    for (const auto& x : input.As<typename Stack::Input>()) stack_.Apply(x, emit);
    EncodeBuckets(parts, buckets);
  }
  void SaveClosure(Writer& w) const override {
    stack_.Save(w);
    internal::SaveClosure(key_, w);
    Encode(bounds_, w);
    w.PutVarint64(ascending_ ? 1 : 0);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    auto k = s ? LoadClosure<KeyFn>(r) : std::nullopt;
    std::vector<K> bounds;
    uint64_t asc = 0;
    if (!k || !Decode(r, &bounds) || !r.GetVarint64(&asc)) return nullptr;
    return std::make_unique<RangeWriter>(std::move(*s), std::move(*k), std::move(bounds), asc != 0);
  }

 private:
  Stack stack_;
  KeyFn key_;
  std::vector<K> bounds_;
  bool ascending_;
};

template <typename T, typename KeyFn>
class SortReader : public OpBase<SortReader<T, KeyFn>, ShuffleReaderOp> {
 public:
  using K = std::decay_t<std::invoke_result_t<const KeyFn&, const T&>>;
  SortReader(KeyFn key, bool ascending) : key_(std::move(key)), ascending_(ascending) {}
  bool Read(const std::vector<std::vector<std::string_view>>& buckets,
            Partition* out) const override {
    std::vector<T> all;
    for (std::string_view bytes : buckets[0]) {
      if (!DecodeVector(bytes, &all)) return false;
    }
    // Keys are computed once per record, not once per comparison.
    std::vector<std::pair<K, size_t>> keyed;
    keyed.reserve(all.size());
    for (size_t i = 0; i < all.size(); ++i) keyed.emplace_back(key_(all[i]), i);
    if (ascending_) {
      std::stable_sort(keyed.begin(), keyed.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    } else {
      std::stable_sort(keyed.begin(), keyed.end(),
                       [](const auto& a, const auto& b) { return b.first < a.first; });
    }
    std::vector<T> sorted;
    sorted.reserve(all.size());
    for (const auto& kv : keyed) sorted.push_back(std::move(all[kv.second]));
    *out = Partition::Of(std::move(sorted));
    return true;
  }
  void SaveClosure(Writer& w) const override {
    internal::SaveClosure(key_, w);
    w.PutVarint64(ascending_ ? 1 : 0);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto k = LoadClosure<KeyFn>(r);
    uint64_t asc = 0;
    if (!k || !r.GetVarint64(&asc)) return nullptr;
    return std::make_unique<SortReader>(std::move(*k), asc != 0);
  }

 private:
  KeyFn key_;
  bool ascending_;
};

}  // namespace internal
}  // namespace ember
