#pragma once
// Receiver<T>: a custom source, as Spark's Receiver. Subclass it, implement onStart (start the
// threads that read the source and call store(); it must not block) and onStop, and create the
// stream with ssc.receiverStream<MyReceiver>(constructor args...). The receiver object is built
// where it runs, on an executor, from those arguments, so they must have a Codec.

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/op.h"

namespace ember {

namespace internal {
class ReceiverSupervisor;  // runtime/receiver_supervisor.h
}

// The type-erased part the runtime drives.
class ReceiverBase {
 public:
  virtual ~ReceiverBase() = default;
  virtual void onStart() = 0;
  virtual void onStop() = 0;

  // Stops and restarts the receiver after `delay_ms` (default:
  // ember.streaming.receiverRestartDelay), logging `message`. Callable from any thread.
  void restart(const std::string& message, int64_t delay_ms = -1);
  // Reports an error to the driver without stopping.
  void reportError(const std::string& message);
  // Stops the receiver for good.
  void stop(const std::string& message);
  bool isStopped() const;
  bool isStarted() const;
  int streamId() const;

  // Runtime side: hands the buffered records to the block generator as one encoded block.
  virtual void TakeBlock(std::string* bytes, int64_t* records) = 0;
  void Attach(internal::ReceiverSupervisor* supervisor) { supervisor_ = supervisor; }
  // Runtime side: whether store() must wait for the rate limit.
  void SetRateLimited(bool limited) { rate_limited_.store(limited, std::memory_order_relaxed); }

 protected:
  // Stores an encoded block now; true once stored and reported (Receiver::storeReliably).
  bool StoreBlockNow(std::string bytes, int64_t records);
  // Blocks while `n` more records would exceed the receiver's rate limit
  // (ember.streaming.receiver.maxRate, backpressure); free when there is none.
  void Throttle(int64_t n) {
    if (rate_limited_.load(std::memory_order_relaxed)) WaitToPush(n);
  }
  bool RateLimited() const { return rate_limited_.load(std::memory_order_relaxed); }
  internal::ReceiverSupervisor* supervisor_ = nullptr;

 private:
  void WaitToPush(int64_t n);
  std::atomic<bool> rate_limited_{false};
};

template <typename T>
class Receiver : public ReceiverBase {
 public:
  using value_type = T;

  // Buffers records for the current block (one lock per call: prefer the vector form).
  void store(T record) {
    this->Throttle(1);
    std::lock_guard<std::mutex> lock(mu_);
    buffer_.push_back(std::move(record));
  }
  void store(std::vector<T> records) {
    if (this->RateLimited() && records.size() > kRateLimitedSlice) {
      // Under a rate limit, records pass in slices as the limit allows, as Spark's block
      // generator lets each record pass: a 64 KB socket read (thousands of lines) at 200
      // records/s must not hold them all back for ten seconds and more.
      for (size_t i = 0; i < records.size(); i += kRateLimitedSlice) {
        size_t end = std::min(records.size(), i + kRateLimitedSlice);
        this->Throttle(static_cast<int64_t>(end - i));
        std::lock_guard<std::mutex> lock(mu_);
        buffer_.insert(buffer_.end(), std::make_move_iterator(records.begin() + i),
                       std::make_move_iterator(records.begin() + end));
      }
      return;
    }
    this->Throttle(static_cast<int64_t>(records.size()));
    std::lock_guard<std::mutex> lock(mu_);
    if (buffer_.empty()) {
      buffer_ = std::move(records);
    } else {
      buffer_.insert(buffer_.end(), std::make_move_iterator(records.begin()),
                     std::make_move_iterator(records.end()));
    }
  }

  // For reliable sources: stores `records` as a block of their own and returns once the block
  // is stored (replicated, and in the write-ahead log when
  // ember.streaming.receiver.writeAheadLog.enable is set) and the driver knows of it, so that
  // the source can be acknowledged then. Returns false when it was not stored (the receiver is
  // stopping, or the store failed): do not acknowledge, the source sends it again.
  bool storeReliably(std::vector<T> records) {
    if (records.empty()) return true;
    this->Throttle(static_cast<int64_t>(records.size()));
    std::string bytes;
    int64_t n = static_cast<int64_t>(records.size());
    EncodeVector(records, &bytes);
    return this->StoreBlockNow(std::move(bytes), n);
  }

  static constexpr size_t kRateLimitedSlice = 32;

  void TakeBlock(std::string* bytes, int64_t* records) final {
    std::vector<T> block;
    {
      std::lock_guard<std::mutex> lock(mu_);
      block.swap(buffer_);
    }
    *records = static_cast<int64_t>(block.size());
    bytes->clear();
    if (!block.empty()) EncodeVector(block, bytes);
  }

 private:
  std::mutex mu_;
  std::vector<T> buffer_;
};

namespace internal {

// Builds a receiver where it runs, from its constructor arguments.
class ReceiverFactoryOp : public Op {
 public:
  virtual std::unique_ptr<ReceiverBase> Create() const = 0;
};

template <typename R, typename... Args>
class ReceiverFactory : public OpBase<ReceiverFactory<R, Args...>, ReceiverFactoryOp> {
 public:
  explicit ReceiverFactory(std::tuple<Args...> args) : args_(std::move(args)) {}
  std::unique_ptr<ReceiverBase> Create() const override {
    return std::apply([](const Args&... a) { return std::make_unique<R>(a...); }, args_);
  }
  void SaveClosure(Writer& w) const override { Encode(args_, w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    std::tuple<Args...> args;
    if (!Decode(r, &args)) return nullptr;
    return std::make_unique<ReceiverFactory>(std::move(args));
  }

 private:
  std::tuple<Args...> args_;
};

}  // namespace internal
}  // namespace ember
