#include "runtime/job_scheduler.h"

#include <glog/logging.h>

#include "absl/strings/str_format.h"

namespace ember {
namespace internal {

JobScheduler::~JobScheduler() {
  Stop(false);
  absl::MutexLock stop_lock(&stop_mu_);
  if (jobs_.joinable() && std::this_thread::get_id() != jobs_.get_id()) jobs_.join();
}

void JobScheduler::Start(Time first_batch) {
  {
    absl::MutexLock lock(&mu_);
    next_batch_ = first_batch;
  }
  generator_ = std::thread([this] { GeneratorLoop(); });
  jobs_ = std::thread([this] { JobLoop(); });
}

void JobScheduler::Generate(Time t) {
  options_.allocate(t);
  BatchInfo info;
  info.batch_time = t;
  info.submission_ms = options_.clock->NowMs();
  info.records = options_.records(t);
  // Told before it is queued, so that the job thread's events for it come after.
  if (options_.on_batch) options_.on_batch(info, BatchEvent::kSubmitted);
  absl::MutexLock lock(&mu_);
  queue_.push_back(info);
  next_batch_ = t + options_.batch_interval;
}

void JobScheduler::GeneratorLoop() {
  while (true) {
    Time t;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      t = next_batch_;
    }
    int64_t now = options_.clock->WaitUntil(t.milliseconds(), &cancel_);
    if (now < t.milliseconds()) break;  // cancelled
    Generate(t);
  }
  bool graceful;
  {
    absl::MutexLock lock(&mu_);
    graceful = graceful_;
  }
  // A graceful stop generates, without waiting for the clock, the batches that take the
  // blocks received before the stop.
  while (graceful && options_.has_pending_input()) {
    Time t;
    {
      absl::MutexLock lock(&mu_);
      t = next_batch_;
    }
    Generate(t);
  }
  absl::MutexLock lock(&mu_);
  generator_done_ = true;
}

void JobScheduler::JobLoop() {
  while (true) {
    BatchInfo info;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || (stopping_ && (!graceful_ || generator_done_));
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() || (stopping_ && !graceful_)) return;
      info = queue_.front();
      queue_.pop_front();
    }
    info.processing_start_ms = options_.clock->NowMs();
    if (options_.on_batch) options_.on_batch(info, BatchEvent::kStarted);
    info.failure = options_.run_batch(info.batch_time);
    info.processing_end_ms = options_.clock->NowMs();
    if (options_.on_batch) options_.on_batch(info, BatchEvent::kCompleted);
    LOG(INFO) << absl::StrFormat("Total delay: %.3f s for time %d ms (execution: %.3f s)",
                                 info.total_delay_ms() / 1000.0, info.batch_time.milliseconds(),
                                 info.processing_time_ms() / 1000.0);
    options_.cleanup(info.batch_time);
    absl::MutexLock lock(&mu_);
    completed_.push_back(info);
    while (completed_.size() > options_.retained_batches) completed_.pop_front();
    last_completed_ms_ = info.batch_time.milliseconds();
  }
}

void JobScheduler::Stop(bool graceful) {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      // A second stop may only make a graceful stop less graceful.
      if (!graceful) graceful_ = false;
    } else {
      stopping_ = true;
      graceful_ = graceful;
    }
  }
  cancel_ = true;
  options_.clock->Wake();
  if (generator_.joinable()) generator_.join();
  // stop() called by an output operation runs on the job thread: it cannot wait for itself.
  // The thread exits after the current batch; the destructor joins it.
  if (std::this_thread::get_id() == jobs_.get_id()) return;
  if (jobs_.joinable()) jobs_.join();
}

bool JobScheduler::WaitForBatch(Time t, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this, t]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return last_completed_ms_ >= t.milliseconds();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

std::vector<BatchInfo> JobScheduler::CompletedBatches() const {
  absl::MutexLock lock(&mu_);
  return std::vector<BatchInfo>(completed_.begin(), completed_.end());
}

}  // namespace internal
}  // namespace ember
