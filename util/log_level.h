#pragma once
// Log levels by Spark's names (ssc.setLogLevel, ember.log.level, --log-level), on glog:
// TRACE and ALL show INFO and VLOG(2), DEBUG INFO and VLOG(1), INFO, WARN, ERROR and FATAL
// what glog shows at that severity and above, OFF only FATAL (glog always shows those).

#include <string>

#include "absl/status/status.h"

namespace ember {
namespace internal {

// InvalidArgument, naming the levels, for an unknown name (any case).
absl::Status SetLogLevel(const std::string& level);

}  // namespace internal
}  // namespace ember
