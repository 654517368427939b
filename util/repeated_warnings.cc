#include "util/repeated_warnings.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"

namespace ember {
namespace internal {

RepeatedWarnings::RepeatedWarnings(std::shared_ptr<Clock> clock, int64_t window_ms,
                                   std::function<void(const std::string&)> emit)
    : clock_(std::move(clock)), window_ms_(window_ms), emit_(std::move(emit)) {}

void RepeatedWarnings::EmitCountLocked(Kind& k) {
  if (k.suppressed == 0) return;
  emit_(absl::StrCat(k.last, " (and ", k.suppressed, " more", " like it in the last ",
                     window_ms_ / 1000, " s)"));
  k.suppressed = 0;
  k.last.clear();
}

void RepeatedWarnings::Warn(const std::string& kind, const std::string& message) {
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  // Counts of kinds whose window has passed, whatever their kind: none waits for a repeat.
  for (auto it = kinds_.begin(); it != kinds_.end();) {
    if (it->first != kind && now - it->second.window_start_ms >= window_ms_) {
      EmitCountLocked(it->second);
      it = kinds_.erase(it);
    } else {
      ++it;
    }
  }
  auto [it, fresh] = kinds_.try_emplace(kind);
  Kind& k = it->second;
  if (!fresh && now - k.window_start_ms < window_ms_) {
    ++k.suppressed;
    k.last = message;
    return;
  }
  // A new window: the count of the one before (as the newest text of it), then this line.
  EmitCountLocked(k);
  k.window_start_ms = now;
  emit_(message);
}

void RepeatedWarnings::Flush() {
  absl::MutexLock lock(&mu_);
  for (auto& [kind, k] : kinds_) EmitCountLocked(k);
}

void WarnRepeated(const std::string& kind, const std::string& message) {
  static RepeatedWarnings* warnings =
      new RepeatedWarnings(std::make_shared<SystemClock>(), 10000,
                           [](const std::string& line) { LOG(WARNING) << line; });
  warnings->Warn(kind, message);
}

}  // namespace internal
}  // namespace ember
