// Hostile clients against real daemons (issue 19): requests without the cluster secret are
// refused from their headers, before the daemon reads their 250 MB bodies, so four at once
// leave its memory where it was; an authenticated request over its method's limit is refused
// with a message naming the limit; and the daemon serves its honest clients afterwards.

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "rpc/rpc.h"
#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

constexpr size_t kHostileBytes = 250u << 20;

// The peak resident memory of process `pid` (VmHWM), in bytes; -1 when unreadable.
int64_t PeakResidentBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

std::string WriteSecret(const std::string& dir, const std::string& name,
                        const std::string& secret) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << secret << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

// A request of one bytes field (field 2: SubmitJobRequest.plugin, RunTaskRequest's task spec)
// of kHostileBytes, encoded by hand once: the four calls share its memory, so this process
// does not hold four copies.
const std::string& HostileRequest() {
  static const std::string* request = [] {
    auto* r = new std::string("\x12");
    uint64_t n = kHostileBytes;
    while (n >= 0x80) {
      r->push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    r->push_back(static_cast<char>(n));
    r->append(kHostileBytes, 'x');
    return r;
  }();
  return *request;
}

// Four concurrent calls of `method` at `address` with the 250 MB request: two carry no secret,
// two a wrong one. Their statuses.
std::vector<grpc::Status> SendHostileRequests(const std::string& address,
                                              const std::string& method) {
  grpc::GenericStub stub(rpc::MakeChannel(address));
  const std::string& bytes = HostileRequest();
  grpc::Slice slice(bytes.data(), bytes.size(), grpc::Slice::STATIC_SLICE);
  grpc::ByteBuffer request(&slice, 1);
  constexpr int kCalls = 4;
  grpc::ClientContext contexts[kCalls];
  grpc::ByteBuffer replies[kCalls];
  std::promise<grpc::Status> done[kCalls];
  for (int i = 0; i < kCalls; ++i) {
    if (i % 2 == 1) rpc::AddSecret(&contexts[i], "not-the-secret");
    contexts[i].set_deadline(std::chrono::system_clock::now() + 60s);
    stub.UnaryCall(&contexts[i], method, {}, &request, &replies[i],
                   [&done, i](grpc::Status s) { done[i].set_value(std::move(s)); });
  }
  std::vector<grpc::Status> statuses;
  for (auto& d : done) statuses.push_back(d.get_future().get());
  return statuses;
}

// Every hostile call was refused for its secret, and the daemon's peak resident memory did
// not grow by anything near one request: `before` is its peak before them. A daemon that read
// one body would have grown by 250 MB (the old driver reached 1.9 GB: each body held, then
// parsed into a copy); a refused call costs at most its HTTP/2 flow-control window, a few MB.
void ExpectRefusedWithoutReading(const std::vector<grpc::Status>& statuses, pid_t daemon,
                                 int64_t before, const std::string& what) {
  for (size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << what << " call " << i << ": " << statuses[i].error_message();
    EXPECT_NE(
        statuses[i].error_message().find(i % 2 == 1 ? "wrong cluster secret" : "requires a secret"),
        std::string::npos)
        << statuses[i].error_message();
  }
  int64_t after = PeakResidentBytes(daemon);
  std::cerr << what << " peak resident memory: " << (before >> 20) << " MB before, "
            << (after >> 20) << " MB after four refused 250 MB requests\n";
  ASSERT_GT(before, 0);
  EXPECT_LT(after - before, int64_t{64} << 20) << what;
}

TEST(HostileClientTest, UnauthenticatedRequestsAreRefusedBeforeTheirBodiesAreRead) {
  std::string dir = MakeTempDir("hostile-unauthenticated");
  Cluster cluster(dir, 1, {}, WriteSecret(dir, "secret", "s3cret-for-the-test"));
  ASSERT_TRUE(cluster.WaitForExecutors(1)) << cluster.driver().Stderr();

  // The driver, at the method that takes the largest request.
  pid_t driver = cluster.driver().pid();
  int64_t before = PeakResidentBytes(driver);
  ExpectRefusedWithoutReading(
      SendHostileRequests(cluster.address(), "/ember.proto.Driver/SubmitJob"), driver, before,
      "driver");
  // An executor, at the method that takes tasks.
  std::string executor_address = cluster.LiveExecutors().begin()->first;
  Subprocess* executor = cluster.ExecutorAt(executor_address);
  ASSERT_NE(executor, nullptr);
  before = PeakResidentBytes(executor->pid());
  ExpectRefusedWithoutReading(
      SendHostileRequests(executor_address, "/ember.proto.Executor/RunTask"), executor->pid(),
      before, "executor");

  // Both still serve the cluster: a job submitted (its plugin uploaded in pieces) runs on the
  // executor, exactly.
  ASSERT_TRUE(cluster.driver().running());
  ASSERT_TRUE(executor->running());
  Subprocess job(cluster.Submit({"--name", "after", "tests/jobs/libshuffle_sum.so", "--", "3",
                                 "2000", "250", "2000"}),
                 dir, "job");
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr() << cluster.driver().Stderr();
  EXPECT_EQ(job.Stdout(), ShuffleSumLines(3, 2000));
  // An upload with a wrong secret is refused at its first piece: exit 5, the reason named.
  Subprocess refused({"tools/ember-submit", "--master", "ember://" + cluster.address(),
                      "--secret-file", WriteSecret(dir, "wrong", "not-the-secret"),
                      "tests/jobs/libshuffle_sum.so", "--", "1", "10", "10", "10"},
                     dir, "refused");
  EXPECT_EQ(refused.Wait(30s), 5) << refused.Stderr();
  EXPECT_NE(refused.Stderr().find("secret"), std::string::npos) << refused.Stderr();
}

TEST(HostileClientTest, AuthenticatedRequestsOverTheirLimitAreRefusedClearly) {
  std::string dir = MakeTempDir("hostile-oversized");
  std::string secret = "s3cret-for-the-test";
  Cluster cluster(dir, 1, {}, WriteSecret(dir, "secret", secret));
  auto stub = proto::Driver::NewStub(rpc::MakeChannel(cluster.address()));
  ASSERT_TRUE(cluster.WaitForExecutors(1)) << cluster.driver().Stderr();
  std::string executor = cluster.LiveExecutors().begin()->first;
  auto executor_stub = proto::Executor::NewStub(rpc::MakeChannel(executor));

  // Control calls over their method's limit (1 MB, well below the server's): refused, the
  // method and the limit named, by the driver and by an executor.
  auto over_its_limit = [&](const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_NE(s.error_message().find("over its limit of " +
                                     std::to_string(rpc::kControlRequestBytes) + " bytes"),
              std::string::npos)
        << s.error_message();
    EXPECT_LE(s.error_message().size(), rpc::kMaxErrorMessageBytes);
  };
  {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 30s);
    proto::HeartbeatRequest request;
    request.set_executor_id(std::string(rpc::kControlRequestBytes + 1, 'x'));
    proto::HeartbeatReply reply;
    over_its_limit(stub->Heartbeat(&call, request, &reply));
  }
  {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 30s);
    proto::StopReceiverRequest request;
    request.set_app_id(std::string(rpc::kControlRequestBytes + 1, 'x'));
    proto::StopReceiverReply reply;
    over_its_limit(executor_stub->StopReceiver(&call, request, &reply));
  }

  // One message over the driver's request limit (16 MB): refused by gRPC, the limit named.
  {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 30s);
    proto::SubmitJobRequest request;
    request.set_plugin(std::string(rpc::kMaxRequestBytes + 1, 'x'));
    request.set_plugin_name("libbig.so");
    proto::SubmitJobReply reply;
    grpc::Status s = stub->SubmitJob(&call, request, &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_NE(s.error_message().find(std::to_string(rpc::kMaxRequestBytes)), std::string::npos)
        << s.error_message();
    EXPECT_LE(s.error_message().size(), rpc::kMaxErrorMessageBytes);
  }
  // An upload over the plugin limit (256 MB) in 1 MB pieces: refused once it passes the limit.
  {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 60s);
    proto::SubmitJobReply reply;
    auto writer = stub->SubmitJobUpload(&call, &reply);
    proto::SubmitJobPiece piece;
    piece.mutable_request()->set_plugin_name("libhuge.so");
    piece.set_plugin(std::string(rpc::kChunkBytes, 'x'));
    for (int i = 0; i < 300 && writer->Write(piece); ++i) piece.clear_request();
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    EXPECT_NE(s.error_message().find("over the limit of 268435456 bytes"), std::string::npos)
        << s.error_message();
  }
  // An upload that does not start with its request.
  {
    grpc::ClientContext call;
    rpc::AddSecret(&call, secret);
    call.set_deadline(std::chrono::system_clock::now() + 30s);
    proto::SubmitJobReply reply;
    auto writer = stub->SubmitJobUpload(&call, &reply);
    proto::SubmitJobPiece piece;
    piece.set_plugin("x");
    writer->Write(piece);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }

  // The driver and the executor live and answer.
  ASSERT_TRUE(cluster.driver().running());
  EXPECT_EQ(cluster.LiveExecutors().size(), 1u);
  proto::StatusReply status;
  grpc::Status s = cluster.Status("", &status);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// With TLS the secret is checked the same way, before a request is read.
TEST(HostileClientTest, TlsServersRefuseCallsWithoutTheSecretToo) {
  std::string dir = MakeTempDir("hostile-tls");
  ASSERT_EQ(testing::MakeTestCertificates(dir, "cluster"), "");
  std::string p = dir + "/cluster";
  ASSERT_TRUE(rpc::ConfigureTls({p + ".pem", p + ".key", p + "-ca.pem", ""}).ok());
  Cluster cluster(dir, 0, {}, WriteSecret(dir, "secret", "s3cret-for-the-test"),
                  {"--tls-cert", p + ".pem", "--tls-key", p + ".key", "--tls-ca", p + "-ca.pem"});
  pid_t driver = cluster.driver().pid();
  int64_t before = PeakResidentBytes(driver);
  ExpectRefusedWithoutReading(
      SendHostileRequests(cluster.address(), "/ember.proto.Driver/SubmitJob"), driver, before,
      "driver with TLS");
  proto::StatusReply status;
  grpc::Status s = cluster.Status("", &status);
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(rpc::ConfigureTls(rpc::TlsOptions{}).ok());  // plaintext again for other tests
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
