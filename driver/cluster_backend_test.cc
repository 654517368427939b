// AppServices in-process, against executors that are real gRPC servers in the test's process
// (FakeExecutor) with scripted task replies, registered in a real ExecutorRegistry. No
// StreamingContext: the paths tested never touch it (the context pointer is null).

#include "driver/cluster_backend.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "driver/executor_registry.h"
#include "driver/fake_executor.h"
#include "runtime/testing.h"
#include "tests/wait.h"
#include "util/task_status.h"

namespace ember {
namespace internal {
namespace {

using ::ember::testing::FakeExecutor;
using ::ember::testing::WaitForCondition;

constexpr char kApp[] = "app-test-0001";

// A result task over inline data: no locality, no state, no shuffle.
proto::TaskSpec PlainTask(int partition = 0) {
  proto::TaskSpec task;
  task.set_job_id(1);
  task.set_partition(partition);
  task.mutable_root()->mutable_inline_data()->set_data("x");
  task.mutable_result()->set_key("result-op");
  return task;
}

proto::TaskSpec BlockTask(const std::vector<std::string>& locations) {
  proto::TaskSpec task = PlainTask();
  auto* block = task.mutable_root()->mutable_narrow()->add_inputs()->mutable_block();
  block->set_block_id("input-0-1");
  for (const auto& where : locations) block->add_locations(where);
  return task;
}

// Updates partition 0 of state "counts" from the batch at `prev_ms`; with `seeded`, the state
// is shipped with the task (it may run anywhere), else it must run where the state is kept.
proto::TaskSpec StateTask(int64_t prev_ms, bool seeded) {
  proto::TaskSpec task = PlainTask();
  auto* state = task.mutable_root()->mutable_state();
  state->set_state_key("counts");
  state->set_partition(0);
  state->set_mode(proto::StateInput::UPDATE);
  state->set_prev_ms(prev_ms);
  state->set_new_ms(prev_ms + 1000);
  if (seeded) state->mutable_seed()->mutable_inline_data()->set_data("seed");
  return task;
}

proto::TaskSpec MapTask(int shuffle_id, int map_id) {
  proto::TaskSpec task;
  task.set_job_id(1);
  task.set_partition(map_id);
  task.mutable_root()->mutable_inline_data()->set_data("x");
  task.mutable_shuffle_write()->set_shuffle_id(shuffle_id);
  task.mutable_shuffle_write()->set_map_id(map_id);
  task.mutable_shuffle_write()->set_num_reducers(1);
  return task;
}

proto::TaskSpec ReduceTask(int shuffle_id, int num_maps) {
  proto::TaskSpec task = PlainTask();
  auto* ref = task.mutable_root()->mutable_shuffle()->add_shuffles();
  ref->set_shuffle_id(shuffle_id);
  ref->set_num_maps(num_maps);
  return task;
}

std::vector<std::string> MapLocations(const proto::RunTaskRequest& request) {
  const auto& ref = request.task().root().shuffle().shuffles(0);
  return {ref.map_locations().begin(), ref.map_locations().end()};
}

class AppServicesTest : public ::testing::Test {
 protected:
  AppServicesTest() : registry_(Options()) {}

  // No heartbeats here: losses come from calls, after kTimeout of unreachability.
  static constexpr absl::Duration kTimeout = absl::Seconds(1);
  static ExecutorRegistry::Options Options() {
    ExecutorRegistry::Options o;
    o.heartbeat_timeout = kTimeout;
    o.detect_loss = false;
    return o;
  }

  // A new executor with `slots` task slots, registered; its id is exec-<n>.
  FakeExecutor* AddExecutor(int slots = 1, FakeExecutor::TaskHandler on_task = nullptr) {
    fakes_.push_back(std::make_unique<FakeExecutor>(std::move(on_task)));
    EXPECT_FALSE(fakes_.back()->address().empty()) << "the fake executor did not start";
    registry_.Register(fakes_.back()->address(), slots);
    return fakes_.back().get();
  }

  std::shared_ptr<AppServices> MakeServices(absl::Duration slot_wait = absl::Seconds(30),
                                            ContextCore* ctx = nullptr) {
    AppServices::Options o;
    o.app_id = kApp;
    o.executors = &registry_;
    o.emit = [](const std::string&) {};
    o.slot_wait = slot_wait;
    auto services = std::make_shared<AppServices>(std::move(o), ctx);
    services->Init();
    return services;
  }

  absl::StatusOr<proto::TaskResult> RunOne(AppServices& services, const proto::TaskSpec& task) {
    auto results = services.RunTasks({task});
    EXPECT_EQ(results.size(), 1u);
    return results[0];
  }

  // Declared first: the executors outlive the registry's stubs and the services' calls.
  std::vector<std::unique_ptr<FakeExecutor>> fakes_;
  ExecutorRegistry registry_;
};

// The driver creates a context's services inside the context's constructor: a status query or
// a kill in that window must wait for Attach, not reach the half-built context.
TEST_F(AppServicesTest, StatusAndKillReachTheContextOnlyOnceItIsAttached) {
  testing::ManualStreams env(Seconds(1), "local[1]");
  auto services = MakeServices(absl::Seconds(30), env.ssc().core());

  EXPECT_FALSE(services->ContextActive());  // not the half-built context's state
  services->StopContext();
  EXPECT_EQ(env.ssc().core()->state(), StreamingContextState::INITIALIZED);

  services->Attach();  // the kill asked for meanwhile stops it now
  EXPECT_EQ(env.ssc().core()->state(), StreamingContextState::STOPPED);
  EXPECT_FALSE(services->ContextActive());
  services->Detach();
}

TEST_F(AppServicesTest, ATaskRunsOnAnExecutorAndItsResultComesBack) {
  FakeExecutor* a = AddExecutor(1, [](const proto::RunTaskRequest&, proto::RunTaskReply* reply) {
    reply->mutable_result()->set_result("42");
    reply->mutable_result()->set_records_read(7);
    return grpc::Status::OK;
  });
  auto services = MakeServices();

  auto result = RunOne(*services, PlainTask(3));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->result(), "42");
  EXPECT_EQ(result->records_read(), 7);
  ASSERT_EQ(a->tasks().size(), 1u);
  EXPECT_EQ(a->tasks()[0].app_id(), kApp);
  EXPECT_EQ(a->tasks()[0].task().partition(), 3);
  EXPECT_EQ(registry_.Find("exec-1")->busy, 0);  // the slot was given back
}

TEST_F(AppServicesTest, ATaskGoesToTheExecutorWithAFreeSlot) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  // exec-1's only slot is taken (as by another application's task).
  ExecutorPtr taken = registry_.AcquireSlot({a->address()}, absl::Seconds(1), nullptr, true);
  ASSERT_NE(taken, nullptr);
  ASSERT_EQ(taken->id, "exec-1");
  auto services = MakeServices();

  // Even a task whose input block is on exec-1 does not wait for it.
  ASSERT_TRUE(RunOne(*services, PlainTask()).ok());
  ASSERT_TRUE(RunOne(*services, BlockTask({a->address()})).ok());

  EXPECT_EQ(a->tasks().size(), 0u);
  EXPECT_EQ(b->tasks().size(), 2u);
  registry_.ReleaseSlot(taken);
}

TEST_F(AppServicesTest, ATaskPrefersTheExecutorHoldingItsInputBlock) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  FakeExecutor* c = AddExecutor(1);
  auto services = MakeServices();

  // Without locality exec-1 is first among equally idle executors.
  ASSERT_TRUE(RunOne(*services, PlainTask()).ok());
  ASSERT_TRUE(RunOne(*services, BlockTask({b->address()})).ok());
  ASSERT_TRUE(RunOne(*services, BlockTask({"127.0.0.1:1", c->address()})).ok());

  EXPECT_EQ(a->tasks().size(), 1u);
  ASSERT_EQ(b->tasks().size(), 1u);
  EXPECT_EQ(b->tasks()[0].task().root().narrow().inputs(0).block().block_id(), "input-0-1");
  EXPECT_EQ(c->tasks().size(), 1u);
}

TEST_F(AppServicesTest, AStateUpdateRunsWhereThePartitionWasLastUpdated) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  auto services = MakeServices();
  // The first, seeded update may go anywhere: exec-2 while exec-1 is busy.
  ExecutorPtr taken = registry_.AcquireSlot({a->address()}, absl::Seconds(1), nullptr, true);
  ASSERT_NE(taken, nullptr);
  ASSERT_TRUE(RunOne(*services, StateTask(-1, /*seeded=*/true)).ok());
  registry_.ReleaseSlot(taken);

  // The next ones go to exec-2 though exec-1 is idle and first.
  ASSERT_TRUE(RunOne(*services, StateTask(1000, /*seeded=*/false)).ok());
  ASSERT_TRUE(RunOne(*services, StateTask(2000, /*seeded=*/false)).ok());

  EXPECT_EQ(a->tasks().size(), 0u);
  EXPECT_EQ(b->tasks().size(), 3u);
}

TEST_F(AppServicesTest, AStateUpdateWithNoKnownOwnerIsStateLostWithoutRunning) {
  FakeExecutor* a = AddExecutor(1);
  auto services = MakeServices();

  auto result = RunOne(*services, StateTask(1000, /*seeded=*/false));

  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(IsStateLost(result.status())) << result.status();
  EXPECT_EQ(result.status().message(), "state lost: no executor holds state partition counts/0");
  EXPECT_EQ(a->tasks().size(), 0u);
}

TEST_F(AppServicesTest, AStateUpdateWhoseOwnerWasLostIsStateLost) {
  AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  auto services = MakeServices();
  ExecutorPtr taken =
      registry_.AcquireSlot({fakes_[0]->address()}, absl::Seconds(1), nullptr, true);
  ASSERT_TRUE(RunOne(*services, StateTask(-1, /*seeded=*/true)).ok());
  registry_.ReleaseSlot(taken);
  ASSERT_EQ(b->tasks().size(), 1u);
  registry_.MarkLost("exec-2", "test");

  auto result = RunOne(*services, StateTask(1000, /*seeded=*/false));

  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(IsStateLost(result.status())) << result.status();
  EXPECT_EQ(fakes_[0]->tasks().size(), 0u);
}

TEST_F(AppServicesTest, AReplyWithAnErrorCodeIsATaskFailureWithThatCodeAndMessage) {
  AddExecutor(1, [](const proto::RunTaskRequest&, proto::RunTaskReply* reply) {
    reply->set_error_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
    reply->set_error("user function threw: bad record");
    return grpc::Status::OK;
  });
  auto services = MakeServices();

  auto result = RunOne(*services, PlainTask());

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "user function threw: bad record [on executor exec-1]");
  EXPECT_FALSE(IsStateLost(result.status()));
  EXPECT_TRUE(registry_.IsAlive(registry_.Find("exec-1")));  // a task failure, not a loss
}

TEST_F(AppServicesTest, AReplyWithStateLostFailureComesBackAsStateLost) {
  AddExecutor(1, [](const proto::RunTaskRequest&, proto::RunTaskReply* reply) {
    reply->set_error_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    reply->set_error("version 1000 of counts/0 is no longer kept");
    reply->set_failure(proto::TASK_FAILURE_STATE_LOST);
    return grpc::Status::OK;
  });
  auto services = MakeServices();

  auto result = RunOne(*services, PlainTask());

  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(IsStateLost(result.status())) << result.status();
  EXPECT_EQ(result.status().message(),
            "version 1000 of counts/0 is no longer kept [on executor exec-1]");
}

TEST_F(AppServicesTest, AFailedPreconditionWithoutStateLostIsNotStateLost) {
  AddExecutor(1, [](const proto::RunTaskRequest&, proto::RunTaskReply* reply) {
    reply->set_error_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    reply->set_error("something else");
    return grpc::Status::OK;
  });
  auto services = MakeServices();

  auto result = RunOne(*services, PlainTask());

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(IsStateLost(result.status()));
}

TEST_F(AppServicesTest, AnUnreachableExecutorIsAvoidedButNotLost) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  auto services = MakeServices();
  a->Shutdown();

  // The first try goes to exec-1 (the least busy, first), finds it unreachable, and the task
  // runs on exec-2; the next task goes to exec-2 straight away.
  EXPECT_TRUE(RunOne(*services, PlainTask()).ok());
  EXPECT_TRUE(RunOne(*services, PlainTask()).ok());

  EXPECT_EQ(b->tasks().size(), 2u);
  EXPECT_TRUE(registry_.IsAlive(registry_.Find("exec-1")));
}

TEST_F(AppServicesTest, AnExecutorUnreachableForTheHeartbeatTimeoutIsDeclaredLost) {
  FakeExecutor* a = AddExecutor(1);
  std::string address = a->address();
  auto services = MakeServices(/*slot_wait=*/absl::Milliseconds(50));
  a->Shutdown();

  absl::Time start = absl::Now();
  auto result = RunOne(*services, PlainTask());

  // Tried again with backoff for the timeout (the partition may heal), then lost.
  EXPECT_GE(absl::Now() - start, kTimeout);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(
      result.status().message().rfind("task lost with executor exec-1 (" + address + "): ", 0), 0u)
      << result.status();
  EXPECT_FALSE(registry_.IsAlive(registry_.Find("exec-1")));
  EXPECT_TRUE(registry_.Alive().empty());
  // With no executor left, the next task finds no slot.
  auto next = RunOne(*services, PlainTask());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(next.status().message().rfind("no executor had a free task slot", 0), 0u)
      << next.status();
}

TEST_F(AppServicesTest, AnExecutorErrorStatusOtherThanUnavailableFailsTheTaskButKeepsIt) {
  AddExecutor(1, [](const proto::RunTaskRequest&, proto::RunTaskReply*) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong secret");
  });
  auto services = MakeServices();

  auto result = RunOne(*services, PlainTask());

  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(registry_.IsAlive(registry_.Find("exec-1")));
}

TEST_F(AppServicesTest, MapOutputLocationsGoIntoLaterReduceTasks) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  auto services = MakeServices();
  // Map 0 of shuffle 5 runs on exec-1, map 1 on exec-2 (its input block is there).
  proto::TaskSpec map1 = MapTask(5, 1);
  map1.mutable_root()->Clear();
  map1.mutable_root()->mutable_block()->add_locations(b->address());
  ASSERT_TRUE(RunOne(*services, MapTask(5, 0)).ok());
  ASSERT_TRUE(RunOne(*services, map1).ok());
  ASSERT_EQ(a->tasks().size(), 1u);
  ASSERT_EQ(b->tasks().size(), 1u);

  ASSERT_TRUE(RunOne(*services, ReduceTask(5, 3)).ok());

  ASSERT_EQ(a->tasks().size(), 2u);
  EXPECT_EQ(MapLocations(a->tasks()[1]),
            (std::vector<std::string>{a->address(), b->address(), ""}));  // map 2 never ran
}

TEST_F(AppServicesTest, MapOutputLocationsReachReducesNestedUnderNarrowAndStateInputs) {
  FakeExecutor* a = AddExecutor(1);
  auto services = MakeServices();
  ASSERT_TRUE(RunOne(*services, MapTask(2, 0)).ok());
  proto::TaskSpec reduce = StateTask(-1, /*seeded=*/true);
  *reduce.mutable_root()->mutable_state()->mutable_values() = ReduceTask(2, 1).root();
  proto::TaskSpec task = PlainTask();
  *task.mutable_root()->mutable_narrow()->add_inputs() = reduce.root();

  ASSERT_TRUE(RunOne(*services, task).ok());

  auto tasks = a->tasks();
  ASSERT_EQ(tasks.size(), 2u);
  const auto& ref =
      tasks[1].task().root().narrow().inputs(0).state().values().shuffle().shuffles(0);
  EXPECT_EQ(std::vector<std::string>(ref.map_locations().begin(), ref.map_locations().end()),
            (std::vector<std::string>{a->address()}));
}

TEST_F(AppServicesTest, AReleasedShuffleIsForgottenAndDroppedByTheNextCleanup) {
  FakeExecutor* a = AddExecutor(1);
  auto services = MakeServices();
  ASSERT_TRUE(RunOne(*services, MapTask(4, 0)).ok());

  services->ReleaseShuffle(4);
  ASSERT_TRUE(RunOne(*services, ReduceTask(4, 1)).ok());
  services->EndBatchCleanup("run-7");
  services->EndBatchCleanup("run-7");

  EXPECT_EQ(MapLocations(a->tasks()[1]), (std::vector<std::string>{""}));
  auto cleanups = a->cleanups();
  ASSERT_EQ(cleanups.size(), 2u);
  EXPECT_EQ(std::vector<int>(cleanups[0].shuffle_ids().begin(), cleanups[0].shuffle_ids().end()),
            (std::vector<int>{4}));
  EXPECT_EQ(cleanups[1].shuffle_ids_size(), 0);  // sent once
}

TEST_F(AppServicesTest, RemoveBlocksReachesEveryLiveExecutor) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(2);
  FakeExecutor* lost = AddExecutor(1);
  registry_.MarkLost("exec-3", "test");
  auto services = MakeServices();

  services->RemoveBlocks({"input-0-1", "input-0-2"});

  for (FakeExecutor* e : {a, b}) {
    auto removals = e->removals();
    ASSERT_EQ(removals.size(), 1u);
    EXPECT_EQ(
        std::vector<std::string>(removals[0].block_ids().begin(), removals[0].block_ids().end()),
        (std::vector<std::string>{"input-0-1", "input-0-2"}));
  }
  EXPECT_EQ(lost->removals().size(), 0u);
}

TEST_F(AppServicesTest, EndBatchCleanupReachesEveryLiveExecutor) {
  FakeExecutor* a = AddExecutor(1);
  FakeExecutor* b = AddExecutor(1);
  FakeExecutor* lost = AddExecutor(1);
  registry_.MarkLost("exec-3", "test");
  auto services = MakeServices();

  services->EndBatchCleanup("run-3", 1234);

  for (FakeExecutor* e : {a, b}) {
    auto cleanups = e->cleanups();
    ASSERT_EQ(cleanups.size(), 1u);
    EXPECT_EQ(cleanups[0].app_id(), kApp);
    EXPECT_TRUE(cleanups[0].clear_cache());
    EXPECT_FALSE(cleanups[0].app_ended());
    EXPECT_EQ(cleanups[0].state_run(), "run-3");
    EXPECT_EQ(cleanups[0].blocks_before_ms(), 1234);
  }
  EXPECT_EQ(lost->cleanups().size(), 0u);
}

TEST_F(AppServicesTest, TasksRunInParallelAndEachResultComesBackInItsPosition) {
  auto echo = [](const proto::RunTaskRequest& request, proto::RunTaskReply* reply) {
    reply->mutable_result()->set_result(std::to_string(request.task().partition()));
    return grpc::Status::OK;
  };
  AddExecutor(2, echo);
  AddExecutor(2, echo);
  auto services = MakeServices();
  std::vector<proto::TaskSpec> tasks;
  for (int p = 0; p < 6; ++p) tasks.push_back(PlainTask(p));

  auto results = services->RunTasks(tasks);

  ASSERT_EQ(results.size(), 6u);
  for (int p = 0; p < 6; ++p) {
    ASSERT_TRUE(results[p].ok()) << results[p].status();
    EXPECT_EQ(results[p]->result(), std::to_string(p));
  }
  EXPECT_EQ(fakes_[0]->tasks().size() + fakes_[1]->tasks().size(), 6u);
}

TEST_F(AppServicesTest, AStoppedContextsTaskWaitingForASlotGivesUpCancelled) {
  FakeExecutor* a = AddExecutor(1);
  ExecutorPtr taken = registry_.AcquireSlot({a->address()}, absl::Seconds(1), nullptr, true);
  auto services = MakeServices(/*slot_wait=*/absl::Seconds(60));

  services->StopContext();
  auto result = RunOne(*services, PlainTask());

  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  EXPECT_EQ(a->tasks().size(), 0u);
  registry_.ReleaseSlot(taken);
}

TEST_F(AppServicesTest, AReceiverIsStartedOnAnExecutorAndStoppedThere) {
  FakeExecutor* a = AddExecutor(1);
  auto services = MakeServices();
  proto::OpSpec factory;
  factory.set_key("socket-receiver");

  ASSERT_TRUE(services->StartReceivers({factory}, /*tracker=*/nullptr, ReceiverSettings()).ok());
  ASSERT_TRUE(WaitForCondition([&] { return a->receiver_starts().size() == 1; }));
  ASSERT_TRUE(WaitForCondition([&] { return registry_.Infos()[0].receivers() == 1; }));
  services->StopReceivers();

  auto start = a->receiver_starts()[0];
  EXPECT_EQ(start.app_id(), kApp);
  EXPECT_EQ(start.stream_id(), 0);
  EXPECT_EQ(start.factory().key(), "socket-receiver");
  EXPECT_EQ(start.block_interval_ms(), 200);
  EXPECT_EQ(start.replication(), 2);
  auto stops = a->receiver_stops();
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].stream_id(), 0);
  EXPECT_EQ(stops[0].incarnation(), start.incarnation());
  EXPECT_EQ(registry_.Infos()[0].receivers(), 0);
}

TEST_F(AppServicesTest, RateLimitsReachTheExecutorRunningTheReceiver) {
  FakeExecutor* a = AddExecutor(1);
  auto services = MakeServices();
  proto::OpSpec factory;
  factory.set_key("socket-receiver");
  ReceiverSettings settings;
  settings.max_rate = 5000;
  settings.initial_rate = 100;
  ASSERT_TRUE(services->StartReceivers({factory}, /*tracker=*/nullptr, settings).ok());
  ASSERT_TRUE(WaitForCondition([&] { return a->receiver_starts().size() == 1; }));
  auto start = a->receiver_starts()[0];
  EXPECT_EQ(start.max_rate(), 5000);
  EXPECT_EQ(start.rate(), 100);
  // Backpressure's estimate goes where the receiver runs, naming its run.
  // An update that races the placement is sent once the placement completes.
  services->UpdateReceiverRate(0, 2500);
  ASSERT_TRUE(WaitForCondition([&] { return a->rate_updates().size() == 1; }));
  EXPECT_EQ(a->rate_updates()[0].rate(), 2500);
  EXPECT_EQ(a->rate_updates()[0].incarnation(), start.incarnation());
  services->StopReceivers();
}

}  // namespace
}  // namespace internal
}  // namespace ember
