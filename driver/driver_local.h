#pragma once
// DriverLocal (proto/isolation.proto): what ember-driver serves its application driver
// processes, over an abstract unix socket and with a token only they have: the executors
// and their changes, an executor a call found unreachable, and each application's reports.
// Thread-safe.

#include <string>

#include "absl/synchronization/mutex.h"
#include "driver/executor_registry.h"
#include "driver/job_registry.h"
#include "proto/isolation.grpc.pb.h"

namespace ember {
namespace internal {

class DriverLocalService final : public proto::DriverLocal::Service {
 public:
  DriverLocalService(ExecutorRegistry* executors, JobRegistry* jobs, std::string token)
      : executors_(executors), jobs_(jobs), token_(std::move(token)) {}
  // Ends the executor watches (a stopping daemon).
  void Shutdown();

  grpc::Status WatchExecutors(grpc::ServerContext* context,
                              const proto::WatchExecutorsRequest* request,
                              grpc::ServerWriter<proto::ExecutorEvent>* writer) override;
  grpc::Status ExecutorUnreachable(grpc::ServerContext* context,
                                   const proto::ExecutorUnreachableRequest* request,
                                   proto::ExecutorUnreachableReply* reply) override;
  grpc::Status ReportApp(grpc::ServerContext* context, const proto::ReportAppRequest* request,
                         proto::ReportAppReply* reply) override;

 private:
  ExecutorRegistry* const executors_;
  JobRegistry* const jobs_;
  const std::string token_;
  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace ember
