#pragma once
// The driver's view of its executors: registration, heartbeats, loss detection (missed
// heartbeats for the heartbeat timeout, or calls that find the executor unreachable for as
// long), task slots and receiver counts.
// A lost executor's in-flight calls are cancelled and the loss listeners (the applications)
// are told, so that they re-run its tasks and restart its receivers elsewhere. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace internal {

struct ExecutorRecord {
  std::string id;
  std::string address;
  int slots = 1;
  std::unique_ptr<proto::Executor::Stub> stub;
  // Guarded by the registry's mutex.
  bool alive = true;
  int busy = 0;       // slots taken by tasks the driver sent
  int receivers = 0;  // receivers placed here
  absl::Time last_heartbeat;
  // A call to it failed (a partition, say) and none has succeeded since: new work goes to
  // the others until then, if there are others.
  absl::Time avoid_until;
  // Why it cannot store blocks (its heartbeats say); empty when it can. Receivers are not
  // placed on it while another executor can store them.
  std::string unhealthy;
  proto::HeartbeatRequest stats;
  std::set<grpc::ClientContext*> calls;
};
using ExecutorPtr = std::shared_ptr<ExecutorRecord>;

class ExecutorRegistry {
 public:
  struct Options {
    absl::Duration heartbeat_interval = absl::Milliseconds(500);
    absl::Duration heartbeat_timeout = absl::Seconds(10);
    std::string secret;
    // False in an application's driver process: its registry mirrors the daemon's (Adopt,
    // MarkLost from the daemon's events), which alone hears heartbeats.
    bool detect_loss = true;
    // A call found an executor unreachable (Unreachable): the mirror tells the daemon.
    std::function<void(const std::string& id, const std::string& reason)> on_unreachable;
  };
  explicit ExecutorRegistry(Options options);
  ~ExecutorRegistry();

  const std::string& secret() const { return options_.secret; }
  absl::Duration heartbeat_interval() const { return options_.heartbeat_interval; }
  absl::Duration heartbeat_timeout() const { return options_.heartbeat_timeout; }

  // A new id; an executor registering again from the same address replaces its old record
  // (the old one is lost: it restarted).
  std::string Register(const std::string& address, int slots);
  // False when the executor is unknown or was declared lost: it must register again. An
  // executor that says it fenced itself is declared lost here (if it was not already).
  bool Heartbeat(const proto::HeartbeatRequest& request, proto::HeartbeatReply* reply);
  void MarkLost(const std::string& id, const std::string& reason);
  // Calls found the executor unreachable for the heartbeat timeout: lost, and
  // Options::on_unreachable is told.
  void Unreachable(const std::string& id, const std::string& reason);
  // A call to `e` failed as unreachable: until one succeeds (CallSucceeded) or kAvoidFor (at
  // most the heartbeat timeout) passes, AcquireSlot and PlaceReceiver choose it only when no
  // other is alive. Short, so that one lost reply costs little; a partitioned executor is
  // tried again that often, each try failing fast.
  static constexpr absl::Duration kAvoidFor = absl::Seconds(2);
  void CallFailed(const ExecutorPtr& e);
  void CallSucceeded(const ExecutorPtr& e);
  // Records whether executor `id` can store blocks (`unhealthy` empty) or why not, and tells
  // the health listeners when that changed. Heartbeats set it, and mirrors from the daemon's.
  void SetHealth(const std::string& id, const std::string& unhealthy);
  // A mirror's copy of the daemon's executor `id` (a no-op when it is known).
  void Adopt(const std::string& id, const std::string& address, int slots);

  // Waits until a live executor has a free slot, taking one there: an executor whose address
  // is in `preferred` first, else the least busy. Null at the deadline or when `cancelled`
  // returns true (checked periodically). With `only_preferred`, only there: null at once when
  // none of them is alive.
  ExecutorPtr AcquireSlot(const std::vector<std::string>& preferred, absl::Duration timeout,
                          const std::function<bool()>& cancelled, bool only_preferred = false);
  void ReleaseSlot(const ExecutorPtr& e);
  // Tracks a call so that the executor's loss cancels it; false (not tracked) when it is
  // already lost.
  bool BeginCall(const ExecutorPtr& e, grpc::ClientContext* call);
  void EndCall(const ExecutorPtr& e, grpc::ClientContext* call);

  // The live executor with the fewest receivers, not `avoid` if another exists; counts the
  // receiver. Null when none is alive.
  ExecutorPtr PlaceReceiver(const std::string& avoid);
  void ReleaseReceiver(const ExecutorPtr& e);

  std::vector<ExecutorPtr> Alive() const;
  ExecutorPtr Find(const std::string& id) const;
  bool IsAlive(const ExecutorPtr& e) const;
  int TotalSlots() const;
  std::vector<proto::ExecutorInfo> Infos() const;

  using LossListener = std::function<void(const ExecutorPtr&, const std::string& reason)>;
  int AddLossListener(LossListener listener) { return loss_listeners_.Add(std::move(listener)); }
  void RemoveLossListener(int token) { loss_listeners_.Remove(token); }
  // Called with each executor that registers (or is adopted), outside the registry's lock.
  using AddListener = std::function<void(const ExecutorPtr&)>;
  int AddAddListener(AddListener listener) { return add_listeners_.Add(std::move(listener)); }
  void RemoveAddListener(int token) { add_listeners_.Remove(token); }
  // Called when a live executor's health changes (`unhealthy` empty: healthy again), outside
  // the registry's lock.
  using HealthListener = std::function<void(const ExecutorPtr&, const std::string& unhealthy)>;
  int AddHealthListener(HealthListener listener) {
    return health_listeners_.Add(std::move(listener));
  }
  void RemoveHealthListener(int token) { health_listeners_.Remove(token); }

 private:
  // Listeners by token; called from a copy, outside any lock.
  template <typename F>
  class Listeners {
   public:
    int Add(F f) {
      absl::MutexLock lock(&mu_);
      fns_[++next_] = std::move(f);
      return next_;
    }
    void Remove(int token) {
      absl::MutexLock lock(&mu_);
      fns_.erase(token);
    }
    std::vector<F> Get() const {
      absl::MutexLock lock(&mu_);
      std::vector<F> out;
      for (const auto& [token, f] : fns_) out.push_back(f);
      return out;
    }

   private:
    mutable absl::Mutex mu_;
    int next_ ABSL_GUARDED_BY(mu_) = 0;
    std::map<int, F> fns_ ABSL_GUARDED_BY(mu_);
  };

  void MonitorLoop();
  // Alive, and not avoided unless every live executor is.
  bool Usable(const ExecutorRecord& e, bool others_usable, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnyUnavoided(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkLostLocked(const ExecutorPtr& e, const std::string& reason,
                      std::vector<ExecutorPtr>* lost) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLost(const std::vector<ExecutorPtr>& lost, const std::string& reason);
  void NotifyAdded(const ExecutorPtr& e);

  const Options options_;
  mutable absl::Mutex mu_;
  absl::CondVar slot_freed_;  // a slot was released or an executor registered
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, ExecutorPtr> executors_ ABSL_GUARDED_BY(mu_);  // every one ever seen
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  Listeners<LossListener> loss_listeners_;
  Listeners<AddListener> add_listeners_;
  Listeners<HealthListener> health_listeners_;
  std::thread monitor_;
};

}  // namespace internal
}  // namespace ember
