#include "util/rate_limiter.h"

#include <gtest/gtest.h>

namespace ember {
namespace internal {
namespace {

// A clock that moves only when the limiter sleeps.
struct FakeTime {
  absl::Time now = absl::UnixEpoch();
  absl::Duration slept;
  RateLimiter Limiter() {
    return RateLimiter([this] { return now; },
                       [this](absl::Duration d) {
                         now += d;
                         slept += d;
                       });
  }
};

TEST(RateLimiterTest, WithoutARateNothingWaits) {
  FakeTime t;
  RateLimiter r = t.Limiter();
  EXPECT_TRUE(r.Acquire(1000000));
  EXPECT_EQ(t.slept, absl::ZeroDuration());
}

TEST(RateLimiterTest, RecordsPassAtTheRate) {
  FakeTime t;
  RateLimiter r = t.Limiter();
  r.SetRate(1000);
  // 10,000 records at 1,000/s take 10 s, whatever the sizes of the calls.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.Acquire(100));
  EXPECT_NEAR(absl::ToDoubleSeconds(t.slept), 10.0, 0.05);
}

TEST(RateLimiterTest, ACallOfMoreThanASecondsRecordsWaitsAndPasses) {
  FakeTime t;
  RateLimiter r = t.Limiter();
  r.SetRate(2000);
  ASSERT_TRUE(r.Acquire(2200));  // a socket read of 64 KB: more lines than a second allows
  EXPECT_NEAR(absl::ToDoubleSeconds(t.slept), 1.1, 0.05);
}

TEST(RateLimiterTest, ASecondOfUnusedRateIsABurstAndNoMore) {
  FakeTime t;
  RateLimiter r = t.Limiter();
  r.SetRate(500);
  t.now += absl::Seconds(60);  // idle for a minute: a second's worth is kept
  ASSERT_TRUE(r.Acquire(500));
  EXPECT_EQ(t.slept, absl::ZeroDuration());
  ASSERT_TRUE(r.Acquire(500));
  EXPECT_NEAR(absl::ToDoubleSeconds(t.slept), 1.0, 0.01);
}

TEST(RateLimiterTest, ANewRateAppliesToWaitingCallersAndCancellingStops) {
  FakeTime t;
  RateLimiter r = t.Limiter();
  r.SetRate(10);
  int calls = 0;
  // Cancelled after the first slice: returns false without the records.
  EXPECT_FALSE(r.Acquire(1000, [&] { return ++calls > 1; }));
  r.SetRate(0);
  EXPECT_TRUE(r.Acquire(1000));
  EXPECT_EQ(r.rate(), 0);
}

}  // namespace
}  // namespace internal
}  // namespace ember
