#pragma once
// A receiver's rate limit (Spark's BlockGenerator waitToPush, Guava's RateLimiter): Acquire(n)
// returns once n records fit under `rate` records per second, sleeping as long as needed, so
// that a receiver storing faster is slowed down (and its source with it: a socket's sender
// meets TCP's flow control). Up to a second of unused rate is kept for a burst. The rate can
// change while callers wait. Thread-safe.

#include <algorithm>
#include <cstdint>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ember {
namespace internal {

// The limit in force for a receiver: the smaller of its maxRate and backpressure's rate, each
// ignored when 0 (no limit); 0 when neither limits it.
inline double CombinedRateLimit(double max_rate, double rate) {
  if (rate <= 0) return max_rate;
  return max_rate > 0 ? std::min(max_rate, rate) : rate;
}

class RateLimiter {
 public:
  // `now` and `sleep` are the real clock's unless a test gives its own.
  explicit RateLimiter(std::function<absl::Time()> now = nullptr,
                       std::function<void(absl::Duration)> sleep = nullptr);
  // Records per second; 0 or less: no limit.
  void SetRate(double per_second);
  double rate() const;
  // Waits until `n` records may pass; returns early (false) when `cancelled` says so.
  bool Acquire(int64_t n, const std::function<bool()>& cancelled = nullptr);

 private:
  const std::function<absl::Time()> now_;
  const std::function<void(absl::Duration)> sleep_;
  mutable absl::Mutex mu_;
  double rate_ ABSL_GUARDED_BY(mu_) = 0;
  double stored_ ABSL_GUARDED_BY(mu_) = 0;  // permits saved up, at most a second's
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
