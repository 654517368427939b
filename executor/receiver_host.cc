#include "executor/receiver_host.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "rpc/call.h"

namespace ember {
namespace internal {

absl::Status ReceiverHost::Start(const proto::StartReceiverRequest& request,
                                 std::unique_ptr<ReceiverBase> receiver) {
  const std::string app_id = request.app_id();
  const int64_t incarnation = request.incarnation();
  const Key key(app_id, request.stream_id());
  StopWhere([&key](const Key& k, const Running&) { return k == key; },
            "superseded by a newer start");

  auto running = std::make_shared<Running>();
  running->incarnation = incarnation;
  ReplicatingStore::Options so;
  so.local = options_.local;
  so.peers = options_.peers;
  so.self = options_.link->self();
  so.secret = options_.secret;
  so.replication = request.replication();
  DriverLink* link = options_.link;
  so.live_peers = [link] { return link->peers(); };
  so.initial.assign(request.peers().begin(), request.peers().end());
  so.on_stored = options_.on_stored;
  running->store = std::make_unique<ReplicatingStore>(std::move(so));
  running->clock = std::make_unique<SystemClock>();
  ReplicatingStore* store = running->store.get();
  ReceiverSupervisor::Options o;
  o.stream_id = request.stream_id();
  o.clock = running->clock.get();
  o.block_interval = Milliseconds(request.block_interval_ms());
  o.restart_delay_ms = request.restart_delay_ms();
  o.store = store;
  o.block_prefix = absl::StrCat(app_id, "/", incarnation, "/");
  o.wal_dir = request.wal_dir();
  o.report = [this, app_id, incarnation, store](const ReceivedBlock& b) {
    Report(app_id, incarnation, store, b);
  };
  o.on_event = [this, app_id, incarnation](int stream, proto::ReceiverEvent event,
                                           const std::string& message) {
    ReportEvent(app_id, incarnation, stream, event, message);
  };
  running->supervisor = std::make_unique<ReceiverSupervisor>(std::move(o), std::move(receiver));
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("executor shutting down");
    receivers_[key] = running;
  }
  running->supervisor->Start();
  LOG(INFO) << "started receiver for stream " << request.stream_id() << " of " << app_id << " (run "
            << incarnation << ")";
  return absl::OkStatus();
}

void ReceiverHost::Report(const std::string& app_id, int64_t incarnation, ReplicatingStore* store,
                          const ReceivedBlock& b) {
  proto::ReportBlockRequest r;
  r.set_app_id(app_id);
  r.set_incarnation(incarnation);
  auto* block = r.mutable_block();
  block->set_stream_id(b.stream_id);
  block->set_block_id(b.block_id);
  block->set_records(b.records);
  block->set_time_ms(b.time.milliseconds());
  block->set_wal_path(b.wal_path);
  if (!b.block_id.empty()) {
    for (auto& where : store->TakeLocations(b.block_id)) block->add_locations(where);
  }
  // The block is stored (and replicated): the driver must hear of it. Retry briefly.
  for (int attempt = 0; attempt < 5; ++attempt) {
    proto::ReportBlockReply ignored;
    grpc::Status s = rpc::Call(options_.link->stub(), &proto::Driver::Stub::ReportBlock, r,
                               &ignored, {options_.secret, rpc::Deadline::kControl});
    if (s.ok()) return;
    if (attempt == 4) {
      LOG(WARNING) << "cannot report block " << b.block_id
                   << " to the driver: " << s.error_message();
    }
  }
}

void ReceiverHost::ReportEvent(const std::string& app_id, int64_t incarnation, int stream,
                               proto::ReceiverEvent event, const std::string& message) {
  proto::ReportReceiverEventRequest r;
  r.set_app_id(app_id);
  r.set_stream_id(stream);
  r.set_incarnation(incarnation);
  r.set_executor_id(options_.link->executor_id());
  r.set_event(event);
  r.set_message(message);
  proto::ReportReceiverEventReply ignored;
  grpc::Status s = rpc::Call(options_.link->stub(), &proto::Driver::Stub::ReportReceiverEvent, r,
                             &ignored, {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) {
    LOG(WARNING) << "cannot report receiver event " << proto::ReceiverEvent_Name(event) << ": "
                 << s.error_message();
  }
}

void ReceiverHost::Stop(const std::string& app_id, int stream_id, int64_t incarnation,
                        const std::string& reason) {
  const Key key(app_id, stream_id);
  StopWhere(
      [&](const Key& k, const Running& r) { return k == key && r.incarnation == incarnation; },
      reason);
}

void ReceiverHost::StopApp(const std::string& app_id, const std::string& reason) {
  StopWhere([&](const Key& k, const Running&) { return k.first == app_id; }, reason);
}

void ReceiverHost::StopAll(const std::string& reason) {
  StopWhere([](const Key&, const Running&) { return true; }, reason);
}

void ReceiverHost::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  StopAll("executor shutting down");
}

int ReceiverHost::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(receivers_.size());
}

void ReceiverHost::StopWhere(const std::function<bool(const Key&, const Running&)>& pick,
                             const std::string& reason) {
  std::vector<std::shared_ptr<Running>> stopping;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = receivers_.begin(); it != receivers_.end();) {
      if (pick(it->first, *it->second)) {
        stopping.push_back(it->second);
        it = receivers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Outside the lock: a stopping receiver cuts and reports its last block.
  for (auto& r : stopping) r->supervisor->Stop(reason);
}

}  // namespace internal
}  // namespace ember
