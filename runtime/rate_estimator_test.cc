#include "runtime/rate_estimator.h"

#include <gtest/gtest.h>

namespace ember {
namespace internal {
namespace {

PidRateEstimator::Options Defaults(int64_t interval_ms = 1000) {
  PidRateEstimator::Options o;
  o.batch_interval_ms = interval_ms;
  return o;
}

TEST(PidRateEstimatorTest, TheFirstBatchOnlySetsTheRate) {
  PidRateEstimator e(Defaults());
  EXPECT_FALSE(e.Compute(1000, 5000, 500, 0).has_value());
  // Processing rate 10000/s; error 0: the rate stays where the first batch put it.
  auto r = e.Compute(2000, 10000, 1000, 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 10000);
}

TEST(PidRateEstimatorTest, HandComputedSequence) {
  PidRateEstimator e(Defaults());
  ASSERT_FALSE(e.Compute(1000, 10000, 1000, 0).has_value());  // latest rate 10000
  // 10000 records in 2000 ms: 5000/s. error = 10000 - 5000 = 5000; historical error =
  // 500 ms * 5000/s / 1000 ms = 2500; new = 10000 - 1.0 * 5000 - 0.2 * 2500 = 4500.
  auto r = e.Compute(2000, 10000, 2000, 500);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 4500);
  // 4500 records in 500 ms: 9000/s. error = 4500 - 9000 = -4500; historical error =
  // 0; new = 4500 + 4500 = 9000.
  r = e.Compute(3000, 4500, 500, 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 9000);
}

TEST(PidRateEstimatorTest, TheDerivativeTermUsesTheTimeSinceTheLastUpdate) {
  PidRateEstimator::Options o = Defaults();
  o.derivative = 0.5;
  PidRateEstimator e(o);
  ASSERT_FALSE(e.Compute(1000, 10000, 1000, 0).has_value());
  // error 5000, d(error)/dt = (5000 - 0) / 2 s = 2500: new = 10000 - 5000 - 0.5 * 2500.
  auto r = e.Compute(3000, 10000, 2000, 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 3750);
}

TEST(PidRateEstimatorTest, NeverBelowTheMinimumRate) {
  PidRateEstimator e(Defaults());
  ASSERT_FALSE(e.Compute(1000, 1000, 1000, 0).has_value());
  auto r = e.Compute(2000, 10, 1000, 100000);  // a huge scheduling delay
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(*r, 100);
}

TEST(PidRateEstimatorTest, BatchesWithoutRecordsOrTimeAreSkipped) {
  PidRateEstimator e(Defaults());
  ASSERT_FALSE(e.Compute(1000, 10000, 1000, 0).has_value());
  EXPECT_FALSE(e.Compute(2000, 0, 1000, 0).has_value());
  EXPECT_FALSE(e.Compute(3000, 100, 0, 0).has_value());
  EXPECT_FALSE(e.Compute(1000, 100, 10, 0).has_value());  // not after the last update
  EXPECT_TRUE(e.Compute(4000, 10000, 1000, 0).has_value());
}

TEST(PidRateEstimatorTest, KeysAreReadAndCheckedFromTheConfiguration) {
  Conf conf;
  conf.set("ember.streaming.backpressure.pid.proportional", "0.5")
      .set("ember.streaming.backpressure.pid.minRate", "10");
  auto o = PidRateEstimator::FromConf(conf, 200);
  EXPECT_DOUBLE_EQ(o.proportional, 0.5);
  EXPECT_DOUBLE_EQ(o.integral, 0.2);
  EXPECT_DOUBLE_EQ(o.min_rate, 10);
  EXPECT_EQ(o.batch_interval_ms, 200);
  conf.set("ember.streaming.backpressure.pid.minRate", "0");
  EXPECT_THROW(PidRateEstimator::FromConf(conf, 200), EmberError);
  conf.set("ember.streaming.backpressure.pid.minRate", "fast");
  EXPECT_THROW(PidRateEstimator::FromConf(conf, 200), EmberError);
}

}  // namespace
}  // namespace internal
}  // namespace ember
