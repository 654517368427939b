#include "executor/task_process.h"

#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "executor/app_host.h"
#include "executor/peer_client.h"
#include "proto/cluster.grpc.pb.h"
#include "proto/isolation.grpc.pb.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/runtime_hooks.h"
#include "util/child_process.h"
#include "util/log_level.h"

namespace ember {
namespace internal {

namespace {

// This executor's blocks, read through the executor that keeps them.
class ExecutorBlocks : public BlockStore {
 public:
  ExecutorBlocks(proto::ExecutorLocal::Stub* stub, std::string token)
      : stub_(stub), token_(std::move(token)) {}
  absl::Status Put(const std::string& id, std::string) override {
    return absl::UnimplementedError("a task process stores blocks through StoreBlock");
  }
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override {
    proto::GetBlockRequest request;
    request.set_block_id(id);
    proto::GetBlockReply reply;
    grpc::Status s = rpc::Call(*stub_, &proto::ExecutorLocal::Stub::GetBlock, request, &reply,
                               {token_, rpc::Deadline::kPeerBlock});
    if (!s.ok()) return rpc::FromGrpc(s);
    if (!reply.found()) return absl::NotFoundError("block " + id + " is not on this executor");
    return std::make_shared<const std::string>(std::move(*reply.mutable_data()));
  }
  void Remove(const std::vector<std::string>&) override {}
  size_t size() const override { return 0; }

 private:
  proto::ExecutorLocal::Stub* const stub_;
  const std::string token_;
};

// The application's part of the Executor service, for its executor only.
class TaskService final : public proto::Executor::Service {
 public:
  TaskService(AppHost* host, absl::Status load, std::string token)
      : host_(host), load_(std::move(load)), token_(std::move(token)) {}

  grpc::Status RunTask(grpc::ServerContext* context, const proto::RunTaskRequest* request,
                       proto::RunTaskReply* reply) override {
    if (auto s = Check(context); !s.ok()) return s;
    if (host_ == nullptr) {
      FailInReply(load_, reply);
      return grpc::Status::OK;
    }
    auto result = host_->RunTask(request->task());
    if (!result.ok()) {
      FailInReply(result.status(), reply);
    } else {
      *reply->mutable_result() = std::move(*result);
    }
    return grpc::Status::OK;
  }
  grpc::Status StartReceiver(grpc::ServerContext* context,
                             const proto::StartReceiverRequest* request,
                             proto::StartReceiverReply* reply) override {
    if (auto s = Check(context); !s.ok()) return s;
    absl::Status started = host_ == nullptr ? load_ : host_->StartReceiver(*request);
    if (!started.ok()) {
      reply->set_error_code(static_cast<int>(started.code()));
      reply->set_error(std::string(started.message()));
    }
    return grpc::Status::OK;
  }
  grpc::Status StopReceiver(grpc::ServerContext* context, const proto::StopReceiverRequest* request,
                            proto::StopReceiverReply*) override {
    if (auto s = Check(context); !s.ok()) return s;
    if (host_ != nullptr) host_->StopReceiver(*request);
    return grpc::Status::OK;
  }
  grpc::Status UpdateReceiverRate(grpc::ServerContext* context,
                                  const proto::UpdateReceiverRateRequest* request,
                                  proto::UpdateReceiverRateReply*) override {
    if (auto s = Check(context); !s.ok()) return s;
    if (host_ != nullptr) host_->UpdateReceiverRate(*request);
    return grpc::Status::OK;
  }
  grpc::Status FetchShuffle(grpc::ServerContext* context, const proto::FetchShuffleRequest* request,
                            grpc::ServerWriter<proto::ShuffleChunk>* writer) override {
    if (auto s = Check(context); !s.ok()) return s;
    if (host_ == nullptr) return rpc::ToGrpc(load_);
    host_->WriteShuffle(*request,
                        [writer](const proto::ShuffleChunk& c) { return writer->Write(c); });
    return grpc::Status::OK;
  }
  grpc::Status Cleanup(grpc::ServerContext* context, const proto::CleanupRequest* request,
                       proto::CleanupReply*) override {
    if (auto s = Check(context); !s.ok()) return s;
    if (host_ != nullptr) host_->Cleanup(*request);
    return grpc::Status::OK;
  }

 private:
  grpc::Status Check(grpc::ServerContext* context) const {
    return rpc::CheckSecret(context, token_);
  }

  AppHost* const host_;
  const absl::Status load_;
  const std::string token_;
};

}  // namespace

int TaskProcessMain() {
  // SIGTERM is taken by sigwait: blocked before any thread starts.
  sigset_t signals = BlockTerminationSignals();
  std::string input = ReadStandardInput();
  proto::TaskProcessLaunch launch;
  if (!launch.ParseFromString(input) || launch.app_id().empty() ||
      launch.listen_address().empty()) {
    std::cerr << "ember-executor --task-process: no launch on standard input (this mode is "
                 "started by ember-executor itself)\n";
    return 2;
  }
  if (!launch.log_level().empty()) SetLogLevel(launch.log_level()).IgnoreError();
  absl::Status tls = rpc::ConfigureTls(launch.tls());
  if (!tls.ok()) {
    std::cerr << "ember-executor --task-process: " << tls.message() << "\n";
    return 1;
  }
  auto local = proto::ExecutorLocal::NewStub(rpc::MakeChannel(launch.parent_address()));
  auto driver = proto::Driver::NewStub(rpc::MakeChannel(launch.driver()));
  ExecutorBlocks blocks(local.get(), launch.token());
  PeerClient peers;

  const std::string app_id = launch.app_id(), secret = launch.secret(), token = launch.token();
  proto::Driver::Stub* driver_stub = driver.get();
  SetBroadcastFetcher([driver_stub, app_id, secret](int64_t id) -> absl::StatusOr<std::string> {
    proto::FetchBroadcastRequest request;
    request.set_id(id);
    request.set_app_id(app_id);
    proto::FetchBroadcastReply reply;
    grpc::Status s = rpc::Call(*driver_stub, &proto::Driver::Stub::FetchBroadcast, request, &reply,
                               {secret, rpc::Deadline::kBroadcast});
    if (!s.ok()) return rpc::FromGrpc(s);
    return std::move(*reply.mutable_data());
  });

  AppHost::Options o;
  o.app_id = app_id;
  o.plugin_path = launch.plugin_path();
  o.self = launch.executor_address();
  o.secret = secret;
  o.local_blocks = &blocks;
  o.peers = &peers;
  proto::ExecutorLocal::Stub* local_stub = local.get();
  o.receivers.store =
      [local_stub, token](
          const std::string& id, std::string bytes, int replication,
          const std::vector<proto::Peer>& initial) -> absl::StatusOr<std::vector<std::string>> {
    proto::StoreBlockRequest request;
    request.set_block_id(id);
    request.set_data(std::move(bytes));
    request.set_replication(replication);
    for (const auto& p : initial) *request.add_initial_peers() = p;
    proto::StoreBlockReply reply;
    grpc::Status s = rpc::Call(*local_stub, &proto::ExecutorLocal::Stub::StoreBlock, request,
                               &reply, {token, rpc::Deadline::kPeerBlock});
    if (!s.ok()) return rpc::FromGrpc(s);
    return std::vector<std::string>(reply.locations().begin(), reply.locations().end());
  };
  o.receivers.driver = driver_stub;
  o.receivers.secret = secret;
  std::string fallback_id = launch.executor_id();
  o.receivers.executor_id = [local_stub, token, fallback_id] {
    proto::ExecutorIdReply reply;
    grpc::Status s =
        rpc::Call(*local_stub, &proto::ExecutorLocal::Stub::ExecutorId, proto::ExecutorIdRequest(),
                  &reply, {token, rpc::Deadline::kControl});
    return s.ok() ? reply.executor_id() : fallback_id;
  };
  auto host = AppHost::Create(std::move(o));
  if (!host.ok()) LOG(ERROR) << "task process of " << app_id << ": " << host.status();
  TaskService service(host.ok() ? host->get() : nullptr,
                      host.ok() ? absl::OkStatus() : host.status(), token);
  // The executor forwards tasks with their inline partitions: the larger request limit.
  std::unique_ptr<grpc::Server> server =
      rpc::StartServer(launch.listen_address(), {&service}, {token, rpc::kMaxMessageBytes});
  if (server == nullptr) {
    LOG(ERROR) << "task process of " << app_id << ": cannot listen on " << launch.listen_address();
    return 1;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  // The executor ends the application here: the receivers cut and report their last blocks.
  if (host.ok()) (*host)->StopReceivers("the application's task process is stopping");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  std::cout << std::flush;
  _exit(0);
}

}  // namespace internal
}  // namespace ember
