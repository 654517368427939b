// Fault injection (rpc/chaos.h) against a server in this process: a dropped request never
// reaches the handler, a dropped reply does, and both end as UNAVAILABLE; methods without a
// rate pass. The variable is set before main, as a test's child processes inherit it.

#include "rpc/chaos.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <string>

#include "proto/isolation.grpc.pb.h"
#include "rpc/rpc.h"

namespace ember {
namespace rpc {
namespace {

const bool kChaosSet = setenv(kChaosVariable, "StoreBlock=1:0,ExecutorId=0:1", 1) == 0;

class CountingService final : public proto::ExecutorLocal::Service {
 public:
  grpc::Status StoreBlock(grpc::ServerContext*, const proto::StoreBlockRequest*,
                          proto::StoreBlockReply*) override {
    ++stores;
    return grpc::Status::OK;
  }
  grpc::Status GetBlock(grpc::ServerContext*, const proto::GetBlockRequest*,
                        proto::GetBlockReply*) override {
    ++gets;
    return grpc::Status::OK;
  }
  grpc::Status ExecutorId(grpc::ServerContext*, const proto::ExecutorIdRequest*,
                          proto::ExecutorIdReply*) override {
    ++ids;
    return grpc::Status::OK;
  }
  std::atomic<int> stores{0}, gets{0}, ids{0};
};

TEST(ChaosTest, DroppedRequestsAndRepliesEndUnavailable) {
  ASSERT_TRUE(kChaosSet);
  ASSERT_TRUE(ChaosEnabled());
  CountingService service;
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, {"", kMaxRequestBytes}, &port);
  ASSERT_NE(server, nullptr);
  auto stub = proto::ExecutorLocal::NewStub(MakeChannel("127.0.0.1:" + std::to_string(port)));
  auto call = [](auto method) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return method(&context);
  };

  grpc::Status stored = call([&](grpc::ClientContext* c) {
    proto::StoreBlockReply reply;
    return stub->StoreBlock(c, proto::StoreBlockRequest(), &reply);
  });
  EXPECT_EQ(stored.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(stored.error_message(), "rpc chaos: the request was dropped");
  EXPECT_EQ(service.stores.load(), 0);  // never reached the handler

  grpc::Status id = call([&](grpc::ClientContext* c) {
    proto::ExecutorIdReply reply;
    return stub->ExecutorId(c, proto::ExecutorIdRequest(), &reply);
  });
  EXPECT_EQ(id.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(id.error_message(), "rpc chaos: the reply of ExecutorId was dropped");
  EXPECT_EQ(service.ids.load(), 1);  // served, then lost on the way back

  grpc::Status got = call([&](grpc::ClientContext* c) {
    proto::GetBlockReply reply;
    return stub->GetBlock(c, proto::GetBlockRequest(), &reply);
  });
  EXPECT_TRUE(got.ok()) << got.error_message();
  EXPECT_EQ(service.gets.load(), 1);
  server->Shutdown();
}

TEST(ChaosTest, MalformedSpecsAreNamed) {
  auto ok = ParseChaos("*=0.02:0.5, RunTask=1:0");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_DOUBLE_EQ(ok->at("*").reply, 0.5);
  EXPECT_DOUBLE_EQ(ok->at("RunTask").request, 1);
  for (const char* bad : {"", "RunTask", "RunTask=0.1", "RunTask=2:0", "=0:0", "X=a:b"}) {
    auto parsed = ParseChaos(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_NE(std::string(ParseChaos("RunTask=2:0").status().message()).find("'RunTask=2:0'"),
            std::string::npos);
}

}  // namespace
}  // namespace rpc
}  // namespace ember
