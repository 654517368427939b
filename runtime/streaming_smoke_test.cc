// End-to-end checks of the engine in local mode on a manual clock: sources, fused narrow
// chains, shuffles, outputs, errors.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/testing.h"

namespace ember {
namespace {

using testing::Collector;
using testing::ManualStreams;
using testing::Sorted;
using WordCount = std::pair<std::string, int>;

TEST(StreamingSmokeTest, QueueStreamWordCount) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<std::string>>();
  auto lines = env.ssc().queueStream(queue);
  auto counts = lines.flatMap([](const std::string& l) { return Split(l, ' '); })
                    .map([](const std::string& w) { return std::make_pair(w, 1); })
                    .reduceByKey([](int a, int b) { return a + b; });
  Collector<WordCount> out;
  out.Attach(counts);
  queue->push(env.ssc().parallelize<std::string>({"a b a", "c a", "b"}, 2));
  env.ssc().start();
  auto times = env.RunBatches(2);
  EXPECT_EQ(Sorted(out.At(times[0])), (std::vector<WordCount>{{"a", 3}, {"b", 2}, {"c", 1}}));
  EXPECT_TRUE(out.At(times[1]).empty());
  env.ssc().stop();
}

TEST(StreamingSmokeTest, CountGivesZeroForEmptyBatches) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<int>>();
  Collector<int64_t> out;
  out.Attach(env.ssc().queueStream(queue).count());
  queue->push(env.ssc().parallelize<int>({1, 2, 3, 4, 5}, 3));
  env.ssc().start();
  auto times = env.RunBatches(2);
  EXPECT_EQ(out.At(times[0]), std::vector<int64_t>{5});
  EXPECT_EQ(out.At(times[1]), std::vector<int64_t>{0});
}

TEST(StreamingSmokeTest, BatchDirectoriesAreNamedAsSparkNamesThem) {
  // Spark's rddToFileName: prefix-TIME[.suffix], and without a prefix no dash either.
  EXPECT_EQ(internal::BatchDirectory("out/words", "txt", Time(5000)), "out/words-5000.txt");
  EXPECT_EQ(internal::BatchDirectory("out/words", "", Time(5000)), "out/words-5000");
  EXPECT_EQ(internal::BatchDirectory("", "txt", Time(5000)), "5000.txt");
  EXPECT_EQ(internal::BatchDirectory("", "", Time(5000)), "5000");
}

TEST(StreamingSmokeTest, PrintMatchesSparkFormat) {
  ManualStreams env(Seconds(1));
  std::string printed;
  env.ssc().core()->SetOutputSink([&printed](const std::string& s) { printed += s; });
  auto queue = std::make_shared<RddQueue<int>>();
  env.ssc().queueStream(queue).map([](int x) { return std::make_pair(x, x * 2); }).print(2);
  queue->push(env.ssc().parallelize<int>({1, 2, 3}, 1));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  EXPECT_EQ(printed,
            "-------------------------------------------\n"
            "Time: 1000 ms\n"
            "-------------------------------------------\n"
            "(1,2)\n"
            "(2,4)\n"
            "...\n"
            "\n");
}

TEST(StreamingSmokeTest, UserExceptionFailsTheBatchAndSurfaces) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<int>>();
  env.ssc()
      .queueStream(queue)
      .map([](int x) {
        if (x == 3) throw std::runtime_error("bad record 3");
        return x;
      })
      .print();
  queue->push(env.ssc().parallelize<int>({1, 2, 3}, 1));
  env.ssc().start();
  env.RunBatches(1);
  try {
    env.ssc().awaitTerminationOrTimeout(1);
    FAIL() << "expected the job's error";
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("bad record 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1000 ms"), std::string::npos) << e.what();
  }
}

TEST(StreamingSmokeTest, MisuseIsAClearError) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<int>>();
  auto s = env.ssc().queueStream(queue);
  EXPECT_THROW(env.ssc().start(), EmberError);  // no output operation
  s.print();
  env.ssc().start();
  EXPECT_THROW(env.ssc().start(), EmberError);
  EXPECT_THROW(s.map([](int x) { return x; }).print(), EmberError);
  env.ssc().stop();
  EXPECT_EQ(env.ssc().getState(), StreamingContextState::STOPPED);
  EXPECT_THROW(env.ssc().start(), EmberError);
}

TEST(StreamingSmokeTest, StopFromAnOutputOperationDoesNotDeadlock) {
  ManualStreams env(Seconds(1));
  auto queue = std::make_shared<RddQueue<int>>();
  StreamingContext* ssc = &env.ssc();
  env.ssc().queueStream(queue).foreachRDD([ssc](const Rdd<int>& rdd) {
    if (rdd.count() > 0) ssc->stop();
  });
  queue->push(env.ssc().parallelize<int>({1}, 1));
  env.ssc().start();
  env.clock().Advance(1000);
  EXPECT_TRUE(env.ssc().awaitTerminationOrTimeout(30000));
  EXPECT_EQ(env.ssc().getState(), StreamingContextState::STOPPED);
}

// Spark's TaskContext: job code in a task sees its partition and batch; none elsewhere.
TEST(TaskContextTest, JobCodeSeesItsTasksPartitionAndBatch) {
  EXPECT_EQ(TaskContext::get(), nullptr);  // the driver's thread
  ManualStreams env;
  auto q = std::make_shared<RddQueue<int>>();
  q->push(env.ssc().parallelize(std::vector<int>{1, 2, 3, 4, 5, 6}, 3));
  auto seen = std::make_shared<std::map<int64_t, std::vector<std::pair<int, int64_t>>>>();
  env.ssc().queueStream(q).foreachRDD([seen](const Rdd<int>& rdd, Time t) {
    (*seen)[t.milliseconds()] =
        rdd.map([](int) {
             const TaskContext* c = TaskContext::get();
             if (c == nullptr) return std::make_pair(-1, int64_t{-1});
             return std::make_pair(c->partitionId(), c->batchTime().milliseconds());
           })
            .collect();
  });
  env.ssc().start();
  Time t = env.RunBatches(1)[0];
  const int64_t ms = t.milliseconds();
  EXPECT_EQ((*seen)[ms], (std::vector<std::pair<int, int64_t>>{
                             {0, ms}, {0, ms}, {1, ms}, {1, ms}, {2, ms}, {2, ms}}));
  EXPECT_EQ(TaskContext::get(), nullptr);
}

}  // namespace
}  // namespace ember
