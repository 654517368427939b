#pragma once
// An overloaded job, for the backpressure test and benchmark: a receiver that stores as fast as
// its limits let it, and a job that spends 50 us of CPU on each record (about 40,000 records a
// second on two task slots), with a listener that keeps every completed batch.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/ember.h"

namespace ember {
namespace testing {

// Records every Flood receiver of the process has stored.
inline std::atomic<int64_t> flood_stored{0};

// Stores as fast as it may, in chunks of `chunk`, up to `limit` records (0: no end).
class Flood : public Receiver<int64_t> {
 public:
  Flood(int64_t chunk, int64_t limit) : chunk_(chunk), limit_(limit) {}
  void onStart() override {
    thread_ = std::thread([this] {
      int64_t next = 0;
      while (!isStopped() && (limit_ == 0 || next < limit_)) {
        std::vector<int64_t> records;
        for (int64_t i = 0; i < chunk_; ++i) records.push_back(next++);
        store(std::move(records));
        flood_stored.fetch_add(chunk_);
      }
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int64_t chunk_, limit_;
  std::thread thread_;
};

// What a run's batches looked like.
class CompletedBatches : public StreamingListener {
 public:
  void onBatchCompleted(const BatchInfo& b) override {
    std::lock_guard<std::mutex> lock(mu_);
    batches_.push_back(b);
  }
  std::vector<BatchInfo> get() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::vector<BatchInfo> batches_;
};

// A flood of 100-record chunks through `work` (50 us by default) of CPU a record, counted into
// `*total`.
inline void AddOverloadedJob(StreamingContext& ssc, std::shared_ptr<std::atomic<int64_t>> total,
                             std::chrono::microseconds work = std::chrono::microseconds(50)) {
  ssc.receiverStream<Flood>(int64_t{100}, int64_t{0})
      .map([work](int64_t x) {
        auto until = std::chrono::steady_clock::now() + work;
        while (std::chrono::steady_clock::now() < until) {
        }
        return x;
      })
      .count()
      .foreachRDD([total](const auto& rdd, Time) {
        for (int64_t n : rdd.collect()) total->fetch_add(n);
      });
}

}  // namespace testing
}  // namespace ember
