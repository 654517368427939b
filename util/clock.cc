#include "util/clock.h"

#include <chrono>

namespace ember {

namespace {
bool IsSet(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(); }
}  // namespace

int64_t SystemClock::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::WaitUntil(int64_t target_ms, const std::atomic<bool>* cancelled) {
  absl::MutexLock lock(&mu_);
  auto is_cancelled = [cancelled]() { return IsSet(cancelled); };
  while (!IsSet(cancelled)) {
    int64_t now = NowMs();
    if (now >= target_ms) return now;
    mu_.AwaitWithTimeout(absl::Condition(&is_cancelled), absl::Milliseconds(target_ms - now));
  }
  return NowMs();
}

void SystemClock::Wake() {
  // Unlocking makes absl::Mutex re-evaluate every waiter's condition.
  absl::MutexLock lock(&mu_);
}

int64_t ManualClock::NowMs() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

int64_t ManualClock::WaitUntil(int64_t target_ms, const std::atomic<bool>* cancelled) {
  absl::MutexLock lock(&mu_);
  auto reached = [this, target_ms, cancelled]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return now_ >= target_ms || IsSet(cancelled);
  };
  mu_.Await(absl::Condition(&reached));
  return now_;
}

void ManualClock::Wake() { absl::MutexLock lock(&mu_); }

void ManualClock::SetTime(int64_t ms) {
  absl::MutexLock lock(&mu_);
  now_ = ms;
}

void ManualClock::Advance(int64_t ms) {
  absl::MutexLock lock(&mu_);
  now_ += ms;
}

}  // namespace ember
