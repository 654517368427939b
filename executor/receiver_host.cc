#include "executor/receiver_host.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "util/repeated_warnings.h"

namespace ember {
namespace internal {

// The supervisor's block store: each block goes through Options::store, and where its copies
// went is kept for the block's report.
class ReceiverHost::Sink : public BlockStore {
 public:
  Sink(const Options* options, int replication, std::vector<proto::Peer> initial_peers)
      : options_(options), replication_(replication), initial_peers_(std::move(initial_peers)) {}

  absl::Status Put(const std::string& id, std::string bytes) override {
    auto where = options_->store(id, std::move(bytes), replication_, initial_peers_);
    if (!where.ok()) return where.status();
    absl::MutexLock lock(&mu_);
    locations_[id] = std::move(*where);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override {
    return absl::NotFoundError("a receiver's sink is written, not read");
  }
  void Remove(const std::vector<std::string>&) override {}
  size_t size() const override { return 0; }

  std::vector<std::string> TakeLocations(const std::string& id) {
    absl::MutexLock lock(&mu_);
    auto it = locations_.find(id);
    if (it == locations_.end()) return {};
    std::vector<std::string> out = std::move(it->second);
    locations_.erase(it);
    return out;
  }

 private:
  const Options* const options_;
  const int replication_;
  const std::vector<proto::Peer> initial_peers_;
  absl::Mutex mu_;
  std::map<std::string, std::vector<std::string>> locations_ ABSL_GUARDED_BY(mu_);
};

absl::Status ReceiverHost::Start(const proto::StartReceiverRequest& request,
                                 std::unique_ptr<ReceiverBase> receiver) {
  const int stream = request.stream_id();
  const int64_t incarnation = request.incarnation();
  StopWhere([stream](int s, const Running&) { return s == stream; }, "superseded by a newer start");

  auto running = std::make_shared<Running>();
  running->incarnation = incarnation;
  running->sink = std::make_unique<Sink>(
      &options_, request.replication(),
      std::vector<proto::Peer>(request.peers().begin(), request.peers().end()));
  running->clock = std::make_unique<SystemClock>();
  Sink* sink = running->sink.get();
  ReceiverSupervisor::Options o;
  o.stream_id = stream;
  o.clock = running->clock.get();
  o.block_interval = Milliseconds(request.block_interval_ms());
  o.batch_interval = Milliseconds(request.batch_interval_ms());
  o.restart_delay_ms = request.restart_delay_ms();
  o.store = sink;
  o.block_prefix = absl::StrCat(options_.app_id, "/", incarnation, "/");
  o.wal_dir = request.wal_dir();
  o.max_rate = request.max_rate();
  o.max_buffered_bytes = request.max_buffered_bytes();
  o.report = [this, incarnation, sink](const ReceivedBlock& b) {
    return Report(incarnation, sink, b);
  };
  o.on_event = [this, incarnation](int s, proto::ReceiverEvent event, const std::string& message) {
    ReportEvent(incarnation, s, event, message);
  };
  running->supervisor = std::make_unique<ReceiverSupervisor>(std::move(o), std::move(receiver));
  running->supervisor->SetBackpressureRate(request.rate());
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("executor shutting down");
    receivers_[stream] = running;
  }
  running->supervisor->Start();
  LOG(INFO) << "started receiver for stream " << stream << " of " << options_.app_id << " (run "
            << incarnation << ")";
  return absl::OkStatus();
}

int64_t ReceiverHost::Report(int64_t incarnation, Sink* sink, const ReceivedBlock& b) {
  proto::ReportBlockRequest r;
  r.set_app_id(options_.app_id);
  r.set_incarnation(incarnation);
  auto* block = r.mutable_block();
  block->set_stream_id(b.stream_id);
  block->set_block_id(b.block_id);
  block->set_records(b.records);
  block->set_time_ms(b.time.milliseconds());
  block->set_wal_path(b.wal_path);
  if (!b.block_id.empty()) {
    for (auto& where : sink->TakeLocations(b.block_id)) block->add_locations(where);
  }
  // The block is stored (and replicated): the driver must hear of it. While the receiver
  // runs, that is tried until it succeeds, through a partition of any length (the receiver
  // meanwhile takes no more records: its source is held back); a partition as long as the
  // heartbeat timeout fences the executor, which stops the receiver. A stopped receiver's last
  // block is tried for a few seconds.
  absl::Duration backoff = absl::Milliseconds(50);
  absl::Time give_up = absl::Now() + absl::Seconds(3);
  for (int failures = 1;; ++failures) {
    proto::ReportBlockReply reply;
    grpc::Status s = rpc::Call(*options_.driver, &proto::Driver::Stub::ReportBlock, r, &reply,
                               {options_.secret, rpc::Deadline::kControl});
    if (s.ok()) return reply.processed_through_ms();
    WarnRepeated("report block",
                 absl::StrCat("cannot report block ", b.block_id, " to the driver (", failures,
                              " tries, still trying): ", s.error_message()));
    if (!IsRunning(b.stream_id, incarnation) && absl::Now() >= give_up) {
      LOG(WARNING) << "receiver for stream " << b.stream_id << " stopped: block " << b.block_id
                   << " was never reported (" << s.error_message() << ")";
      return 0;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

bool ReceiverHost::IsRunning(int stream_id, int64_t incarnation) const {
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(stream_id);
  return it != receivers_.end() && it->second->incarnation == incarnation;
}

void ReceiverHost::ReportEvent(int64_t incarnation, int stream, proto::ReceiverEvent event,
                               const std::string& message) {
  proto::ReportReceiverEventRequest r;
  r.set_app_id(options_.app_id);
  r.set_stream_id(stream);
  r.set_incarnation(incarnation);
  r.set_executor_id(options_.executor_id ? options_.executor_id() : "");
  r.set_event(event);
  // Job code's message, cut well below what the driver reads (rpc::kMaxRequestBytes).
  r.set_message(rpc::BoundedMessage(message, 64 << 10));
  proto::ReportReceiverEventReply ignored;
  grpc::Status s = rpc::Call(*options_.driver, &proto::Driver::Stub::ReportReceiverEvent, r,
                             &ignored, {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) {
    WarnRepeated("report receiver event",
                 absl::StrCat("cannot report receiver event ", proto::ReceiverEvent_Name(event),
                              ": ", s.error_message()));
  }
}

void ReceiverHost::Stop(int stream_id, int64_t incarnation, const std::string& reason) {
  StopWhere([&](int s, const Running& r) { return s == stream_id && r.incarnation == incarnation; },
            reason);
}

void ReceiverHost::SetRate(int stream_id, int64_t incarnation, double rate) {
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(stream_id);
  if (it != receivers_.end() && it->second->incarnation == incarnation) {
    it->second->supervisor->SetBackpressureRate(rate);
  }
}

void ReceiverHost::StopAll(const std::string& reason) {
  StopWhere([](int, const Running&) { return true; }, reason);
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

void ReceiverHost::StopWhere(const std::function<bool(int, const Running&)>& pick,
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
