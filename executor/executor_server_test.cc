// The executor daemon against a fake driver, in this process: what it does with a plugin it
// fetches, before any task process could map it.

#include "executor/executor_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/cluster.grpc.pb.h"
#include "rpc/rpc.h"

namespace ember {
namespace internal {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A driver that registers the executor, answers (or fails) its heartbeats with the live
// applications a test sets, and serves the plugin bytes a test sets.
class FakeDriver final : public proto::Driver::Service {
 public:
  FakeDriver(int64_t interval_ms = 1000, int64_t timeout_ms = 10000)
      : interval_ms_(interval_ms), timeout_ms_(timeout_ms) {
    server_ = rpc::StartServer("127.0.0.1:0", {this}, {}, &port_);
  }
  ~FakeDriver() override { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void SetPlugin(std::string bytes) {
    absl::MutexLock lock(&mu_);
    plugin_ = std::move(bytes);
  }
  int fetches() {
    absl::MutexLock lock(&mu_);
    return fetches_;
  }
  void SetLiveApps(std::vector<std::string> apps) {
    absl::MutexLock lock(&mu_);
    live_apps_ = std::move(apps);
  }
  // While false, heartbeats fail as if the driver could not be reached.
  void SetAnswering(bool answering) {
    absl::MutexLock lock(&mu_);
    answering_ = answering;
  }
  std::vector<proto::HeartbeatRequest> heartbeats() {
    absl::MutexLock lock(&mu_);
    return heartbeats_;
  }
  int registrations() {
    absl::MutexLock lock(&mu_);
    return registrations_;
  }

  grpc::Status RegisterExecutor(grpc::ServerContext*, const proto::RegisterExecutorRequest*,
                                proto::RegisterExecutorReply* reply) override {
    absl::MutexLock lock(&mu_);
    reply->set_executor_id("exec-" + std::to_string(++registrations_));
    reply->set_heartbeat_interval_ms(interval_ms_);
    reply->set_heartbeat_timeout_ms(timeout_ms_);
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const proto::HeartbeatRequest* request,
                         proto::HeartbeatReply* reply) override {
    absl::MutexLock lock(&mu_);
    if (!answering_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "partitioned");
    heartbeats_.push_back(*request);
    if (request->fenced()) {
      reply->set_reregister(true);
      return grpc::Status::OK;
    }
    reply->set_live_apps_known(true);
    for (const auto& id : live_apps_) reply->add_live_apps(id);
    return grpc::Status::OK;
  }
  grpc::Status FetchPlugin(grpc::ServerContext*, const proto::FetchPluginRequest*,
                           proto::FetchPluginReply* reply) override {
    absl::MutexLock lock(&mu_);
    ++fetches_;
    reply->set_plugin(plugin_);
    return grpc::Status::OK;
  }

 private:
  const int64_t interval_ms_, timeout_ms_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::string plugin_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> live_apps_ ABSL_GUARDED_BY(mu_);
  bool answering_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<proto::HeartbeatRequest> heartbeats_ ABSL_GUARDED_BY(mu_);
  int registrations_ ABSL_GUARDED_BY(mu_) = 0;
};

// An executor daemon serving on 127.0.0.1, for one test.
struct RunningExecutor {
  RunningExecutor(const FakeDriver& driver, const std::string& name) {
    ExecutorServer::Options o;
    o.driver = driver.address();
    o.data_dir = ::testing::TempDir() + "/" + name;
    o.slots = 2;
    o.program = "/nonexistent/ember-executor";
    auto created = ExecutorServer::Create(o);
    EXPECT_TRUE(created.ok()) << created.status();
    server = std::move(*created);
    int port = 0;
    grpc_server =
        rpc::StartServer("127.0.0.1:0", {server.get()}, {"", rpc::kMaxMessageBytes}, &port);
    EXPECT_NE(grpc_server, nullptr);
    address = "127.0.0.1:" + std::to_string(port);
    server->Start(address);
    stub = proto::Executor::NewStub(rpc::MakeChannel(address));
  }
  ~RunningExecutor() {
    server->Shutdown();
    grpc_server->Shutdown(std::chrono::system_clock::now());
  }
  bool Put(const std::string& id) {
    proto::PutBlockRequest request;
    request.set_block_id(id);
    request.set_data("bytes of " + id);
    proto::PutBlockReply reply;
    grpc::ClientContext call;
    return stub->PutBlock(&call, request, &reply).ok();
  }
  bool Has(const std::string& id) {
    proto::GetBlockRequest request;
    request.set_block_id(id);
    proto::GetBlockReply reply;
    grpc::ClientContext call;
    return stub->GetBlock(&call, request, &reply).ok() && reply.found();
  }

  std::unique_ptr<ExecutorServer> server;
  std::unique_ptr<grpc::Server> grpc_server;
  std::string address;
  std::unique_ptr<proto::Executor::Stub> stub;
};

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(ExecutorServerTest, ADamagedPluginIsRefusedBeforeAnyProcessMapsIt) {
  FakeDriver driver;
  ExecutorServer::Options o;
  o.driver = driver.address();
  o.data_dir = ::testing::TempDir() + "/executor-damaged";
  o.slots = 2;
  // No program to start: a task process would fail to start, and the test would see that
  // error instead of the check's.
  o.program = "/nonexistent/ember-executor";
  auto server = ExecutorServer::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  int port = 0;
  auto grpc_server =
      rpc::StartServer("127.0.0.1:0", {server->get()}, {o.secret, rpc::kMaxMessageBytes}, &port);
  ASSERT_NE(grpc_server, nullptr);
  (*server)->Start("127.0.0.1:" + std::to_string(port));
  auto stub = proto::Executor::NewStub(rpc::MakeChannel("127.0.0.1:" + std::to_string(port)));

  const std::string plugin = ReadFile("tests/jobs/libshuffle_sum.so");
  ASSERT_GT(plugin.size(), 4096u);
  int n = 0;
  for (const std::string& damaged :
       {plugin.substr(0, 40), plugin.substr(0, 200), plugin.substr(0, plugin.size() / 2),
        plugin.substr(0, plugin.size() - 1), std::string("this is not an ELF file")}) {
    driver.SetPlugin(damaged);
    proto::RunTaskRequest request;
    request.set_app_id("app-" + std::to_string(++n));
    request.mutable_task()->mutable_root()->mutable_block()->set_block_id("b");
    proto::RunTaskReply reply;
    grpc::ClientContext call;
    grpc::Status s = stub->RunTask(&call, request, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(reply.error_code(), static_cast<int>(absl::StatusCode::kInvalidArgument))
        << reply.error();
    EXPECT_NE(reply.error().find("the plugin of " + request.app_id()), std::string::npos)
        << reply.error();
  }
  EXPECT_EQ(driver.fetches(), n);
  // Nothing was written for a task process to load, and the executor still serves.
  EXPECT_TRUE(std::filesystem::is_empty(o.data_dir + "/plugins"));
  proto::GetBlockRequest get;
  get.set_block_id("none");
  proto::GetBlockReply got;
  grpc::ClientContext call;
  EXPECT_TRUE(stub->GetBlock(&call, get, &got).ok());
  EXPECT_FALSE(got.found());
  (*server)->Shutdown();
  grpc_server->Shutdown(std::chrono::system_clock::now());
}

// Blocks of applications the driver no longer runs (their end unheard, in a partition say) go
// at the next heartbeat and are counted; those of running applications stay.
TEST(ExecutorServerTest, BlocksOfApplicationsTheDriverNoLongerRunsAreRemoved) {
  FakeDriver driver(/*interval_ms=*/50);
  driver.SetLiveApps({"app-a", "app-b"});
  RunningExecutor e(driver, "executor-orphans");
  ASSERT_TRUE(Eventually([&] { return !driver.heartbeats().empty(); }, absl::Seconds(10)));
  for (const char* id : {"app-a/1/input-0-100", "app-b/1/input-0-100", "app-b/2/input-0-200"}) {
    ASSERT_TRUE(e.Put(id)) << id;
  }
  ASSERT_TRUE(
      Eventually([&] { return driver.heartbeats().back().blocks() == 3; }, absl::Seconds(10)));
  EXPECT_TRUE(e.Has("app-b/1/input-0-100"));

  driver.SetLiveApps({"app-a"});
  ASSERT_TRUE(Eventually([&] { return !e.Has("app-b/1/input-0-100"); }, absl::Seconds(10)));
  EXPECT_FALSE(e.Has("app-b/2/input-0-200"));
  EXPECT_TRUE(e.Has("app-a/1/input-0-100"));
  ASSERT_TRUE(Eventually(
      [&] {
        auto last = driver.heartbeats().back();
        return last.blocks() == 1 && last.orphan_blocks_removed() == 2;
      },
      absl::Seconds(10)));
}

// A batch's cleanup says which blocks no batch needs: the application's blocks received
// before then and older than twice the heartbeat timeout go (replicas of blocks the driver
// never heard of), counted as orphans; younger ones (a report may still be on its way) and
// other applications' stay.
TEST(ExecutorServerTest, ACleanupRemovesOldBlocksTheDriverNeverHeardOf) {
  FakeDriver driver(/*interval_ms=*/50, /*timeout_ms=*/1000);
  driver.SetLiveApps({"app-a", "app-b"});
  RunningExecutor e(driver, "executor-old-blocks");
  ASSERT_TRUE(Eventually([&] { return !driver.heartbeats().empty(); }, absl::Seconds(10)));
  int64_t now = absl::ToUnixMillis(absl::Now());
  std::string old_block = "app-a/1/input-0-1000", reliable = "app-a/1/input-0-2000-r1",
              young = "app-a/1/input-0-" + std::to_string(now), other = "app-b/1/input-0-1000";
  for (const auto& id : {old_block, reliable, young, other}) ASSERT_TRUE(e.Put(id)) << id;

  proto::CleanupRequest request;
  request.set_app_id("app-a");
  request.set_blocks_before_ms(now + 1000);
  proto::CleanupReply reply;
  grpc::ClientContext call;
  ASSERT_TRUE(e.stub->Cleanup(&call, request, &reply).ok());

  EXPECT_FALSE(e.Has(old_block));
  EXPECT_FALSE(e.Has(reliable));
  EXPECT_TRUE(e.Has(young));
  EXPECT_TRUE(e.Has(other));
  ASSERT_TRUE(Eventually([&] { return driver.heartbeats().back().orphan_blocks_removed() == 2; },
                         absl::Seconds(10)));
}

// An executor that reaches no driver for (almost) the heartbeat timeout fences itself: its
// next heartbeat says so and it registers again. A shorter silence changes nothing.
TEST(ExecutorServerTest, AnExecutorCutOffForTheHeartbeatTimeoutFencesItselfAndRegistersAgain) {
  constexpr int64_t kInterval = 100, kTimeout = 1500;
  FakeDriver driver(kInterval, kTimeout);
  RunningExecutor e(driver, "executor-fence");
  ASSERT_TRUE(Eventually([&] { return !driver.heartbeats().empty(); }, absl::Seconds(10)));
  EXPECT_EQ(e.server->executor_id(), "exec-1");

  // Half the timeout: heartbeats resume unfenced, under the same id.
  driver.SetAnswering(false);
  absl::SleepFor(absl::Milliseconds(kTimeout / 2));
  size_t before = driver.heartbeats().size();
  driver.SetAnswering(true);
  ASSERT_TRUE(Eventually([&] { return driver.heartbeats().size() > before; }, absl::Seconds(10)));
  EXPECT_FALSE(driver.heartbeats()[before].fenced());
  EXPECT_EQ(driver.registrations(), 1);

  // Longer than the timeout: fenced, which the first answered heartbeat says; then a new id.
  driver.SetAnswering(false);
  absl::SleepFor(absl::Milliseconds(kTimeout + 500));
  before = driver.heartbeats().size();
  driver.SetAnswering(true);
  ASSERT_TRUE(Eventually([&] { return driver.heartbeats().size() > before; }, absl::Seconds(10)));
  EXPECT_TRUE(driver.heartbeats()[before].fenced());
  ASSERT_TRUE(Eventually([&] { return e.server->executor_id() == "exec-2"; }, absl::Seconds(10)));
  EXPECT_EQ(driver.registrations(), 2);
}

}  // namespace
}  // namespace internal
}  // namespace ember
