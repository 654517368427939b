#pragma once
// Repeated warnings, collapsed: the first warning of a kind is logged at once; more of the same
// kind within the window are only counted, and the count is logged once the window has passed
// ("... (and 76 more like it in the last 10 s)"), so that a peer down for a minute costs a few
// lines, not one per retry.
//
//   WarnRepeated("heartbeat " + driver, "heartbeat to driver " + driver + " failed: " + why);

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "util/clock.h"

namespace ember {
namespace internal {

class RepeatedWarnings {
 public:
  // `emit` receives every line to log (glog's LOG(WARNING) for the process-wide instance).
  RepeatedWarnings(std::shared_ptr<Clock> clock, int64_t window_ms,
                   std::function<void(const std::string&)> emit);

  // A warning of `kind` (what makes two warnings the same, e.g. the peer and the operation)
  // with its full text; logs it, or counts it when one of its kind was logged within the
  // window. Also logs the counts of other kinds whose windows have passed.
  void Warn(const std::string& kind, const std::string& message);
  // Logs every pending count now (at exit, or in tests).
  void Flush();

 private:
  struct Kind {
    int64_t window_start_ms = 0;
    int64_t suppressed = 0;
    std::string last;  // the newest suppressed text
  };
  void EmitCountLocked(Kind& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<Clock> clock_;
  const int64_t window_ms_;
  std::function<void(const std::string&)> emit_;
  absl::Mutex mu_;
  std::map<std::string, Kind> kinds_ ABSL_GUARDED_BY(mu_);
};

// The process's instance: 10 s windows on the system clock, lines to LOG(WARNING).
void WarnRepeated(const std::string& kind, const std::string& message);

}  // namespace internal
}  // namespace ember
