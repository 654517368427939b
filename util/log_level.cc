#include "util/log_level.h"

#include <glog/logging.h>

#include "absl/strings/ascii.h"

namespace ember {
namespace internal {

absl::Status SetLogLevel(const std::string& level) {
  std::string name = absl::AsciiStrToUpper(level);
  int severity, verbosity = 0;
  if (name == "ALL" || name == "TRACE") {
    severity = google::GLOG_INFO;
    verbosity = 2;
  } else if (name == "DEBUG") {
    severity = google::GLOG_INFO;
    verbosity = 1;
  } else if (name == "INFO") {
    severity = google::GLOG_INFO;
  } else if (name == "WARN" || name == "WARNING") {
    severity = google::GLOG_WARNING;
  } else if (name == "ERROR") {
    severity = google::GLOG_ERROR;
  } else if (name == "FATAL" || name == "OFF") {
    severity = google::GLOG_FATAL;
  } else {
    return absl::InvalidArgumentError("unknown log level '" + level +
                                      "': use ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF");
  }
  FLAGS_minloglevel = severity;
  FLAGS_v = verbosity;
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace ember
