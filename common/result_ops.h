#pragma once
// Result operators: what a result stage's task does with its partition and sends the driver.

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/closure.h"
#include "common/codec.h"
#include "common/object_file.h"
#include "common/op.h"
#include "common/ops.h"
#include "common/show.h"
#include "common/stack.h"

namespace ember {
namespace internal {

// Writes `contents` to dir/part-NNNNN through a temporary name and a rename, so that a reader
// never sees half a file and a re-run task replaces its own output. Throws on I/O errors; the
// task boundary turns that into a failed task.
void WritePartFile(const std::string& dir, int partition, const std::string& contents);
// Marks a saved directory complete, as Hadoop's committer does: an empty _SUCCESS file.
void WriteSuccessMarker(const std::string& dir);

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
