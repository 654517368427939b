// DagScheduler against a fake TaskBackend: real lineages (parallelize, reduceByKey) built on a
// context that never starts, tasks that never run, and outcomes the test scripts per task.

#include "runtime/dag_scheduler.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/ember.h"
#include "runtime/rdd_graph.h"
#include "runtime/task_backend.h"
#include "runtime/testing.h"
#include "util/task_status.h"

namespace ember {
namespace internal {
namespace {

using KV = std::pair<std::string, int>;

// Runs nothing: records every batch of TaskSpecs it is given and answers each task from the
// script (by default a map task succeeds and a result task returns "r<partition>").
class FakeBackend : public TaskBackend {
 public:
  using Script = std::function<absl::StatusOr<proto::TaskResult>(const proto::TaskSpec&)>;

  std::vector<absl::StatusOr<proto::TaskResult>> RunTasks(
      const std::vector<proto::TaskSpec>& tasks) override {
    calls_.push_back(tasks);
    std::vector<absl::StatusOr<proto::TaskResult>> out;
    for (const auto& t : tasks) out.push_back(script_ ? script_(t) : Succeed(t));
    return out;
  }
  int TaskSlots() const override { return 4; }

  static proto::TaskResult Succeed(const proto::TaskSpec& t) {
    proto::TaskResult r;
    if (!t.has_shuffle_write()) r.set_result(absl::StrCat("r", t.partition()));
    return r;
  }

  void set_script(Script script) { script_ = std::move(script); }
  const std::vector<std::vector<proto::TaskSpec>>& calls() const { return calls_; }
  // Each RunTasks call as one line per task: "map <shuffle>/<map> #<attempt>" or
  // "result <partition> #<attempt>".
  std::vector<std::vector<std::string>> Trace() const {
    std::vector<std::vector<std::string>> out;
    for (const auto& call : calls_) {
      out.emplace_back();
      for (const auto& t : call) {
        out.back().push_back(t.has_shuffle_write()
                                 ? absl::StrCat("map ", t.shuffle_write().shuffle_id(), "/",
                                                t.shuffle_write().map_id(), " #", t.attempt())
                                 : absl::StrCat("result ", t.partition(), " #", t.attempt()));
      }
    }
    return out;
  }

 private:
  Script script_;
  std::vector<std::vector<proto::TaskSpec>> calls_;
};

// The shuffle the given partition of `rdd` reads first.
int ShuffleRead(const RddRef& rdd) {
  proto::ComputeNode node;
  rdd->Describe(0, &node);
  EXPECT_TRUE(node.has_shuffle());
  return node.shuffle().shuffles(0).shuffle_id();
}

std::string Map(int shuffle, int map, int attempt) {
  return absl::StrCat("map ", shuffle, "/", map, " #", attempt);
}
std::string Result(int partition, int attempt) {
  return absl::StrCat("result ", partition, " #", attempt);
}

class DagSchedulerTest : public ::testing::Test {
 protected:
  // parallelize (2 partitions) -> reduceByKey (3 partitions): one shuffle.
  RddRef OneShuffle() {
    return env_.ssc()
        .parallelize<KV>({{"a", 1}, {"b", 2}, {"a", 3}}, 2)
        .reduceByKey([](int x, int y) { return x + y; }, 3)
        .ref();
  }

  ember::testing::ManualStreams env_;
  FakeBackend backend_;
  const Time batch_{5000};
};

TEST_F(DagSchedulerTest, MapStagesRunParentsFirstThenTheResultStage) {
  auto first = env_.ssc()
                   .parallelize<KV>({{"a", 1}, {"b", 2}}, 2)
                   .reduceByKey([](int x, int y) { return x + y; }, 3);
  RddRef second = first.map([](const KV& kv) { return KV(kv.first, kv.second * 10); })
                      .reduceByKey([](int x, int y) { return x + y; }, 2)
                      .ref();
  const int a = ShuffleRead(first.ref());
  const int b = ShuffleRead(second);
  DagScheduler dag(&backend_, 1);

  auto results = dag.RunJob(second, *CountResultOp(), {}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(*results, (std::vector<std::string>{"r0", "r1"}));
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Map(a, 0, 0), Map(a, 1, 0)},
                                                   {Map(b, 0, 0), Map(b, 1, 0), Map(b, 2, 0)},
                                                   {Result(0, 0), Result(1, 0)}}));
  // Every task of the job carries its job id and batch time; each stage has its own id.
  const auto& calls = backend_.calls();
  for (const auto& call : calls) {
    for (const auto& t : call) {
      EXPECT_EQ(t.job_id(), calls[0][0].job_id());
      EXPECT_EQ(t.batch_time_ms(), 5000);
      EXPECT_EQ(t.stage_id(), call[0].stage_id());
    }
  }
  EXPECT_LT(calls[0][0].stage_id(), calls[1][0].stage_id());
  EXPECT_LT(calls[1][0].stage_id(), calls[2][0].stage_id());
  // Map tasks write for as many reducers as the shuffle has partitions.
  EXPECT_EQ(calls[0][0].shuffle_write().num_reducers(), 3);
  EXPECT_EQ(calls[1][0].shuffle_write().num_reducers(), 2);
  EXPECT_TRUE(calls[2][0].has_result());
  EXPECT_EQ(backend_.calls()[2][1].root().shuffle().reduce_id(), 1);
  EXPECT_EQ(dag.metrics().tasks, 7);
  EXPECT_EQ(dag.metrics().failed_attempts, 0);
}

TEST_F(DagSchedulerTest, ResultsComeBackInTheOrderOfTheRequestedPartitions) {
  RddRef rdd = OneShuffle();
  DagScheduler dag(&backend_, 1);

  auto results = dag.RunJob(rdd, *CountResultOp(), {2, 0}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(*results, (std::vector<std::string>{"r2", "r0"}));
  // The map stage still computes every map output: a reducer reads all of them.
  const int s = ShuffleRead(rdd);
  EXPECT_EQ(backend_.Trace(), (std::vector<std::vector<std::string>>{
                                  {Map(s, 0, 0), Map(s, 1, 0)}, {Result(2, 0), Result(0, 0)}}));
}

TEST_F(DagSchedulerTest, AComputedShuffleIsNotComputedAgainByALaterJob) {
  RddRef rdd = OneShuffle();
  DagScheduler dag(&backend_, 1);

  ASSERT_TRUE(dag.RunJob(rdd, *CountResultOp(), {}, batch_).ok());
  ASSERT_TRUE(dag.RunJob(rdd, *CountResultOp(), {1}, batch_).ok());

  const int s = ShuffleRead(rdd);
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Map(s, 0, 0), Map(s, 1, 0)},
                                                   {Result(0, 0), Result(1, 0), Result(2, 0)},
                                                   {Result(1, 0)}}));
  EXPECT_EQ(backend_.calls()[2][0].job_id(), backend_.calls()[0][0].job_id() + 1);
}

TEST_F(DagSchedulerTest, OnlyTheFailedTasksAreRetriedUntilTheySucceed) {
  RddRef rdd = OneShuffle();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (!t.has_shuffle_write() && t.partition() == 1 && t.attempt() < 2) {
      return absl::InternalError("executor went away");
    }
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 3);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(*results, (std::vector<std::string>{"r0", "r1", "r2"}));
  const int s = ShuffleRead(rdd);
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Map(s, 0, 0), Map(s, 1, 0)},
                                                   {Result(0, 0), Result(1, 0), Result(2, 0)},
                                                   {Result(1, 1)},
                                                   {Result(1, 2)}}));
  EXPECT_EQ(dag.metrics().tasks, 5);
  EXPECT_EQ(dag.metrics().failed_attempts, 2);
}

TEST_F(DagSchedulerTest, ATaskFailingMaxFailuresTimesAbortsTheJobWithItsMessage) {
  RddRef rdd = OneShuffle();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (t.has_shuffle_write() && t.partition() == 1) return absl::UnknownError("bad record 7");
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 3);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  ASSERT_FALSE(results.ok());
  const int stage = backend_.calls()[0][0].stage_id();
  EXPECT_EQ(results.status(),
            absl::AbortedError(absl::StrCat("Job aborted: task 1 of stage ", stage,
                                            " failed 3 times; most recent failure: bad record 7")));
  // The result stage never runs.
  const int s = ShuffleRead(rdd);
  EXPECT_EQ(backend_.Trace(), (std::vector<std::vector<std::string>>{
                                  {Map(s, 0, 0), Map(s, 1, 0)}, {Map(s, 1, 1)}, {Map(s, 1, 2)}}));
  EXPECT_EQ(dag.metrics().failed_attempts, 3);
}

TEST_F(DagSchedulerTest, WithOneAllowedFailureAFailedTaskIsNotRetried) {
  RddRef rdd = env_.ssc().parallelize<int>({1, 2, 3}, 2).ref();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (t.partition() == 0) return absl::UnknownError("boom");
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 1);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  EXPECT_TRUE(absl::IsAborted(results.status())) << results.status();
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Result(0, 0), Result(1, 0)}}));
}

TEST_F(DagSchedulerTest, ALostMapOutputRunsTheMapStageAgainAndThenTheResultStage) {
  RddRef rdd = OneShuffle();
  int lost = 0;
  backend_.set_script([&lost](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (!t.has_shuffle_write() && t.partition() == 2 && lost++ == 0) {
      return absl::NotFoundError("map output 1 of shuffle is gone");
    }
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 2);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(*results, (std::vector<std::string>{"r0", "r1", "r2"}));
  const int s = ShuffleRead(rdd);
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Map(s, 0, 0), Map(s, 1, 0)},
                                                   {Result(0, 0), Result(1, 0), Result(2, 0)},
                                                   {Map(s, 0, 0), Map(s, 1, 0)},
                                                   {Result(0, 0), Result(1, 0), Result(2, 0)}}));
  // Each run of a stage is a new stage.
  EXPECT_NE(backend_.calls()[3][0].stage_id(), backend_.calls()[1][0].stage_id());
  // A lost output is not a task failure.
  EXPECT_EQ(dag.metrics().failed_attempts, 0);
}

TEST_F(DagSchedulerTest, AMapOutputLostEveryRoundFailsTheJobAfterFourStageAttempts) {
  RddRef rdd = OneShuffle();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (!t.has_shuffle_write()) return absl::NotFoundError("map output 0 is gone");
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 2);

  auto results = dag.RunJob(rdd, *CountResultOp(), {0}, batch_);

  EXPECT_EQ(results.status(), absl::NotFoundError("map output 0 is gone"));
  // Rounds of recomputation are stage attempts (Spark's default 4), not task attempts (2).
  const int s = ShuffleRead(rdd);
  std::vector<std::vector<std::string>> round = {{Map(s, 0, 0), Map(s, 1, 0)}, {Result(0, 0)}};
  std::vector<std::vector<std::string>> expected;
  for (int i = 0; i < 4; ++i) expected.insert(expected.end(), round.begin(), round.end());
  EXPECT_EQ(backend_.Trace(), expected);
}

TEST_F(DagSchedulerTest, LostStateIsReturnedAtOnceWithoutRetry) {
  RddRef rdd = env_.ssc().parallelize<int>({1, 2, 3}, 2).ref();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (t.partition() == 1) return StateLostStatus("state lost: s-1 partition 1");
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 4);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  EXPECT_TRUE(IsStateLost(results.status())) << results.status();
  EXPECT_EQ(results.status().message(), "state lost: s-1 partition 1");
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Result(0, 0), Result(1, 0)}}));
  EXPECT_EQ(dag.metrics().failed_attempts, 0);
}

TEST_F(DagSchedulerTest, AnyOtherFailedPreconditionIsRetriedLikeAFailure) {
  RddRef rdd = env_.ssc().parallelize<int>({1, 2, 3}, 2).ref();
  backend_.set_script([](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (t.partition() == 1 && t.attempt() == 0) {
      // The kind decides, not the words: an untyped message that reads alike is retried.
      return absl::FailedPreconditionError("state lost: says the message, but untyped");
    }
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 2);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(backend_.Trace(),
            (std::vector<std::vector<std::string>>{{Result(0, 0), Result(1, 0)}, {Result(1, 1)}}));
  EXPECT_EQ(dag.metrics().failed_attempts, 1);
}

TEST_F(DagSchedulerTest, AnUnknownPartitionIsRefusedBeforeAnyTaskRuns) {
  RddRef rdd = OneShuffle();
  DagScheduler dag(&backend_, 1);

  auto results = dag.RunJob(rdd, *CountResultOp(), {0, 3}, batch_);

  EXPECT_EQ(results.status(), absl::InvalidArgumentError("no partition 3"));
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(DagSchedulerTest, AnRddWithoutPartitionsRunsNoTask) {
  RddRef rdd = MakeEmptyRdd(env_.ssc().core());
  DagScheduler dag(&backend_, 1);

  auto results = dag.RunJob(rdd, *CountResultOp(), {}, batch_);

  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE(results->empty());
  EXPECT_TRUE(backend_.calls().empty());
}

// A map stage that finds a map output of an earlier shuffle gone recomputes the lineage's
// shuffles, as the result stage does.
TEST_F(DagSchedulerTest, AMapOutputLostUnderALaterMapStageRunsItsStagesAgain) {
  auto first = env_.ssc()
                   .parallelize<KV>({{"a", 1}, {"b", 2}}, 2)
                   .reduceByKey([](int x, int y) { return x + y; }, 3);
  RddRef second = first.reduceByKey([](int x, int y) { return x + y; }, 2).ref();
  const int b = ShuffleRead(second);
  int lost = 0;
  backend_.set_script([b, &lost](const proto::TaskSpec& t) -> absl::StatusOr<proto::TaskResult> {
    if (t.has_shuffle_write() && t.shuffle_write().shuffle_id() == b && lost++ == 0) {
      return absl::NotFoundError("map output 0 of the first shuffle is gone");
    }
    return FakeBackend::Succeed(t);
  });
  DagScheduler dag(&backend_, 2);

  auto results = dag.RunJob(second, *CountResultOp(), {}, batch_);

  EXPECT_TRUE(results.ok()) << results.status();
}

}  // namespace
}  // namespace internal
}  // namespace ember
