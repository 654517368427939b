#pragma once
// The driver's gRPC service (proto/cluster.proto, service Driver): executors register,
// heartbeat and report blocks and receiver events; ember-submit submits, follows, kills and
// inspects applications. The server refuses a call without the cluster secret before reading
// its request (rpc::StartServer); every method checks the secret again, and validates its
// request (INVALID_ARGUMENT, changing nothing) before acting.

#include <string>

#include "driver/executor_registry.h"
#include "driver/job_registry.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace internal {

class DriverService final : public proto::Driver::Service {
 public:
  DriverService(ExecutorRegistry* executors, JobRegistry* jobs, std::string secret)
      : executors_(executors), jobs_(jobs), secret_(std::move(secret)) {}

  grpc::Status RegisterExecutor(grpc::ServerContext* context,
                                const proto::RegisterExecutorRequest* request,
                                proto::RegisterExecutorReply* reply) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const proto::HeartbeatRequest* request,
                         proto::HeartbeatReply* reply) override;
  grpc::Status ReportBlock(grpc::ServerContext* context, const proto::ReportBlockRequest* request,
                           proto::ReportBlockReply* reply) override;
  grpc::Status ReportReceiverEvent(grpc::ServerContext* context,
                                   const proto::ReportReceiverEventRequest* request,
                                   proto::ReportReceiverEventReply* reply) override;
  grpc::Status FetchPlugin(grpc::ServerContext* context, const proto::FetchPluginRequest* request,
                           proto::FetchPluginReply* reply) override;
  grpc::Status FetchBroadcast(grpc::ServerContext* context,
                              const proto::FetchBroadcastRequest* request,
                              proto::FetchBroadcastReply* reply) override;
  grpc::Status SubmitJob(grpc::ServerContext* context, const proto::SubmitJobRequest* request,
                         proto::SubmitJobReply* reply) override;
  grpc::Status SubmitJobUpload(grpc::ServerContext* context,
                               grpc::ServerReader<proto::SubmitJobPiece>* reader,
                               proto::SubmitJobReply* reply) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const proto::WatchJobRequest* request,
                        grpc::ServerWriter<proto::JobEvent>* writer) override;
  grpc::Status KillJob(grpc::ServerContext* context, const proto::KillJobRequest* request,
                       proto::KillJobReply* reply) override;
  grpc::Status UpgradeJob(grpc::ServerContext* context, const proto::UpgradeJobRequest* request,
                          proto::UpgradeJobReply* reply) override;
  grpc::Status UpgradeJobUpload(grpc::ServerContext* context,
                                grpc::ServerReader<proto::UpgradeJobPiece>* reader,
                                proto::UpgradeJobReply* reply) override;
  grpc::Status Status(grpc::ServerContext* context, const proto::StatusRequest* request,
                      proto::StatusReply* reply) override;

 private:
  ExecutorRegistry* executors_;
  JobRegistry* jobs_;
  const std::string secret_;
};

}  // namespace internal
}  // namespace ember
