#pragma once
// Backpressure's rate estimator, as Spark's PIDRateEstimator: after each completed batch that
// held records, a PID controller moves an input stream's rate limit towards what the job
// processes, correcting for the scheduling delay the batches piled up:
//
//   processing rate  = records / processing time
//   error            = last rate - processing rate
//   historical error = scheduling delay * processing rate / batch interval
//   new rate         = max(last rate - kp * error - ki * historical error
//                          - kd * d(error)/dt, minRate)
//
// The first batch only sets the rate to its processing rate (no estimate yet). Keys:
// ember.streaming.backpressure.pid.proportional (1.0), .integral (0.2), .derived (0.0),
// .minRate (100). Not thread-safe: one per input stream, fed by the listener thread.

#include <cstdint>
#include <optional>

#include "common/conf.h"

namespace ember {
namespace internal {

class PidRateEstimator {
 public:
  struct Options {
    int64_t batch_interval_ms = 1000;
    double proportional = 1.0;
    double integral = 0.2;
    double derivative = 0.0;
    double min_rate = 100;
  };
  explicit PidRateEstimator(Options options) : options_(options) {}
  // From the context's configuration; an EmberError names a bad key.
  static Options FromConf(const Conf& conf, int64_t batch_interval_ms);

  // A batch completed at `time_ms` with `records`, processed in `processing_ms`, having waited
  // `scheduling_delay_ms`: the new rate (records per second), or none.
  std::optional<double> Compute(int64_t time_ms, int64_t records, int64_t processing_ms,
                                int64_t scheduling_delay_ms);

 private:
  const Options options_;
  bool first_ = true;
  int64_t latest_time_ = -1;
  double latest_rate_ = -1;
  double latest_error_ = -1;
};

}  // namespace internal
}  // namespace ember
