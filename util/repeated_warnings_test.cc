#include "util/repeated_warnings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember {
namespace internal {
namespace {

TEST(RepeatedWarningsTest, SeventySevenRetriesCostTwoLines) {
  auto clock = std::make_shared<ManualClock>(1000);
  std::vector<std::string> lines;
  RepeatedWarnings w(clock, 10000, [&](const std::string& l) { lines.push_back(l); });
  for (int i = 0; i < 77; ++i) {
    w.Warn("heartbeat d:1", "heartbeat to d:1 failed (" + std::to_string(i) + ")");
    clock->Advance(100);  // 7.7 s of retries
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"heartbeat to d:1 failed (0)"}));
  clock->Advance(5000);  // the window has passed: the next one logs the count, then itself
  w.Warn("heartbeat d:1", "heartbeat to d:1 failed (77)");
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "heartbeat to d:1 failed (0)",
                       "heartbeat to d:1 failed (76) (and 76 more like it in the last 10 s)",
                       "heartbeat to d:1 failed (77)"}));
}

TEST(RepeatedWarningsTest, KindsAreCountedApartAndNoCountWaitsForARepeat) {
  auto clock = std::make_shared<ManualClock>(0);
  std::vector<std::string> lines;
  RepeatedWarnings w(clock, 10000, [&](const std::string& l) { lines.push_back(l); });
  w.Warn("a", "a1");
  w.Warn("b", "b1");
  w.Warn("a", "a2");
  w.Warn("a", "a3");
  EXPECT_EQ(lines, (std::vector<std::string>{"a1", "b1"}));
  clock->Advance(10000);
  w.Warn("c", "c1");  // another kind: a's count comes out now, not at a's next warning
  EXPECT_EQ(lines, (std::vector<std::string>{"a1", "b1", "a3 (and 2 more like it in the last 10 s)",
                                             "c1"}));
  w.Warn("c", "c2");
  w.Flush();
  EXPECT_EQ(lines.back(), "c2 (and 1 more like it in the last 10 s)");
}

}  // namespace
}  // namespace internal
}  // namespace ember
