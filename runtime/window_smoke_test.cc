// Windows over a manual clock: which batches a window holds, slides, and definition errors.

#include <gtest/gtest.h>

#include "runtime/testing.h"

namespace ember {
namespace {

using testing::Collector;
using testing::ManualStreams;
using testing::Sorted;

TEST(WindowSmokeTest, SlidingWindowHoldsTheBatchesOfItsLength) {
  ManualStreams env(Seconds(1));
  env.ssc().checkpoint(::testing::TempDir() + "/window-smoke-cp");
  auto queue = std::make_shared<RddQueue<int>>();
  auto input = env.ssc().queueStream(queue);
  Collector<int> windows;
  windows.Attach(input.window(Seconds(3), Seconds(2)));
  Collector<int64_t> counts;
  counts.Attach(input.countByWindow(Seconds(3), Seconds(1)));
  for (int i = 1; i <= 6; ++i) queue->push(env.ssc().parallelize<int>({i, 10 * i}, 2));
  env.ssc().start();
  auto t = env.RunBatches(6);  // batches at 1..6 s hold {i, 10i}
  // Slide 2 s from zero time 0: windows at 2, 4, 6 s, each (t - 3 s, t].
  EXPECT_EQ(windows.batches(), 3u);
  EXPECT_EQ(Sorted(windows.At(t[1])), (std::vector<int>{1, 2, 10, 20}));
  EXPECT_EQ(Sorted(windows.At(t[3])), (std::vector<int>{2, 3, 4, 20, 30, 40}));
  EXPECT_EQ(Sorted(windows.At(t[5])), (std::vector<int>{4, 5, 6, 40, 50, 60}));
  EXPECT_EQ(counts.At(t[0]), std::vector<int64_t>{2});
  EXPECT_EQ(counts.At(t[1]), std::vector<int64_t>{4});
  EXPECT_EQ(counts.At(t[4]), std::vector<int64_t>{6});
}

TEST(WindowSmokeTest, CountByWindowIsEmptyBeforeTheFirstRecordAndZeroAfterTheLast) {
  // Spark's countByWindow is map(_ => 1L).reduceByWindow(_ + _, _ - _, ...): no count for
  // windows that never held a record, 0 for those that no longer do.
  ManualStreams env(Seconds(1));
  env.ssc().checkpoint(::testing::TempDir() + "/count-by-window-cp");
  auto queue = std::make_shared<RddQueue<int>>();
  Collector<int64_t> counts;
  counts.Attach(env.ssc().queueStream(queue).countByWindow(Seconds(2), Seconds(1)));
  queue->push(env.ssc().parallelize<int>({}, 1));
  queue->push(env.ssc().parallelize<int>({7, 8, 9}, 2));
  env.ssc().start();
  auto t = env.RunBatches(5);  // batches: {}, {7, 8, 9}, then nothing
  EXPECT_TRUE(counts.At(t[0]).empty());
  EXPECT_EQ(counts.At(t[1]), std::vector<int64_t>{3});
  EXPECT_EQ(counts.At(t[2]), std::vector<int64_t>{3});
  EXPECT_EQ(counts.At(t[3]), std::vector<int64_t>{0});
  EXPECT_EQ(counts.At(t[4]), std::vector<int64_t>{0});
}

TEST(WindowSmokeTest, ReduceByKeyAndWindowOverReceivedBlocksKeepsBlocksForTheWindow) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<std::string>>();
  Collector<std::pair<std::string, int>> out;
  out.Attach(env.ssc()
                 .queueStream(queue)
                 .map([](const std::string& w) { return std::make_pair(w, 1); })
                 .reduceByKeyAndWindow([](int a, int b) { return a + b; }, Seconds(2)));
  queue->push(env.ssc().parallelize<std::string>({"a", "b", "a"}));
  queue->push(env.ssc().parallelize<std::string>({"a"}));
  env.ssc().start();
  auto t = env.RunBatches(3);
  using P = std::pair<std::string, int>;
  EXPECT_EQ(Sorted(out.At(t[0])), (std::vector<P>{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(Sorted(out.At(t[1])), (std::vector<P>{{"a", 3}, {"b", 1}}));
  EXPECT_EQ(Sorted(out.At(t[2])), (std::vector<P>{{"a", 1}}));
}

TEST(WindowSmokeTest, LengthAndSlideMustBeMultiplesOfTheParentSlide) {
  ManualStreams env(Seconds(2));
  auto queue = std::make_shared<RddQueue<int>>();
  auto input = env.ssc().queueStream(queue);
  try {
    input.window(Seconds(3));
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("window length 3000 ms must be a positive multiple of "
                                         "the parent's slide 2000 ms"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(input.window(Seconds(4), Seconds(1)), EmberError);
  // Streams of different slides cannot be combined.
  EXPECT_THROW(input.window(Seconds(4), Seconds(4)).union_(input), EmberError);
  EXPECT_NO_THROW(input.window(Seconds(4), Seconds(2)).union_(input));
}

}  // namespace
}  // namespace ember
