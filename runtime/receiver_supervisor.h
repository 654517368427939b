#pragma once
// Runs one receiver where it is placed: starts it, cuts what it stores into a block every
// block interval (the block generator), stores each block and reports it, and carries out
// the receiver's restart/stop/error requests.
//
//   Start() --> running --restart()--> stopping (onStop) --delay--> running (onStart)
//                  |
//                  +--stop()/Stop()--> stopped (final block cut and reported)
//
// Threads: the block generator thread (owned), a restart thread while restarting (owned); the
// receiver's own threads call store() and the control methods. Thread-safe.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/receiver.h"
#include "common/time.h"
#include "proto/task.pb.h"
#include "runtime/block_store.h"
#include "util/clock.h"
#include "util/op_registry.h"
#include "util/rate_limiter.h"

namespace ember {
namespace internal {

struct ReceivedBlock {
  int stream_id = 0;
  std::string block_id;
  int64_t records = 0;
  Time time;                           // the block interval's end
  std::vector<std::string> locations;  // cluster: executors holding a copy (host:port)
  std::string wal_path;                // its copy in the write-ahead log, if enabled
};

class ReceiverSupervisor {
 public:
  struct Options {
    int stream_id = 0;
    Clock* clock = nullptr;
    Duration block_interval = Milliseconds(200);
    // Blocks are cut at the multiples of the block interval and of this one (the batch
    // interval; 0: none), so that no block spans two batches.
    Duration batch_interval = Milliseconds(0);
    int64_t restart_delay_ms = 2000;
    BlockStore* store = nullptr;
    // Prepended to block ids: cluster executors make them unique per app and receiver run.
    std::string block_prefix;
    // Write-ahead log directory (ember.streaming.receiver.writeAheadLog.enable): each block is
    // written there, fsynced, before it is stored and reported. Empty: no log.
    std::string wal_dir;
    // A stored block (records > 0), or a watermark (records == 0, empty block_id): every
    // record stored before `time` has been reported. Returns the time through which the
    // stream's batches are processed (0: not known), which frees their blocks' bytes from
    // max_buffered_bytes.
    std::function<int64_t(const ReceivedBlock&)> report;
    std::function<void(int stream_id, proto::ReceiverEvent event, const std::string& message)>
        on_event;
    // ember.streaming.receiver.maxRate: records per second, 0 for none. Backpressure's rate
    // (SetBackpressureRate) applies under it.
    double max_rate = 0;
    // ember.streaming.receiver.maxBufferedBytes: once the blocks stored but not yet
    // processed by a batch hold this many bytes, store() waits (and a socket receiver stops
    // reading, so TCP holds its sender back) until batches catch up. 0: no bound.
    int64_t max_buffered_bytes = 0;
  };
  ReceiverSupervisor(Options options, std::unique_ptr<ReceiverBase> receiver);
  ~ReceiverSupervisor();

  void Start();
  // Stops the receiver, cuts and reports the last block, and joins the threads.
  void Stop(const std::string& reason);

  // Called through ReceiverBase.
  void Restart(const std::string& message, int64_t delay_ms);
  void ReportError(const std::string& message);
  void StopReceiver(const std::string& message);
  bool IsStopped() const;
  bool IsStarted() const;
  int stream_id() const { return options_.stream_id; }
  // Receiver::storeReliably: stores `bytes` as a block of its own now; true once it is stored
  // (and logged) and reported.
  bool StoreReliably(std::string bytes, int64_t records);
  // Backpressure's estimate (records per second; 0: none), capped by Options::max_rate.
  void SetBackpressureRate(double rate);
  // The rate limit in force (0: none).
  double rate_limit() const { return limiter_.rate(); }
  // Receiver::store: waits until `n` more records fit under the rate limit and the buffered
  // bytes are under their bound (or a stop).
  void WaitToPush(int64_t n);
  // The bytes of the blocks stored and not yet processed, as last heard.
  int64_t buffered_bytes() const;

 private:
  void GeneratorLoop();
  // The first cut time after `t`, and the last at or before it.
  int64_t NextCut(int64_t t) const;
  int64_t LastCut(int64_t t) const;
  void CutBlock(Time t);
  // Logs, stores and reports a block (records > 0); false when it could not be stored.
  bool StoreAndReport(ReceivedBlock* block, std::string bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_);
  void StartReceiver();
  void StopReceiverCallbacks(const std::string& reason);
  // Reports `block` (of `bytes` bytes; 0 for a watermark) and frees what the answer says is
  // processed.
  void Report(const ReceivedBlock& block, int64_t bytes);
  // Whether store() must call WaitToPush: a rate limit, or the buffered bytes over the bound.
  void UpdateLimited() ABSL_EXCLUSIVE_LOCKS_REQUIRED(buffer_mu_);

  Options options_;
  std::unique_ptr<ReceiverBase> receiver_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool restarting_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_block_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex callbacks_mu_;  // the receiver's onStart/onStop, one at a time
  bool callbacks_started_ ABSL_GUARDED_BY(callbacks_mu_) = false;
  absl::Mutex cut_mu_;  // one block cut at a time
  int64_t reliable_seq_ ABSL_GUARDED_BY(cut_mu_) = 0;
  std::atomic<bool> cancel_{false};  // wakes the generator out of the clock on stop
  RateLimiter limiter_;
  mutable absl::Mutex buffer_mu_;
  // The blocks stored and not yet processed: (block time, bytes), oldest first.
  std::deque<std::pair<int64_t, int64_t>> buffered_ ABSL_GUARDED_BY(buffer_mu_);
  int64_t buffered_bytes_ ABSL_GUARDED_BY(buffer_mu_) = 0;
  // Past half the bound store() calls WaitToPush, which counts the records it lets pass
  // into the block being filled, at the last block's bytes per record.
  int64_t pending_records_ ABSL_GUARDED_BY(buffer_mu_) = 0;
  double bytes_per_record_ ABSL_GUARDED_BY(buffer_mu_) = 0;
  bool waiting_logged_ ABSL_GUARDED_BY(buffer_mu_) = false;  // said once a run
  bool Room() const ABSL_SHARED_LOCKS_REQUIRED(buffer_mu_);
  std::thread generator_;
  std::thread restarter_;
  std::thread stopper_;
};

// Builds a receiver from its factory's spec, as local mode and the executors do; a factory
// that throws is an InvalidArgument naming why.
absl::StatusOr<std::unique_ptr<ReceiverBase>> CreateReceiver(const OpResolver& ops,
                                                             const proto::OpSpec& factory);

}  // namespace internal
}  // namespace ember
