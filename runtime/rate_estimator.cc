#include "runtime/rate_estimator.h"

#include <algorithm>
#include <string>

#include "common/errors.h"

namespace ember {
namespace internal {

namespace {
double Number(const Conf& conf, const std::string& key, double fallback, bool positive) {
  auto v = conf.getOption(key);
  if (!v) return fallback;
  try {
    size_t used = 0;
    double d = std::stod(*v, &used);
    if (used == v->size() && d >= 0 && (!positive || d > 0)) return d;
  } catch (const std::exception&) {
  }
  throw EmberError("configuration " + key + "=" + *v + " must be a number, " +
                   (positive ? "above 0" : "0 or more"));
}
}  // namespace

PidRateEstimator::Options PidRateEstimator::FromConf(const Conf& conf, int64_t batch_interval_ms) {
  Options o;
  o.batch_interval_ms = batch_interval_ms;
  o.proportional = Number(conf, "ember.streaming.backpressure.pid.proportional", 1.0, false);
  o.integral = Number(conf, "ember.streaming.backpressure.pid.integral", 0.2, false);
  o.derivative = Number(conf, "ember.streaming.backpressure.pid.derived", 0.0, false);
  o.min_rate = Number(conf, "ember.streaming.backpressure.pid.minRate", 100, true);
  return o;
}

std::optional<double> PidRateEstimator::Compute(int64_t time_ms, int64_t records,
                                                int64_t processing_ms,
                                                int64_t scheduling_delay_ms) {
  if (time_ms <= latest_time_ || records <= 0 || processing_ms <= 0) return std::nullopt;
  double since_update = static_cast<double>(time_ms - latest_time_) / 1000.0;
  double processing_rate =
      static_cast<double>(records) / static_cast<double>(processing_ms) * 1000.0;
  double error = latest_rate_ - processing_rate;
  double historical_error = static_cast<double>(scheduling_delay_ms) * processing_rate /
                            static_cast<double>(options_.batch_interval_ms);
  double d_error = (error - latest_error_) / since_update;
  double new_rate =
      std::max(latest_rate_ - options_.proportional * error - options_.integral * historical_error -
                   options_.derivative * d_error,
               options_.min_rate);
  latest_time_ = time_ms;
  if (first_) {
    latest_rate_ = processing_rate;
    latest_error_ = 0;
    first_ = false;
    return std::nullopt;
  }
  latest_rate_ = new_rate;
  latest_error_ = error;
  return new_rate;
}

}  // namespace internal
}  // namespace ember
