#pragma once
// The receivers of one application on one executor, each under the same supervisor local
// mode uses: a block is stored (this executor's RocksDB, then the peers) and only then reported
// to the driver, with its locations. A receiver's run is named by its incarnation: a newer
// start of a stream stops the older run, and a stop for another run changes nothing.
// Lives in the application's task process (or the executor's, with isolation=thread).
// Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/receiver.h"
#include "proto/cluster.grpc.pb.h"
#include "runtime/receiver_supervisor.h"
#include "util/clock.h"

namespace ember {
namespace internal {

class ReceiverHost {
 public:
  struct Options {
    std::string app_id;
    // Stores a received block before it is reported; returns the addresses holding a copy.
    std::function<absl::StatusOr<std::vector<std::string>>(
        const std::string& id, std::string bytes, int replication,
        const std::vector<proto::Peer>& initial_peers)>
        store;
    proto::Driver::Stub* driver = nullptr;  // reports go there
    std::string secret;
    std::function<std::string()> executor_id;
  };
  explicit ReceiverHost(Options options) : options_(std::move(options)) {}
  ~ReceiverHost() { Shutdown(); }
  ReceiverHost(const ReceiverHost&) = delete;
  ReceiverHost& operator=(const ReceiverHost&) = delete;

  // Runs `receiver` for the request's stream (an older run of the stream stops first).
  // Unavailable once shut down.
  absl::Status Start(const proto::StartReceiverRequest& request,
                     std::unique_ptr<ReceiverBase> receiver);
  // Stops the stream's receiver if it is run `incarnation`.
  void Stop(int stream_id, int64_t incarnation, const std::string& reason);
  void StopAll(const std::string& reason);
  // Backpressure's new rate for the stream's receiver, if it is run `incarnation`.
  void SetRate(int stream_id, int64_t incarnation, double rate);
  // Refuses new starts and stops every receiver, each reporting its last block.
  void Shutdown();
  int size() const;

 private:
  class Sink;
  struct Running {
    int64_t incarnation = 0;
    std::unique_ptr<Sink> sink;
    std::unique_ptr<Clock> clock;
    std::unique_ptr<ReceiverSupervisor> supervisor;
  };
  // Removes the receivers `pick` selects and stops them, outside the lock.
  void StopWhere(const std::function<bool(int stream, const Running&)>& pick,
                 const std::string& reason);
  // Reports a block or watermark to the driver; the driver's processed-through time (0: not
  // known).
  int64_t Report(int64_t incarnation, Sink* sink, const ReceivedBlock& b);
  // Not stopped (nor superseded).
  bool IsRunning(int stream_id, int64_t incarnation) const;
  void ReportEvent(int64_t incarnation, int stream, proto::ReceiverEvent event,
                   const std::string& message);

  const Options options_;
  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int, std::shared_ptr<Running>> receivers_ ABSL_GUARDED_BY(mu_);  // by stream
};

}  // namespace internal
}  // namespace ember
