#include "driver/driver_service.h"

#include "absl/strings/str_cat.h"
#include "rpc/rpc.h"
#include "runtime/plugin_file.h"

namespace ember {
namespace internal {

namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, rpc::BoundedMessage(message));
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

// An upload's request (from its first piece) with the plugin put together from every piece;
// refused as soon as the plugin passes kMaxPluginBytes, so that the driver holds no more.
template <typename Piece, typename Request>
grpc::Status ReadUpload(grpc::ServerReader<Piece>* reader, Request* request) {
  Piece piece;
  if (!reader->Read(&piece) || !piece.has_request()) {
    return Invalid("an upload starts with its request");
  }
  *request = std::move(*piece.mutable_request());
  std::string* plugin = request->mutable_plugin();
  do {
    if (plugin->size() + piece.plugin().size() > internal::kMaxPluginBytes) {
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("the uploaded plugin is over the limit of ", internal::kMaxPluginBytes,
                       " bytes (", internal::kMaxPluginBytes >> 20, " MB) for a plugin"));
    }
    plugin->append(piece.plugin());
  } while (reader->Read(&piece));
  return grpc::Status::OK;
}

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
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (!ValidAddress(request->address())) {
    return Invalid("executor address must be HOST:PORT, not '" + request->address() + "'");
  }
  if (request->slots() < 1 || request->slots() > 4096) {
    return Invalid("executor slots must be between 1 and 4096");
  }
  reply->set_executor_id(executors_->Register(request->address(), request->slots()));
  reply->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(executors_->heartbeat_interval()));
  reply->set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(executors_->heartbeat_timeout()));
  return grpc::Status::OK;
}

grpc::Status DriverService::Heartbeat(grpc::ServerContext* context,
                                      const proto::HeartbeatRequest* request,
                                      proto::HeartbeatReply* reply) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (request->executor_id().empty()) return Invalid("heartbeat without an executor id");
  if (executors_->Heartbeat(*request, reply)) {
    std::vector<std::string> live;
    if (jobs_->LiveApps(&live)) {
      reply->set_live_apps_known(true);
      for (auto& id : live) reply->add_live_apps(std::move(id));
    }
  }
  return grpc::Status::OK;
}

grpc::Status DriverService::ReportBlock(grpc::ServerContext* context,
                                        const proto::ReportBlockRequest* request,
                                        proto::ReportBlockReply* reply) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (!ValidAppId(request->app_id())) return Invalid("block report without an application id");
  const auto& b = request->block();
  if (b.stream_id() < 0 || b.records() < 0 || b.time_ms() < 0 ||
      (b.records() > 0) == b.block_id().empty()) {
    return Invalid("malformed block report");
  }
  absl::StatusOr<int64_t> processed = jobs_->OnBlock(*request);
  if (!processed.ok()) return rpc::ToGrpc(processed.status());
  reply->set_processed_through_ms(*processed);
  return grpc::Status::OK;
}

grpc::Status DriverService::ReportReceiverEvent(grpc::ServerContext* context,
                                                const proto::ReportReceiverEventRequest* request,
                                                proto::ReportReceiverEventReply*) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
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
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  return rpc::ToGrpc(jobs_->FillPlugin(request->app_id(), reply));
}

grpc::Status DriverService::FetchBroadcast(grpc::ServerContext* context,
                                           const proto::FetchBroadcastRequest* request,
                                           proto::FetchBroadcastReply* reply) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
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

grpc::Status DriverService::SubmitJobUpload(grpc::ServerContext* context,
                                            grpc::ServerReader<proto::SubmitJobPiece>* reader,
                                            proto::SubmitJobReply* reply) {
  EMBER_CHECK_SECRET(context);
  proto::SubmitJobRequest request;
  grpc::Status read = ReadUpload(reader, &request);
  if (!read.ok()) return read;
  return SubmitJob(context, &request, reply);
}

grpc::Status DriverService::WatchJob(grpc::ServerContext* context,
                                     const proto::WatchJobRequest* request,
                                     grpc::ServerWriter<proto::JobEvent>* writer) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  absl::Status s = jobs_->Watch(
      request->app_id(), request->offset(), request->run(), request->follow(),
      [writer](const proto::JobEvent& e) { return writer->Write(e); },
      [context] { return context->IsCancelled(); });
  return rpc::ToGrpc(s);
}

grpc::Status DriverService::KillJob(grpc::ServerContext* context,
                                    const proto::KillJobRequest* request,
                                    proto::KillJobReply* reply) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
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

grpc::Status DriverService::UpgradeJobUpload(grpc::ServerContext* context,
                                             grpc::ServerReader<proto::UpgradeJobPiece>* reader,
                                             proto::UpgradeJobReply* reply) {
  EMBER_CHECK_SECRET(context);
  proto::UpgradeJobRequest request;
  grpc::Status read = ReadUpload(reader, &request);
  if (!read.ok()) return read;
  return UpgradeJob(context, &request, reply);
}

grpc::Status DriverService::Status(grpc::ServerContext* context,
                                   const proto::StatusRequest* request, proto::StatusReply* reply) {
  EMBER_CHECK_SECRET(context);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  return rpc::ToGrpc(jobs_->Status(request->app_id(), reply));
}

#undef EMBER_CHECK_SECRET

}  // namespace internal
}  // namespace ember
