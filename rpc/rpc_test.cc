// The rpc helpers: bounded error messages, TLS flags and settings, and the servers' checks of
// the secret (from the call's metadata, before the request is read) and of the request size.

#include "rpc/rpc.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "proto/isolation.grpc.pb.h"

namespace ember {
namespace rpc {
namespace {

TEST(RpcTest, ErrorMessagesAreBounded) {
  std::string id(2 << 20, 'x');  // a hostile client's 2 MB id
  grpc::Status s = ToGrpc(absl::NotFoundError("no application " + id));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(s.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_EQ(s.error_message().rfind("no application xxx", 0), 0u);
  EXPECT_NE(s.error_message().find("(2097167 bytes in all)"), std::string::npos);
  EXPECT_EQ(ToGrpc(absl::InternalError("short")).error_message(), "short");
  std::string cut = BoundedMessage(id, 64 << 10);  // a report's longer bound
  EXPECT_LE(cut.size(), size_t{64} << 10);
  EXPECT_NE(cut.find("(2097152 bytes in all)"), std::string::npos) << cut.substr(cut.size() - 40);
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
}

TEST(RpcTest, TlsFlagsAndKeys) {
  EXPECT_STREQ(TlsFlagKey("--tls-cert"), "ember.tls.cert");
  EXPECT_STREQ(TlsFlagKey("--tls-server-name"), "ember.tls.serverName");
  EXPECT_EQ(TlsFlagKey("--tls"), nullptr);
  TlsOptions o = TlsOptionsFrom([](const std::string& k) {
    return k == "ember.tls.ca" ? std::string("ca.pem") : std::string();
  });
  EXPECT_EQ(o.ca_file, "ca.pem");
  EXPECT_TRUE(o.enabled());
  EXPECT_FALSE(TlsOptions{}.enabled());
}

TEST(RpcTest, BadTlsFilesAreNamed) {
  std::string dir = ::testing::TempDir();
  absl::Status half = ConfigureTls({dir + "/a.pem", "", "", ""});
  EXPECT_NE(half.message().find("certificate and its key together"), std::string::npos);
  absl::Status missing = ConfigureTls({"", "", dir + "/no-such-ca.pem", ""});
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("no-such-ca.pem"), std::string::npos) << missing;
  std::ofstream(dir + "/junk.pem") << "junk";
  absl::Status junk = ConfigureTls({"", "", dir + "/junk.pem", ""});
  EXPECT_NE(junk.message().find("is not PEM"), std::string::npos) << junk;
  EXPECT_FALSE(ConfiguredTls().enabled());  // nothing was turned on by the failures
}

// A daemon's local service with no method of its own: a call that passes the server's checks
// reaches the service and gets UNIMPLEMENTED.
class EmptyLocalService final : public proto::ExecutorLocal::Service {};

grpc::Status CallStoreBlock(const std::string& address, const std::string& secret,
                            size_t padding = 0) {
  auto stub = proto::ExecutorLocal::NewStub(MakeChannel(address));
  grpc::ClientContext context;
  AddSecret(&context, secret);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  proto::StoreBlockRequest request;
  request.set_data(std::string(padding, 'x'));
  proto::StoreBlockReply reply;
  return stub->StoreBlock(&context, request, &reply);
}

TEST(RpcTest, ServersRefuseCallsWithoutTheTokenFromTheirMetadata) {
  EmptyLocalService service;
  std::string address = NewLocalAddress("rpc-test");  // as a daemon's child serves
  std::string token = NewToken();
  auto server = StartServer(address, {&service}, {token, kMaxRequestBytes});
  ASSERT_NE(server, nullptr);
  grpc::Status none = CallStoreBlock(address, "");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_NE(none.error_message().find("requires a secret"), std::string::npos);
  grpc::Status wrong = CallStoreBlock(address, NewToken());
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  EXPECT_EQ(wrong.error_message(), "wrong cluster secret");
  // A token of the right length differing in its last character.
  std::string near = token;
  near.back() = near.back() == '0' ? '1' : '0';
  EXPECT_EQ(CallStoreBlock(address, near).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallStoreBlock(address, token).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  server->Shutdown();
}

TEST(RpcTest, ServersWithoutASecretTakeEveryCallAndBoundRequests) {
  EmptyLocalService service;
  int port = 0;
  auto server = StartServer("127.0.0.1:0", {&service}, {"", 1 << 20}, &port);
  ASSERT_NE(server, nullptr);
  std::string address = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(CallStoreBlock(address, "").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  grpc::Status big = CallStoreBlock(address, "", 2 << 20);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
  EXPECT_NE(big.error_message().find(std::to_string(1 << 20)), std::string::npos)
      << big.error_message();
  server->Shutdown();
}

}  // namespace
}  // namespace rpc
}  // namespace ember
