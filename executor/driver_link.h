#pragma once
// An executor's link to its driver: registration (retried with backoff, saying why while the
// driver is unreachable), heartbeats carrying the executor's figures, the live peers and
// applications the driver answers with, and registering again when the driver no longer
// knows this executor (it restarted, or declared it lost). Owns one thread; the rest is
// thread-safe.
//
//   unregistered --Register ok--> registered --heartbeat says "reregister"--> unregistered
//        ^  |                        |  ^                (on_forgotten runs first)
//        +--+ failed: backoff        |  | heartbeat ok, carrying "fenced": the driver
//             200 ms .. 5 s          v  | declares this executor lost and says "reregister"
//                                  fenced (on_fenced ran: its receivers are stopped)
//
// Fencing: the driver declares an executor lost when it has heard no heartbeat for the
// heartbeat timeout, and then starts the executor's receivers elsewhere. So that a receiver
// never runs twice, the executor stops its work first: when no heartbeat sent in the last
// (timeout - one interval) has been answered. The driver received the last answered heartbeat
// after it was sent, so its clock for the loss started later than the executor's.
// A failed heartbeat is retried every quarter interval on a new connection, so that a healed
// link is used again at once rather than after a reconnect backoff.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace internal {

class DriverLink {
 public:
  struct Options {
    std::string driver;  // host:port
    std::string secret;
    int slots = 1;
    // Fills a heartbeat's figures (blocks, bytes, receivers, running tasks).
    std::function<void(proto::HeartbeatRequest*)> fill_heartbeat;
    // The driver forgot this executor: drop every application's work before registering.
    std::function<void()> on_forgotten;
    // No answered heartbeat for (almost) the heartbeat timeout: stop every receiver and task.
    std::function<void(const std::string& reason)> on_fenced;
    // The applications the driver runs, answering a heartbeat sent at `asked`.
    std::function<void(const std::vector<std::string>& live, absl::Time asked)> on_live_apps;
  };
  explicit DriverLink(Options options);
  ~DriverLink();
  DriverLink(const DriverLink&) = delete;
  DriverLink& operator=(const DriverLink&) = delete;

  // `self`: the address this executor serves on, known once its server listens.
  void Start(const std::string& self);
  // Returns once the link's thread has ended.
  void Shutdown();

  // Empty until registered.
  std::string executor_id() const;
  // Empty until Start.
  std::string self() const;
  // The other live executors, as of the last heartbeat.
  std::vector<proto::Peer> peers() const;
  // The driver's heartbeat timeout (known once registered).
  int64_t heartbeat_timeout_ms() const;
  // For the executor's own calls to the driver (reports, fetches).
  proto::Driver::Stub& stub() { return *stub_; }
  const std::string& secret() const { return options_.secret; }

 private:
  void Loop();
  bool Register();
  // False when the heartbeat failed (it is then retried sooner).
  bool Heartbeat();
  void RenewConnection();

  const Options options_;
  std::unique_ptr<proto::Driver::Stub> stub_;
  mutable absl::Mutex mu_;
  bool fenced_ ABSL_GUARDED_BY(mu_) = false;
  int64_t heartbeat_timeout_ms_ ABSL_GUARDED_BY(mu_) = 10000;
  std::string self_ ABSL_GUARDED_BY(mu_);
  std::string executor_id_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int64_t heartbeat_interval_ms_ ABSL_GUARDED_BY(mu_) = 1000;
  std::vector<proto::Peer> peers_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  // Used by the link's thread only.
  std::unique_ptr<proto::Driver::Stub> heartbeat_stub_;  // registration and heartbeats
  std::string last_error_;
  int heartbeat_failures_ = 0;
  absl::Time last_answered_;  // when the last answered heartbeat (or registration) was sent
};

}  // namespace internal
}  // namespace ember
