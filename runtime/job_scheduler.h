#pragma once
// The batch clock and the job thread (Spark's JobGenerator and JobScheduler).
//
// The generator thread waits on the Clock for each batch time, asks for the batch's blocks to
// be allocated, and queues the batch; the job thread runs queued batches one after another and
// records their delays. Owns both threads. Thread-safe.
//
//   start --> generating --Stop(graceful)--> drain: batches up to the last received block are
//                 |                            generated at once, the queue is run, then exit
//                 +------Stop(!graceful)----> the running batch completes, the queue is dropped

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/time.h"
#include "util/clock.h"

namespace ember {
namespace internal {

struct BatchInfo {
  Time batch_time;
  int64_t submission_ms = 0;  // when the batch was generated
  int64_t processing_start_ms = -1;
  int64_t processing_end_ms = -1;
  int64_t records = 0;
  std::string failure;  // first output operation's failure, if any

  int64_t scheduling_delay_ms() const { return processing_start_ms - batch_time.milliseconds(); }
  int64_t processing_time_ms() const { return processing_end_ms - processing_start_ms; }
  int64_t total_delay_ms() const { return processing_end_ms - batch_time.milliseconds(); }
};

// A batch's steps, as the listeners hear them.
enum class BatchEvent { kSubmitted, kStarted, kCompleted };

class JobScheduler {
 public:
  struct Options {
    Clock* clock = nullptr;
    Duration batch_interval;
    std::function<void(Time)> allocate;          // generator thread
    std::function<int64_t(Time)> records;        // generator thread
    std::function<std::string(Time)> run_batch;  // job thread; returns a failure or ""
    std::function<void(Time)> cleanup;           // job thread, after the batch
    std::function<bool()> has_pending_input;     // for a graceful stop
    size_t retained_batches = 1000;
    // Told when a batch is queued (generator thread), starts and completes (job thread).
    std::function<void(const BatchInfo&, BatchEvent event)> on_batch;
  };
  explicit JobScheduler(Options options) : options_(std::move(options)) {}
  ~JobScheduler();

  void Start(Time first_batch);
  void Stop(bool graceful);

  bool OnJobThread() const { return std::this_thread::get_id() == jobs_.get_id(); }
  // Waits (real time) until batch t has completed; false on timeout.
  bool WaitForBatch(Time t, absl::Duration timeout);
  std::vector<BatchInfo> CompletedBatches() const;

 private:
  void GeneratorLoop();
  void JobLoop();
  void Generate(Time t);

  Options options_;
  std::atomic<bool> cancel_{false};
  absl::Mutex stop_mu_;  // one stop sequence at a time (the job thread may stop too)
  mutable absl::Mutex mu_;
  Time next_batch_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool graceful_ ABSL_GUARDED_BY(mu_) = false;
  bool generator_done_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<BatchInfo> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<BatchInfo> completed_ ABSL_GUARDED_BY(mu_);
  int64_t last_completed_ms_ ABSL_GUARDED_BY(mu_) = -1;
  std::thread generator_;
  std::thread jobs_;
};

}  // namespace internal
}  // namespace ember
