#include "runtime/local_services.h"

#include <glog/logging.h>

#include <algorithm>

#include "runtime/receiver_tracker.h"

namespace ember {
namespace internal {

LocalServices::LocalServices(Options options) : options_(std::move(options)) {
  BuildBackend(options_.slots);
}

LocalServices::~LocalServices() {
  StopReceivers();
  backend_.reset();  // its threads end before the stores they use
}

void LocalServices::BuildBackend(int slots) {
  backend_.reset();
  TaskEnv env;
  env.ops = options_.ops;
  env.blocks = &blocks_;
  env.shuffles = &shuffles_;
  env.cache = &cache_;
  env.states = &states_;
  backend_ = std::make_unique<LocalBackend>(slots, env);
}

void LocalServices::ReserveSlotsForReceivers(int receivers) {
  if (receivers == 0) return;
  if (options_.slots <= receivers) {
    LOG(WARNING) << "master " << options_.master << " has " << options_.slots
                 << " slot(s) and the job has " << receivers << " receiver(s): with "
                 << "ember.local.reserveReceiverSlots no slot is left to process the received "
                 << "data (Spark would not process it at all); Ember runs tasks on one slot.";
  }
  BuildBackend(std::max(1, options_.slots - receivers));
}

absl::Status LocalServices::StartReceivers(const std::vector<proto::OpSpec>& factories,
                                           ReceiverTracker* tracker,
                                           const ReceiverSettings& settings) {
  std::vector<ReceiverSupervisor*> to_start;
  {
    absl::MutexLock lock(&mu_);
    for (size_t id = 0; id < factories.size(); ++id) {
      // Built from its factory's spec, as an executor builds it.
      auto receiver = CreateReceiver(*options_.ops, factories[id]);
      if (!receiver.ok()) return receiver.status();
      ReceiverSupervisor::Options o;
      o.stream_id = static_cast<int>(id);
      o.clock = options_.clock;
      o.block_interval = Milliseconds(settings.block_interval_ms);
      o.batch_interval = Milliseconds(settings.batch_interval_ms);
      o.restart_delay_ms = settings.restart_delay_ms;
      o.store = &blocks_;
      o.wal_dir = settings.wal_dir;
      o.max_rate = settings.max_rate;
      o.report = [tracker](const ReceivedBlock& b) { return tracker->OnBlock(b); };
      o.max_buffered_bytes = settings.max_buffered_bytes;
      o.on_event = [tracker](int s, proto::ReceiverEvent e, const std::string& m) {
        tracker->OnEvent(s, e, m);
      };
      supervisors_.push_back(
          std::make_unique<ReceiverSupervisor>(std::move(o), std::move(*receiver)));
      supervisors_.back()->SetBackpressureRate(settings.initial_rate);
      to_start.push_back(supervisors_.back().get());
    }
  }
  for (auto* s : to_start) s->Start();
  return absl::OkStatus();
}

void LocalServices::UpdateReceiverRate(int stream_id, double rate) {
  absl::MutexLock lock(&mu_);
  for (auto& s : supervisors_) {
    if (s->stream_id() == stream_id) s->SetBackpressureRate(rate);
  }
}

void LocalServices::StopReceivers() {
  std::vector<std::unique_ptr<ReceiverSupervisor>> supervisors;
  {
    absl::MutexLock lock(&mu_);
    supervisors.swap(supervisors_);
  }
  // Outside the lock: stopping cuts and reports a last block.
  for (auto& s : supervisors) s->Stop("streaming context stopped");
}

}  // namespace internal
}  // namespace ember
