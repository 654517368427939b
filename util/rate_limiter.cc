#include "util/rate_limiter.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace ember {
namespace internal {

RateLimiter::RateLimiter(std::function<absl::Time()> now, std::function<void(absl::Duration)> sleep)
    : now_(now ? std::move(now) : [] { return absl::Now(); }),
      sleep_(sleep ? std::move(sleep) : [](absl::Duration d) { absl::SleepFor(d); }),
      last_(now_()) {}

void RateLimiter::SetRate(double per_second) {
  absl::MutexLock lock(&mu_);
  absl::Time now = now_();
  if (rate_ > 0) stored_ = std::min(rate_, stored_ + absl::ToDoubleSeconds(now - last_) * rate_);
  last_ = now;
  rate_ = per_second;
  stored_ = rate_ > 0 ? std::min(stored_, rate_) : 0;
}

double RateLimiter::rate() const {
  absl::MutexLock lock(&mu_);
  return rate_;
}

bool RateLimiter::Acquire(int64_t n, const std::function<bool()>& cancelled) {
  double needed = static_cast<double>(n);
  while (true) {
    absl::Duration wait;
    {
      absl::MutexLock lock(&mu_);
      if (rate_ <= 0) return true;
      absl::Time now = now_();
      stored_ = std::min(rate_, stored_ + absl::ToDoubleSeconds(now - last_) * rate_);
      last_ = now;
      double take = std::min(needed, stored_);
      stored_ -= take;
      needed -= take;
      if (needed <= 0) return true;
      // Sleep for what is missing, in slices, so that a new rate or a stop is seen.
      wait = std::min(absl::Seconds(needed / rate_), absl::Milliseconds(100));
    }
    if (cancelled && cancelled()) return false;
    sleep_(std::max(wait, absl::Microseconds(100)));
  }
}

}  // namespace internal
}  // namespace ember
