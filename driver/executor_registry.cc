#include "driver/executor_registry.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rpc/rpc.h"
#include "runtime/streaming_progress.h"

namespace ember {
namespace internal {

ExecutorRegistry::ExecutorRegistry(Options options) : options_(std::move(options)) {
  if (options_.detect_loss) monitor_ = std::thread([this] { MonitorLoop(); });
}

ExecutorRegistry::~ExecutorRegistry() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    slot_freed_.SignalAll();
  }
  if (monitor_.joinable()) monitor_.join();
}

std::string ExecutorRegistry::Register(const std::string& address, int slots) {
  std::vector<ExecutorPtr> lost;
  ExecutorPtr e = std::make_shared<ExecutorRecord>();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, old] : executors_) {
      if (old->alive && old->address == address) {
        MarkLostLocked(old, "it registered again", &lost);
      }
    }
    e->id = absl::StrCat("exec-", ++next_id_);
    e->address = address;
    e->slots = std::max(1, slots);
    e->stub = proto::Executor::NewStub(rpc::MakeChannel(address));
    e->last_heartbeat = absl::Now();
    executors_[e->id] = e;
    slot_freed_.SignalAll();
  }
  LOG(INFO) << "Executor " << e->id << " registered from " << address << " with " << e->slots
            << " slot(s)";
  NotifyLost(lost, "it registered again");
  NotifyAdded(e);
  return e->id;
}

void ExecutorRegistry::Adopt(const std::string& id, const std::string& address, int slots) {
  ExecutorPtr e = std::make_shared<ExecutorRecord>();
  {
    absl::MutexLock lock(&mu_);
    if (executors_.count(id)) return;
    e->id = id;
    e->address = address;
    e->slots = std::max(1, slots);
    e->stub = proto::Executor::NewStub(rpc::MakeChannel(address));
    e->last_heartbeat = absl::Now();
    executors_[e->id] = e;
    slot_freed_.SignalAll();
  }
  NotifyAdded(e);
}

void ExecutorRegistry::NotifyAdded(const ExecutorPtr& e) {
  for (const auto& l : add_listeners_.Get()) l(e);
}

void ExecutorRegistry::Unreachable(const std::string& id, const std::string& reason) {
  MarkLost(id, reason);
  if (options_.on_unreachable) options_.on_unreachable(id, reason);
}

bool ExecutorRegistry::Heartbeat(const proto::HeartbeatRequest& request,
                                 proto::HeartbeatReply* reply) {
  if (request.fenced()) {
    MarkLost(request.executor_id(),
             "it stopped its work, having reached no driver for the "
             "heartbeat timeout");
    reply->set_reregister(true);
    return false;
  }
  bool health_changed = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = executors_.find(request.executor_id());
    if (it == executors_.end() || !it->second->alive) {
      reply->set_reregister(true);
      return false;
    }
    it->second->last_heartbeat = absl::Now();
    it->second->stats = request;
    health_changed = it->second->unhealthy != request.unhealthy();
    for (const auto& [id, e] : executors_) {
      // Replicas go to the executors that can store them.
      if (!e->alive || id == request.executor_id() || !e->unhealthy.empty()) continue;
      auto* peer = reply->add_peers();
      peer->set_executor_id(id);
      peer->set_address(e->address);
    }
  }
  if (health_changed) SetHealth(request.executor_id(), request.unhealthy());
  return true;
}

void ExecutorRegistry::MarkLostLocked(const ExecutorPtr& e, const std::string& reason,
                                      std::vector<ExecutorPtr>* lost) {
  if (!e->alive) return;
  e->alive = false;
  for (grpc::ClientContext* call : e->calls) call->TryCancel();
  lost->push_back(e);
}

void ExecutorRegistry::MarkLost(const std::string& id, const std::string& reason) {
  std::vector<ExecutorPtr> lost;
  {
    absl::MutexLock lock(&mu_);
    auto it = executors_.find(id);
    if (it == executors_.end()) return;
    MarkLostLocked(it->second, reason, &lost);
  }
  NotifyLost(lost, reason);
}

void ExecutorRegistry::NotifyLost(const std::vector<ExecutorPtr>& lost, const std::string& reason) {
  if (lost.empty()) return;
  std::vector<LossListener> listeners = loss_listeners_.Get();
  for (const auto& e : lost) {
    Monitor::Global().CountExecutorLoss();
    LOG(WARNING) << "Lost executor " << e->id << " at " << e->address << ": " << reason;
    for (const auto& l : listeners) l(e, reason);
  }
}

void ExecutorRegistry::MonitorLoop() {
  absl::Duration period = std::max(absl::Milliseconds(50), options_.heartbeat_timeout / 10);
  while (true) {
    std::vector<ExecutorPtr> lost;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&shutdown_), period);
      if (shutdown_) return;
      absl::Time now = absl::Now();
      for (auto& [id, e] : executors_) {
        if (e->alive && now - e->last_heartbeat > options_.heartbeat_timeout) {
          MarkLostLocked(e, "no heartbeat", &lost);
        }
      }
    }
    NotifyLost(lost,
               absl::StrCat("no heartbeat for ", absl::FormatDuration(options_.heartbeat_timeout)));
  }
}

ExecutorPtr ExecutorRegistry::AcquireSlot(const std::vector<std::string>& preferred,
                                          absl::Duration timeout,
                                          const std::function<bool()>& cancelled,
                                          bool only_preferred) {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (true) {
    if (only_preferred) {
      bool any_alive = false;
      for (const auto& [id, e] : executors_) {
        for (const std::string& where : preferred) any_alive |= e->alive && e->address == where;
      }
      if (!any_alive) return nullptr;
    }
    ExecutorPtr best;
    absl::Time now = absl::Now();
    // An executor that needs a particular one (its state) waits for it, reachable or not.
    bool others = !only_preferred && AnyUnavoided(now);
    for (const std::string& where : preferred) {
      for (const auto& [id, e] : executors_) {
        if (Usable(*e, others, now) && e->address == where && e->busy < e->slots) {
          best = e;
          break;
        }
      }
      if (best != nullptr) break;
    }
    if (best == nullptr && !only_preferred) {
      double least = 2;
      for (const auto& [id, e] : executors_) {
        if (!Usable(*e, others, now) || e->busy >= e->slots) continue;
        double load = static_cast<double>(e->busy) / e->slots;
        if (load < least) {
          least = load;
          best = e;
        }
      }
    }
    if (best != nullptr) {
      ++best->busy;
      return best;
    }
    if (now >= deadline || (cancelled && cancelled())) return nullptr;
    // Woken by a released slot or a registration; re-checks cancellation now and then, and
    // never sleeps past the deadline.
    slot_freed_.WaitWithTimeout(&mu_, std::min(absl::Milliseconds(100), deadline - now));
    if (shutdown_) return nullptr;
  }
}

void ExecutorRegistry::ReleaseSlot(const ExecutorPtr& e) {
  absl::MutexLock lock(&mu_);
  --e->busy;
  slot_freed_.SignalAll();
}

bool ExecutorRegistry::BeginCall(const ExecutorPtr& e, grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  if (!e->alive) return false;
  e->calls.insert(call);
  return true;
}

void ExecutorRegistry::EndCall(const ExecutorPtr& e, grpc::ClientContext* call) {
  absl::MutexLock lock(&mu_);
  e->calls.erase(call);
}

void ExecutorRegistry::SetHealth(const std::string& id, const std::string& unhealthy) {
  ExecutorPtr e;
  {
    absl::MutexLock lock(&mu_);
    auto it = executors_.find(id);
    if (it == executors_.end() || !it->second->alive || it->second->unhealthy == unhealthy) return;
    e = it->second;
    e->unhealthy = unhealthy;
  }
  if (unhealthy.empty()) {
    LOG(INFO) << "Executor " << id << " at " << e->address << " stores blocks again";
  } else {
    LOG(WARNING) << "Executor " << id << " at " << e->address
                 << " cannot store blocks; its receivers move, and it gets no replicas: "
                 << unhealthy;
  }
  for (const auto& l : health_listeners_.Get()) l(e, unhealthy);
}

void ExecutorRegistry::CallFailed(const ExecutorPtr& e) {
  absl::MutexLock lock(&mu_);
  e->avoid_until = absl::Now() + std::min(options_.heartbeat_timeout, kAvoidFor);
}

void ExecutorRegistry::CallSucceeded(const ExecutorPtr& e) {
  absl::MutexLock lock(&mu_);
  e->avoid_until = absl::InfinitePast();
}

bool ExecutorRegistry::AnyUnavoided(absl::Time now) const {
  for (const auto& [id, e] : executors_) {
    if (e->alive && e->avoid_until <= now) return true;
  }
  return false;
}

bool ExecutorRegistry::Usable(const ExecutorRecord& e, bool others_usable, absl::Time now) const {
  return e.alive && (!others_usable || e.avoid_until <= now);
}

ExecutorPtr ExecutorRegistry::PlaceReceiver(const std::string& avoid) {
  absl::MutexLock lock(&mu_);
  ExecutorPtr best;
  absl::Time now = absl::Now();
  bool others = AnyUnavoided(now);
  bool any_healthy = false;
  for (const auto& [id, e] : executors_) {
    any_healthy |= Usable(*e, others, now) && e->unhealthy.empty();
  }
  for (const auto& [id, e] : executors_) {
    // A receiver needs somewhere to store its blocks.
    if (!Usable(*e, others, now) || (any_healthy && !e->unhealthy.empty())) continue;
    if (best == nullptr || (best->id == avoid && id != avoid) ||
        (id != avoid && e->receivers < best->receivers)) {
      best = e;
    }
  }
  if (best != nullptr) ++best->receivers;
  return best;
}

void ExecutorRegistry::ReleaseReceiver(const ExecutorPtr& e) {
  absl::MutexLock lock(&mu_);
  if (e->receivers > 0) --e->receivers;
}

std::vector<ExecutorPtr> ExecutorRegistry::Alive() const {
  absl::MutexLock lock(&mu_);
  std::vector<ExecutorPtr> out;
  for (const auto& [id, e] : executors_) {
    if (e->alive) out.push_back(e);
  }
  return out;
}

ExecutorPtr ExecutorRegistry::Find(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = executors_.find(id);
  return it == executors_.end() ? nullptr : it->second;
}

bool ExecutorRegistry::IsAlive(const ExecutorPtr& e) const {
  absl::MutexLock lock(&mu_);
  return e->alive;
}

int ExecutorRegistry::TotalSlots() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [id, e] : executors_) {
    if (e->alive) n += e->slots;
  }
  return n;
}

std::vector<proto::ExecutorInfo> ExecutorRegistry::Infos() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::ExecutorInfo> out;
  for (const auto& [id, e] : executors_) {
    proto::ExecutorInfo info;
    info.set_executor_id(id);
    info.set_address(e->address);
    info.set_slots(e->slots);
    // What this registry placed, or the executor's own figures when larger: with
    // applications in processes of their own, each has its registry (and its counts).
    info.set_running_tasks(std::max(e->busy, e->stats.running_tasks()));
    info.set_blocks(e->stats.blocks());
    info.set_block_bytes(e->stats.block_bytes());
    info.set_last_heartbeat_ms(absl::ToUnixMillis(e->last_heartbeat));
    info.set_alive(e->alive);
    info.set_receivers(std::max(e->receivers, e->stats.receivers()));
    info.set_orphan_blocks_removed(e->stats.orphan_blocks_removed());
    info.set_unhealthy(e->unhealthy);
    info.set_completed_tasks(e->stats.completed_tasks());
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace internal
}  // namespace ember
