// JobRegistry in-process with real plugins built in the tree (tests/jobs/libshuffle_sum.so).
// Jobs that must run tasks get one executor: a FakeExecutor whose RunTask runs the task with
// the real task runner against in-process stores, its operators from the application's plugin
// loaded as an executor loads it (the bytes the registry keeps). The other cases need no task:
// a job that fails at once, a job killed while its tasks wait for a slot, refusals.

#include "driver/job_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "driver/executor_registry.h"
#include "driver/fake_executor.h"
#include "runtime/block_store.h"
#include "runtime/plugin_loader.h"
#include "runtime/task_runner.h"
#include "tests/wait.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {
namespace {

using ::ember::testing::FakeExecutor;
using ::ember::testing::WaitForCondition;

constexpr char kShuffleSum[] = "tests/jobs/libshuffle_sum.so";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// What libshuffle_sum.so prints for a batch of the numbers [0, n) (see tests/jobs/shuffle_sum.cc).
std::string ShuffleSumLine(int64_t n) {
  std::map<int64_t, int64_t> groups;
  for (int64_t x = 0; x < n; ++x) groups[(x % 101) % 7] += x;
  int64_t total = 0, digest = 0;
  for (const auto& [g, s] : groups) {
    total += s;
    digest = (digest + (g + 1) * (s % 1000000007)) % 1000000007;
  }
  return "result total=" + std::to_string(total) + " groups=" + std::to_string(groups.size()) +
         " digest=" + std::to_string(digest) + "\n";
}

// Runs tasks as an executor does, in this process: one executor, so every map output is local.
class TaskRunner {
 public:
  TaskRunner(JobRegistry* jobs, std::string dir) : jobs_(jobs), dir_(std::move(dir)) {}

  grpc::Status Run(const proto::RunTaskRequest& request, proto::RunTaskReply* reply) {
    auto ops = Resolver(request.app_id());
    if (!ops.ok()) return Fail(ops.status(), reply);
    TaskEnv env;
    env.ops = *ops;
    env.blocks = &blocks_;
    env.shuffles = &shuffles_;
    env.cache = &cache_;
    env.states = &states_;
    auto result = RunTask(request.task(), env);
    if (!result.ok()) return Fail(result.status(), reply);
    *reply->mutable_result() = std::move(*result);
    return grpc::Status::OK;
  }

 private:
  static grpc::Status Fail(const absl::Status& s, proto::RunTaskReply* reply) {
    reply->set_error_code(static_cast<int>(s.code()));
    reply->set_error(std::string(s.message()));
    return grpc::Status::OK;
  }

  // The application's plugin, fetched from the registry and loaded from a file of its own.
  absl::StatusOr<const OpResolver*> Resolver(const std::string& app_id) {
    absl::MutexLock lock(&mu_);
    if (resolver_ == nullptr) {
      proto::FetchPluginReply fetched;
      absl::Status s = jobs_->FillPlugin(app_id, &fetched);
      if (!s.ok()) return s;
      std::string path = dir_ + "/executor-" + app_id + ".so";
      std::ofstream(path, std::ios::binary) << fetched.plugin();
      auto plugin = LoadPlugin(path);
      if (!plugin.ok()) return plugin.status();
      plugin_ = std::move(*plugin);
      resolver_ = std::make_unique<OpResolver>(plugin_->registry());
    }
    return resolver_.get();
  }

  JobRegistry* const jobs_;
  const std::string dir_;
  absl::Mutex mu_;
  std::shared_ptr<LoadedPlugin> plugin_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<OpResolver> resolver_ ABSL_GUARDED_BY(mu_);
  MemoryBlockStore blocks_;
  ShuffleStore shuffles_;
  PartitionCache cache_;
  StateStore states_;
};

class JobRegistryTest : public ::testing::Test {
 protected:
  JobRegistryTest()
      : work_dir_(::testing::TempDir() + "/" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name()),
        executors_(testing::NoHeartbeatTimeout()) {
    std::filesystem::remove_all(work_dir_);
    std::filesystem::create_directories(work_dir_);
    JobRegistry::Options o;
    o.work_dir = work_dir_;
    o.executors = &executors_;
    // The entry point on a thread of this test (the cluster tests run application processes).
    o.isolation = JobRegistry::Isolation::kThread;
    jobs_ = std::make_unique<JobRegistry>(std::move(o));
    jobs_->SetDriverUrl("ember://127.0.0.1:7077");
  }

  ~JobRegistryTest() override {
    // Every job has ended before the registry goes (it would detach a running job's thread).
    jobs_.reset();
  }

  // One executor with two slots that runs the tasks for real.
  void AddRealExecutor() {
    runner_ = std::make_unique<TaskRunner>(jobs_.get(), work_dir_);
    executor_ = std::make_unique<FakeExecutor>(
        [this](const proto::RunTaskRequest& request, proto::RunTaskReply* reply) {
          return runner_->Run(request, reply);
        });
    ASSERT_FALSE(executor_->address().empty());
    executors_.Register(executor_->address(), 2);
  }

  // libshuffle_sum.so: one batch of the numbers [0, n), 100 ms batches, running for an hour
  // unless killed.
  proto::SubmitJobRequest ShuffleSum(std::vector<std::string> args = {"1", "1000", "100",
                                                                      "3600000"}) {
    proto::SubmitJobRequest request;
    request.set_name("sums");
    request.set_plugin(ReadFile(kShuffleSum));
    request.set_plugin_name("libshuffle_sum.so");
    for (auto& a : args) request.add_args(std::move(a));
    return request;
  }

  proto::AppInfo Info(const std::string& app_id) {
    proto::StatusReply reply;
    absl::Status s = jobs_->Status(app_id, &reply);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(reply.apps_size(), 1);
    return reply.apps_size() == 1 ? reply.apps(0) : proto::AppInfo();
  }

  bool WaitUntilEnded(const std::string& app_id) {
    return WaitForCondition([&] { return Info(app_id).state() != proto::APP_RUNNING; });
  }

  // The job's output from `offset`, without following.
  std::string OutputFrom(const std::string& app_id, int64_t offset) {
    std::string out;
    absl::Status s = jobs_->Watch(
        app_id, offset, /*follow=*/false,
        [&out](const proto::JobEvent& e) {
          out += e.output();
          return true;
        },
        nullptr);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  std::vector<std::string> AppDirs() {
    std::vector<std::string> dirs;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(work_dir_ + "/apps", ec)) {
      dirs.push_back(e.path().filename().string());
    }
    return dirs;
  }

  const std::string work_dir_;
  // Declared before the registry of jobs: a job's last calls reach the executor.
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<FakeExecutor> executor_;
  ExecutorRegistry executors_;
  std::unique_ptr<JobRegistry> jobs_;
};

TEST_F(JobRegistryTest, ASubmittedJobRunsOnTheExecutorsAndItsOutputIsKept) {
  AddRealExecutor();

  auto id = jobs_->Submit(ShuffleSum());

  ASSERT_TRUE(id.ok()) << id.status();
  const std::string expected = ShuffleSumLine(1000);
  EXPECT_EQ(expected, "result total=499500 groups=7 digest=1974748\n");
  ASSERT_TRUE(WaitForCondition([&] { return OutputFrom(*id, 0) == expected; }))
      << OutputFrom(*id, 0);
  proto::AppInfo info = Info(*id);
  EXPECT_EQ(info.state(), proto::APP_RUNNING);
  EXPECT_EQ(info.name(), "sums");
  EXPECT_EQ(info.batch_interval_ms(), 100);
  EXPECT_GT(executor_->tasks().size(), 0u);
  EXPECT_EQ(executor_->tasks()[0].app_id(), *id);

  auto killed = jobs_->Kill(*id);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, proto::APP_KILLED);
  EXPECT_EQ(OutputFrom(*id, 0), expected);  // kept after the end
  // The application's state on the executor went with it.
  auto cleanups = executor_->cleanups();
  ASSERT_FALSE(cleanups.empty());
  EXPECT_TRUE(cleanups.back().app_ended());
  EXPECT_EQ(cleanups.back().app_id(), *id);
}

TEST_F(JobRegistryTest, OutputIsWatchedFromAnOffsetAndEndsWithTheFinalState) {
  AddRealExecutor();
  auto id = jobs_->Submit(ShuffleSum());
  ASSERT_TRUE(id.ok()) << id.status();
  const std::string expected = ShuffleSumLine(1000);
  ASSERT_TRUE(WaitForCondition([&] { return OutputFrom(*id, 0) == expected; }));

  EXPECT_EQ(OutputFrom(*id, 7), expected.substr(7));
  EXPECT_EQ(OutputFrom(*id, static_cast<int64_t>(expected.size())), "");
  std::vector<proto::JobEvent> running;
  ASSERT_TRUE(jobs_
                  ->Watch(
                      *id, static_cast<int64_t>(expected.size()), /*follow=*/false,
                      [&](const proto::JobEvent& e) {
                        running.push_back(e);
                        return true;
                      },
                      nullptr)
                  .ok());
  EXPECT_TRUE(running.empty());  // nothing new, not ended: no event
  EXPECT_EQ(jobs_
                ->Watch(
                    *id, -1, false, [](const proto::JobEvent&) { return true; }, nullptr)
                .code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_EQ(*jobs_->Kill(*id), proto::APP_KILLED);
  std::vector<proto::JobEvent> events;
  ASSERT_TRUE(jobs_
                  ->Watch(
                      *id, 7, /*follow=*/true,
                      [&](const proto::JobEvent& e) {
                        events.push_back(e);
                        return true;
                      },
                      nullptr)
                  .ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].output(), expected.substr(7));
  EXPECT_TRUE(events[0].finished());
  EXPECT_EQ(events[0].state(), proto::APP_KILLED);
}

TEST_F(JobRegistryTest, AJobWhoseEntryPointThrowsFailsWithItsMessage) {
  auto id = jobs_->Submit(ShuffleSum({"too", "few"}));

  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitUntilEnded(*id));
  proto::AppInfo info = Info(*id);
  EXPECT_EQ(info.state(), proto::APP_FAILED);
  EXPECT_EQ(info.error(), "usage: libshuffle_sum.so BATCHES N BATCH_MS RUN_MS");
  EXPECT_GT(info.ended_ms(), 0);
  EXPECT_EQ(ReadFile(work_dir_ + "/apps/" + *id + "/ended"), "FAILED\n");
  // Killing an application that has ended returns its end state.
  auto killed = jobs_->Kill(*id);
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*killed, proto::APP_FAILED);
}

TEST_F(JobRegistryTest, TheSubmissionAndThePluginAreKeptInTheWorkDirectory) {
  proto::SubmitJobRequest request = ShuffleSum({"too", "few"});
  (*request.mutable_conf())["ember.test.key"] = "value";

  auto id = jobs_->Submit(request);

  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->rfind("app-", 0), 0u) << *id;
  EXPECT_EQ(AppDirs(), std::vector<std::string>{*id});
  std::string dir = work_dir_ + "/apps/" + *id;
  proto::SubmitJobRequest kept;
  ASSERT_TRUE(kept.ParseFromString(ReadFile(dir + "/submission.pb")));
  EXPECT_EQ(kept.name(), "sums");
  EXPECT_EQ(kept.plugin_name(), "libshuffle_sum.so");
  EXPECT_EQ(kept.plugin(), request.plugin());
  EXPECT_EQ(std::vector<std::string>(kept.args().begin(), kept.args().end()),
            (std::vector<std::string>{"too", "few"}));
  ASSERT_EQ(kept.conf().size(), 1u);
  EXPECT_EQ(kept.conf().at("ember.test.key"), "value");
  EXPECT_EQ(ReadFile(dir + "/libshuffle_sum.so"), request.plugin());
  proto::FetchPluginReply fetched;
  ASSERT_TRUE(jobs_->FillPlugin(*id, &fetched).ok());
  EXPECT_EQ(fetched.plugin(), request.plugin());
  ASSERT_TRUE(WaitUntilEnded(*id));
}

TEST_F(JobRegistryTest, ADamagedPluginIsRefusedWithInvalidArgumentBeforeAnythingIsWritten) {
  proto::SubmitJobRequest request = ShuffleSum();
  request.set_plugin(request.plugin().substr(0, request.plugin().size() / 2));

  auto id = jobs_->Submit(request);

  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
  EXPECT_NE(id.status().message().find("libshuffle_sum.so"), std::string::npos) << id.status();
  EXPECT_TRUE(AppDirs().empty());
  proto::StatusReply reply;
  ASSERT_TRUE(jobs_->Status("", &reply).ok());
  EXPECT_EQ(reply.apps_size(), 0);
}

TEST_F(JobRegistryTest, APluginNameLongerThanAFileNameIsShortenedForItsFile) {
  // A file name has 255 bytes at most: the driver's copy of the plugin gets a shorter one.
  proto::SubmitJobRequest request = ShuffleSum();
  request.set_plugin_name(std::string(300, 'x') + ".so");
  auto id = jobs_->Submit(request);
  ASSERT_TRUE(id.ok()) << id.status();
  std::vector<std::string> plugins;
  for (const auto& e : std::filesystem::directory_iterator(work_dir_ + "/apps/" + *id)) {
    std::string name = e.path().filename().string();
    if (name.size() > 3 && name.substr(name.size() - 3) == ".so") plugins.push_back(name);
  }
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0], std::string(97, 'x') + ".so");
  EXPECT_EQ(*jobs_->Kill(*id), proto::APP_KILLED);
}

TEST_F(JobRegistryTest, SomethingThatIsNotAPluginIsRefusedWithInvalidArgument) {
  proto::SubmitJobRequest request = ShuffleSum();
  request.set_plugin("#!/bin/sh\necho not a plugin\n");
  EXPECT_EQ(jobs_->Submit(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_plugin("");
  EXPECT_EQ(jobs_->Submit(request).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(AppDirs().empty());
}

TEST_F(JobRegistryTest, AJobKilledRightAfterItsSubmissionEndsKilledForGood) {
  // No executor; the kill may land before, while or after the job builds its context.
  auto id = jobs_->Submit(ShuffleSum());
  ASSERT_TRUE(id.ok()) << id.status();

  auto killed = jobs_->Kill(*id);

  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, proto::APP_KILLED);
  proto::AppInfo info = Info(*id);
  EXPECT_EQ(info.state(), proto::APP_KILLED);
  EXPECT_GT(info.ended_ms(), 0);
  EXPECT_EQ(ReadFile(work_dir_ + "/apps/" + *id + "/ended"), "KILLED\n");
  EXPECT_EQ(OutputFrom(*id, 0), "");
  // A second kill answers the end state.
  EXPECT_EQ(*jobs_->Kill(*id), proto::APP_KILLED);
}

TEST_F(JobRegistryTest, AnUnknownApplicationIsNotFound) {
  proto::StatusReply reply;
  EXPECT_EQ(jobs_->Status("app-none", &reply).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Kill("app-none").status().code(), absl::StatusCode::kNotFound);
  proto::FetchPluginReply fetched;
  EXPECT_EQ(jobs_->FillPlugin("app-none", &fetched).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_
                ->Watch(
                    "app-none", 0, false, [](const proto::JobEvent&) { return true; }, nullptr)
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(reply.apps_size(), 0);
}

TEST_F(JobRegistryTest, StatusOfTheClusterListsEveryApplicationAndExecutor) {
  AddRealExecutor();
  auto first = jobs_->Submit(ShuffleSum({"too", "few"}));
  auto second = jobs_->Submit(ShuffleSum({"too", "few"}));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(WaitUntilEnded(*first));
  ASSERT_TRUE(WaitUntilEnded(*second));

  proto::StatusReply reply;
  ASSERT_TRUE(jobs_->Status("", &reply).ok());

  ASSERT_EQ(reply.apps_size(), 2);
  EXPECT_NE(*first, *second);
  EXPECT_EQ(reply.apps(0).app_id(), std::min(*first, *second));
  EXPECT_EQ(reply.apps(1).app_id(), std::max(*first, *second));
  ASSERT_EQ(reply.executors_size(), 1);
  EXPECT_EQ(reply.executors(0).address(), executor_->address());
}

TEST_F(JobRegistryTest, RecoveryStartsAgainOnlyTheKeptApplicationsThatHadNotEnded) {
  // A work directory as an earlier run of the driver left it. (Not made by Submit: this
  // process keeps every plugin it loaded mapped, and recovery writes the plugin again at the
  // same path.)
  auto keep = [&](const std::string& id, bool ended) {
    std::string dir = work_dir_ + "/apps/" + id;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/submission.pb", std::ios::binary)
        << ShuffleSum({"too", "few"}).SerializeAsString();
    if (ended) std::ofstream(dir + "/ended") << "KILLED\n";
  };
  keep("app-20250101000000-0001", /*ended=*/true);
  keep("app-20250101000000-0002", /*ended=*/false);
  // No kept submission: nothing to start.
  std::filesystem::create_directories(work_dir_ + "/apps/app-20250101000000-0003");

  std::vector<std::string> recovered = jobs_->RecoverAll();

  EXPECT_EQ(recovered, std::vector<std::string>{"app-20250101000000-0002"});
  // Its entry point ran again (and failed on its arguments, as it first did).
  ASSERT_TRUE(WaitUntilEnded("app-20250101000000-0002"));
  proto::AppInfo info = Info("app-20250101000000-0002");
  EXPECT_EQ(info.state(), proto::APP_FAILED);
  EXPECT_EQ(info.name(), "sums");
  EXPECT_EQ(ReadFile(work_dir_ + "/apps/app-20250101000000-0002/ended"), "FAILED\n");
  proto::StatusReply reply;
  EXPECT_EQ(jobs_->Status("app-20250101000000-0001", &reply).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Status("app-20250101000000-0003", &reply).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace internal
}  // namespace ember
