#pragma once
// Result operators: what a result stage's task does with its partition and sends the driver.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/closure.h"
#include "common/codec.h"
#include "common/hadoop.h"
#include "common/object_file.h"
#include "common/op.h"
#include "common/ops.h"
#include "common/show.h"
#include "common/stack.h"

namespace ember {
namespace internal {

// Writes `contents` to dir/<prefix>NNNNN (part-00000, or Hadoop's new API's part-r-00000)
// through a temporary name and a rename, so that a reader never sees half a file and a re-run
// task replaces its own output. Throws on I/O errors; the task boundary turns that into a
// failed task.
void WritePartFile(const std::string& dir, int partition, const std::string& contents,
                   const std::string& prefix = "part-");

template <typename T, typename Stack = EmptyStack<T>>
class CollectOp : public OpBase<CollectOp<T, Stack>, ResultOp> {
 public:
  explicit CollectOp(Stack stack = {}) : stack_(std::move(stack)) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    std::vector<T> buf;
    std::string out;
    EncodeVector(StackOutput<T>(stack_, input, &buf), &out);
    return out;
  }
  void SaveClosure(Writer& w) const override { stack_.Save(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto s = Stack::Load(r);
    if (!s) return nullptr;
    return std::make_unique<CollectOp>(std::move(*s));
  }

 private:
  Stack stack_;
};

template <typename T>
class TakeOp : public OpBase<TakeOp<T>, ResultOp> {
 public:
  explicit TakeOp(uint64_t n) : n_(n) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    const auto& in = input.As<T>();
    std::vector<T> first(in.begin(), in.begin() + std::min<uint64_t>(n_, in.size()));
    std::string out;
    EncodeVector(first, &out);
    return out;
  }
  void SaveClosure(Writer& w) const override { w.PutVarint64(n_); }
  static std::unique_ptr<Op> Load(Reader& r) {
    uint64_t n = 0;
    if (!r.GetVarint64(&n)) return nullptr;
    return std::make_unique<TakeOp>(n);
  }

 private:
  uint64_t n_;
};

// Folds the partition with f; the driver folds the partial results.
template <typename T, typename F>
class ReduceOp : public OpBase<ReduceOp<T, F>, ResultOp> {
 public:
  explicit ReduceOp(F f) : f_(std::move(f)) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    const auto& in = input.As<T>();
    std::optional<T> acc;
    for (const T& x : in) acc = acc ? f_(std::move(*acc), x) : x;
    return EncodeToString(acc);
  }
  void SaveClosure(Writer& w) const override { internal::SaveClosure(f_, w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto f = LoadClosure<F>(r);
    if (!f) return nullptr;
    return std::make_unique<ReduceOp>(std::move(*f));
  }

 private:
  F f_;
};

// The partition's first n records in `less`'s order (takeOrdered, top); the driver merges.
template <typename T, typename Less>
class TakeOrderedOp : public OpBase<TakeOrderedOp<T, Less>, ResultOp> {
 public:
  TakeOrderedOp(uint64_t n, Less less) : n_(n), less_(std::move(less)) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    const auto& in = input.As<T>();
    std::vector<T> first = FirstInOrder(in, n_, less_);
    std::string out;
    EncodeVector(first, &out);
    return out;
  }
  void SaveClosure(Writer& w) const override {
    w.PutVarint64(n_);
    internal::SaveClosure(less_, w);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    uint64_t n = 0;
    if (!r.GetVarint64(&n)) return nullptr;
    auto less = LoadClosure<Less>(r);
    if (!less) return nullptr;
    return std::make_unique<TakeOrderedOp>(n, std::move(*less));
  }

  // The n first of `in` by `less`, in order: a heap of n, so a large partition is not sorted.
  static std::vector<T> FirstInOrder(const std::vector<T>& in, uint64_t n, const Less& less) {
    std::vector<T> heap;  // a max-heap by `less`: its front is the worst kept
    if (n == 0) return heap;
    heap.reserve(std::min<uint64_t>(n, in.size()));
    for (const T& x : in) {
      if (heap.size() < n) {
        heap.push_back(x);
        std::push_heap(heap.begin(), heap.end(), less);
      } else if (less(x, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), less);
        heap.back() = x;
        std::push_heap(heap.begin(), heap.end(), less);
      }
    }
    std::sort_heap(heap.begin(), heap.end(), less);
    return heap;
  }

 private:
  uint64_t n_;
  Less less_;
};

// `less` reversed: top(n) is takeOrdered(n) in the opposite order.
template <typename Less>
struct ReversedLess {
  Less less;
  template <typename X>
  bool operator()(const X& a, const X& b) const {
    return less(b, a);
  }
};

// The sum of a partition of numbers, as a double (a numbers dashboard).
template <typename T>
class SumOp : public OpBase<SumOp<T>, ResultOp> {
 public:
  std::string Run(const Partition& input, const TaskInfo&) const override {
    double sum = 0;
    for (const T& x : input.As<T>()) sum += static_cast<double>(x);
    return EncodeToString(sum);
  }
  void SaveClosure(Writer&) const override {}
  static std::unique_ptr<Op> Load(Reader&) { return std::make_unique<SumOp>(); }
};

template <typename T, typename F>
class ForeachPartitionOp : public OpBase<ForeachPartitionOp<T, F>, ResultOp> {
 public:
  explicit ForeachPartitionOp(F f) : f_(std::move(f)) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    f_(input.As<T>());
    return "";
  }
  void SaveClosure(Writer& w) const override { internal::SaveClosure(f_, w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto f = LoadClosure<F>(r);
    if (!f) return nullptr;
    return std::make_unique<ForeachPartitionOp>(std::move(*f));
  }

 private:
  F f_;
};

// saveAsTextFile: one line per record, as print() shows it.
template <typename T>
class SaveTextOp : public OpBase<SaveTextOp<T>, ResultOp> {
 public:
  explicit SaveTextOp(std::string dir) : dir_(std::move(dir)) {}
  std::string Run(const Partition& input, const TaskInfo& task) const override {
    std::string text;
    for (const T& x : input.As<T>()) {
      Show(x, &text);
      text.push_back('\n');
    }
    WritePartFile(dir_, task.partition, text);
    return "";
  }
  void SaveClosure(Writer& w) const override { w.PutBytes(dir_); }
  static std::unique_ptr<Op> Load(Reader& r) {
    std::string_view dir;
    if (!r.GetBytes(&dir)) return nullptr;
    return std::make_unique<SaveTextOp>(std::string(dir));
  }

 private:
  std::string dir_;
};

// saveAsObjectFile: the format object_file.h documents.
template <typename T>
class SaveObjectOp : public OpBase<SaveObjectOp<T>, ResultOp> {
 public:
  explicit SaveObjectOp(std::string dir) : dir_(std::move(dir)) {}
  std::string Run(const Partition& input, const TaskInfo& task) const override {
    WritePartFile(dir_, task.partition, EncodeObjectFile(input.As<T>()));
    return "";
  }
  void SaveClosure(Writer& w) const override { w.PutBytes(dir_); }
  static std::unique_ptr<Op> Load(Reader& r) {
    std::string_view dir;
    if (!r.GetBytes(&dir)) return nullptr;
    return std::make_unique<SaveObjectOp>(std::string(dir));
  }

 private:
  std::string dir_;
};

// saveAsHadoopFile / saveAsNewAPIHadoopFile: a partition of (K, V) pairs as one Hadoop
// output file, `part_prefix` + the partition in five digits (part-00000 or part-r-00000).
template <typename K, typename V, typename Format>
class SaveHadoopOp : public OpBase<SaveHadoopOp<K, V, Format>, ResultOp> {
 public:
  static constexpr bool kText = std::is_same_v<Format, hadoop::TextOutputFormat>;
  static_assert(kText || std::is_same_v<Format, hadoop::SequenceFileOutputFormat>,
                "saveAsHadoopFiles writes hadoop::TextOutputFormat or "
                "hadoop::SequenceFileOutputFormat");

  SaveHadoopOp(std::string dir, std::string part_prefix, Format format)
      : dir_(std::move(dir)), part_prefix_(std::move(part_prefix)), format_(format) {}
  std::string Run(const Partition& input, const TaskInfo& task) const override {
    const auto& in = input.As<std::pair<K, V>>();
    std::string bytes;
    if constexpr (kText) {
      for (const auto& [k, v] : in) AppendHadoopTextLine(k, v, &bytes);
    } else {
      bytes = EncodeSequenceFile(in, format_);
    }
    WritePartFile(dir_, task.partition, bytes, part_prefix_);
    return "";
  }
  void SaveClosure(Writer& w) const override {
    w.PutBytes(dir_);
    w.PutBytes(part_prefix_);
    if constexpr (!kText) {
      w.PutVarint64(static_cast<uint64_t>(format_.compression));
      w.PutVarint64(static_cast<uint64_t>(format_.codec));
      w.PutVarint64(static_cast<uint64_t>(format_.level + 1));
    }
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    std::string_view dir, prefix;
    if (!r.GetBytes(&dir) || !r.GetBytes(&prefix)) return nullptr;
    Format format;
    if constexpr (!kText) {
      uint64_t compression = 0, codec = 0, level = 0;
      if (!r.GetVarint64(&compression) || !r.GetVarint64(&codec) || !r.GetVarint64(&level) ||
          compression > 2 || codec > 1 || level > 10) {
        return nullptr;
      }
      format.level = static_cast<int>(level) - 1;
      format.compression = static_cast<hadoop::CompressionType>(compression);
      format.codec = static_cast<hadoop::Codec>(codec);
    }
    return std::make_unique<SaveHadoopOp>(std::string(dir), std::string(prefix), format);
  }

 private:
  std::string dir_;
  std::string part_prefix_;
  Format format_;
};

// Decodes a whole input file of a typed file stream: a SequenceFile of (K, V), a text file as
// TextInputFormat's (offset, line) pairs, or an object file of T.
template <typename K, typename V>
class SequenceFileDecoder : public OpBase<SequenceFileDecoder<K, V>, DecoderOp>,
                            public NoClosure<SequenceFileDecoder<K, V>> {
 public:
  bool Decode(std::string_view bytes, Partition* out) const override {
    *out = Partition::Of(DecodeSequenceFile<K, V>(bytes, "input"));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};
class TextInputFormatDecoder : public OpBase<TextInputFormatDecoder, DecoderOp>,
                               public NoClosure<TextInputFormatDecoder> {
 public:
  bool Decode(std::string_view bytes, Partition* out) const override {
    *out = Partition::Of(SplitLinesWithOffsets(bytes));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};
template <typename T>
class ObjectFileDecoder : public OpBase<ObjectFileDecoder<T>, DecoderOp>,
                          public NoClosure<ObjectFileDecoder<T>> {
 public:
  bool Decode(std::string_view bytes, Partition* out) const override {
    std::vector<T> records;
    DecodeObjectFile(bytes, "input", &records);
    *out = Partition::Of(std::move(records));
    return true;
  }
  void SaveClosure(Writer&) const override {}
};

// Evenly spaced keys of a partition, for sortBy's range bounds.
template <typename T, typename KeyFn>
class SampleKeysOp : public OpBase<SampleKeysOp<T, KeyFn>, ResultOp> {
 public:
  using K = std::decay_t<std::invoke_result_t<const KeyFn&, const T&>>;
  SampleKeysOp(KeyFn key, uint64_t per_partition) : key_(std::move(key)), n_(per_partition) {}
  std::string Run(const Partition& input, const TaskInfo&) const override {
    const auto& in = input.As<T>();
    std::vector<K> keys;
    if (!in.empty()) {
      uint64_t step = std::max<uint64_t>(1, in.size() / std::max<uint64_t>(1, n_));
      for (size_t i = 0; i < in.size(); i += step) keys.push_back(key_(in[i]));
    }
    std::string out;
    EncodeVector(keys, &out);
    return out;
  }
  void SaveClosure(Writer& w) const override {
    internal::SaveClosure(key_, w);
    w.PutVarint64(n_);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    auto k = LoadClosure<KeyFn>(r);
    uint64_t n = 0;
    if (!k || !r.GetVarint64(&n)) return nullptr;
    return std::make_unique<SampleKeysOp>(std::move(*k), n);
  }

 private:
  KeyFn key_;
  uint64_t n_;
};

}  // namespace internal
}  // namespace ember
