#include "driver/driver_service.h"

#include "rpc/rpc.h"

namespace ember {
namespace internal {

namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// host:port with a numeric port.
bool ValidAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= address.size()) return false;
  if (address.size() > 300) return false;
  for (size_t i = colon + 1; i < address.size(); ++i) {
    if (address[i] < '0' || address[i] > '9') return false;
  }
  return std::stol(address.substr(colon + 1, 6)) <= 65535;
}

bool ValidAppId(const std::string& id) { return !id.empty() && id.size() <= 128; }

}  // namespace

#define EMBER_CHECK_SECRET(context)                           \
  do {                                                        \
    grpc::Status auth = rpc::CheckSecret((context), secret_); \
    if (!auth.ok()) return auth;                              \
  } while (0)

grpc::Status DriverService::RegisterExecutor(grpc::ServerContext* context,
                                             const proto::RegisterExecutorRequest* request,
                                             proto::RegisterExecutorReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (!ValidAddress(request->address())) {
    return Invalid("executor address must be HOST:PORT, not '" + request->address() + "'");
  }
  if (request->slots() < 1 || request->slots() > 4096) {
    return Invalid("executor slots must be between 1 and 4096");
  }
  reply->set_executor_id(executors_->Register(request->address(), request->slots()));
  reply->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(executors_->heartbeat_interval()));
  return grpc::Status::OK;
}

grpc::Status DriverService::Heartbeat(grpc::ServerContext* context,
                                      const proto::HeartbeatRequest* request,
                                      proto::HeartbeatReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (request->executor_id().empty()) return Invalid("heartbeat without an executor id");
  executors_->Heartbeat(*request, reply);
  return grpc::Status::OK;
}

grpc::Status DriverService::ReportBlock(grpc::ServerContext* context,
                                        const proto::ReportBlockRequest* request,
                                        proto::ReportBlockReply*) {
  EMBER_CHECK_SECRET(context);
  if (!ValidAppId(request->app_id())) return Invalid("block report without an application id");
  const auto& b = request->block();
  if (b.stream_id() < 0 || b.records() < 0 || b.time_ms() < 0 ||
      (b.records() > 0) == b.block_id().empty()) {
    return Invalid("malformed block report");
  }
  jobs_->OnBlock(*request);
  return grpc::Status::OK;
}

grpc::Status DriverService::ReportReceiverEvent(grpc::ServerContext* context,
                                                const proto::ReportReceiverEventRequest* request,
                                                proto::ReportReceiverEventReply*) {
  EMBER_CHECK_SECRET(context);
  if (!ValidAppId(request->app_id()) || request->stream_id() < 0) {
    return Invalid("malformed receiver event");
  }
  if (request->event() == proto::RECEIVER_EVENT_UNSPECIFIED ||
      !proto::ReceiverEvent_IsValid(request->event())) {
    return Invalid("unknown receiver event " + std::to_string(request->event()));
  }
  jobs_->OnReceiverEvent(*request);
  return grpc::Status::OK;
}

grpc::Status DriverService::FetchPlugin(grpc::ServerContext* context,
                                        const proto::FetchPluginRequest* request,
                                        proto::FetchPluginReply* reply) {
  EMBER_CHECK_SECRET(context);
  return rpc::ToGrpc(jobs_->FillPlugin(request->app_id(), reply));
}

grpc::Status DriverService::FetchBroadcast(grpc::ServerContext* context,
                                           const proto::FetchBroadcastRequest* request,
                                           proto::FetchBroadcastReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (request->app_id().size() > 128) return Invalid("oversized application id");
  auto bytes = jobs_->Broadcast(request->app_id(), request->id());
  if (!bytes.ok()) return rpc::ToGrpc(bytes.status());
  reply->set_data(std::move(*bytes));
  return grpc::Status::OK;
}

grpc::Status DriverService::SubmitJob(grpc::ServerContext* context,
                                      const proto::SubmitJobRequest* request,
                                      proto::SubmitJobReply* reply) {
  EMBER_CHECK_SECRET(context);
  auto id = jobs_->Submit(*request);
  if (!id.ok()) return rpc::ToGrpc(id.status());
  reply->set_app_id(*id);
  return grpc::Status::OK;
}

grpc::Status DriverService::WatchJob(grpc::ServerContext* context,
                                     const proto::WatchJobRequest* request,
                                     grpc::ServerWriter<proto::JobEvent>* writer) {
  EMBER_CHECK_SECRET(context);
  absl::Status s = jobs_->Watch(
      request->app_id(), request->offset(), request->follow(),
      [writer](const proto::JobEvent& e) { return writer->Write(e); },
      [context] { return context->IsCancelled(); });
  return rpc::ToGrpc(s);
}

grpc::Status DriverService::KillJob(grpc::ServerContext* context,
                                    const proto::KillJobRequest* request,
                                    proto::KillJobReply* reply) {
  EMBER_CHECK_SECRET(context);
  auto state = jobs_->Kill(request->app_id());
  if (!state.ok()) return rpc::ToGrpc(state.status());
  reply->set_state(*state);
  return grpc::Status::OK;
}

grpc::Status DriverService::UpgradeJob(grpc::ServerContext* context,
                                       const proto::UpgradeJobRequest* request,
                                       proto::UpgradeJobReply*) {
  EMBER_CHECK_SECRET(context);
  return rpc::ToGrpc(jobs_->Upgrade(request->app_id(), request->plugin(), request->plugin_name()));
}

grpc::Status DriverService::Status(grpc::ServerContext* context,
                                   const proto::StatusRequest* request, proto::StatusReply* reply) {
  EMBER_CHECK_SECRET(context);
  return rpc::ToGrpc(jobs_->Status(request->app_id(), reply));
}

#undef EMBER_CHECK_SECRET

}  // namespace internal
}  // namespace ember
