#pragma once
// Every scheduling decision reads a Clock, so tests drive a ManualClock and never sleep to
// wait for a batch (DESIGN.md, decision 5).

#include <atomic>
#include <cstdint>

#include "absl/synchronization/mutex.h"

namespace ember {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
  // Blocks until NowMs() >= target_ms, or until *cancelled is true after a Wake(); returns
  // NowMs().
  virtual int64_t WaitUntil(int64_t target_ms, const std::atomic<bool>* cancelled = nullptr) = 0;
  // Makes every waiter look at its cancel flag again: set the flag, then call Wake().
  virtual void Wake() = 0;
};

// Wall-clock time. Thread-safe.
class SystemClock : public Clock {
 public:
  int64_t NowMs() const override;
  int64_t WaitUntil(int64_t target_ms, const std::atomic<bool>* cancelled = nullptr) override;
  void Wake() override;

 private:
  absl::Mutex mu_;
};

// Time that moves only when a test says so. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 0) : now_(start_ms) {}
  int64_t NowMs() const override;
  int64_t WaitUntil(int64_t target_ms, const std::atomic<bool>* cancelled = nullptr) override;
  void Wake() override;

  void SetTime(int64_t ms);
  void Advance(int64_t ms);

 private:
  mutable absl::Mutex mu_;
  int64_t now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ember
