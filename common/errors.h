#pragma once
// The exception the public API throws for misuse and for a failed job, like Spark's
// IllegalStateException/SparkException. It never crosses a plugin boundary: the job entry
// point (EMBER_JOB) turns it into a status.

#include <stdexcept>
#include <string>

namespace ember {

class EmberError : public std::runtime_error {
 public:
  explicit EmberError(const std::string& message) : std::runtime_error(message) {}
};

// A job failed because an executor no longer holds a stateful stream's state (it was lost
// with its executor): the stream rebuilds the state from its checkpoint.
class StateLostError : public EmberError {
 public:
  explicit StateLostError(const std::string& message) : EmberError(message) {}
};

}  // namespace ember
