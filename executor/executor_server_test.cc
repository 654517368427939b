// The executor daemon against a fake driver, in this process: what it does with a plugin it
// fetches, before any task process could map it.

#include "executor/executor_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

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

// A driver that registers the executor and serves the plugin bytes a test sets.
class FakeDriver final : public proto::Driver::Service {
 public:
  FakeDriver() { server_ = rpc::StartServer("127.0.0.1:0", {this}, &port_); }
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

  grpc::Status RegisterExecutor(grpc::ServerContext*, const proto::RegisterExecutorRequest*,
                                proto::RegisterExecutorReply* reply) override {
    reply->set_executor_id("exec-1");
    reply->set_heartbeat_interval_ms(1000);
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const proto::HeartbeatRequest*,
                         proto::HeartbeatReply*) override {
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
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::string plugin_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

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
  auto grpc_server = rpc::StartServer("127.0.0.1:0", {server->get()}, &port);
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

}  // namespace
}  // namespace internal
}  // namespace ember
