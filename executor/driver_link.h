#pragma once
// An executor's link to its driver: registration (retried with backoff, saying why while the
// driver is unreachable), heartbeats carrying the executor's figures, the live peers the
// driver answers with, and registering again when the driver no longer knows this executor
// (it restarted, or declared it lost). Owns one thread; the rest is thread-safe.
//
//   unregistered --Register ok--> registered --heartbeat says "reregister"--> unregistered
//        ^  |                                     (on_forgotten runs first)
//        +--+ failed: backoff 200 ms .. 5 s

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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
  // For the executor's own calls to the driver (reports, fetches).
  proto::Driver::Stub& stub() { return *stub_; }
  const std::string& secret() const { return options_.secret; }

 private:
  void Loop();
  bool Register();
  void Heartbeat();

  const Options options_;
  std::unique_ptr<proto::Driver::Stub> stub_;
  mutable absl::Mutex mu_;
  std::string self_ ABSL_GUARDED_BY(mu_);
  std::string executor_id_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int64_t heartbeat_interval_ms_ ABSL_GUARDED_BY(mu_) = 1000;
  std::vector<proto::Peer> peers_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  // Used by the link's thread only.
  std::string last_error_;
  int heartbeat_failures_ = 0;
};

}  // namespace internal
}  // namespace ember
