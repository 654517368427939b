#include "runtime/receiver_supervisor.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "util/durable_file.h"

namespace ember {

// ReceiverBase's control methods forward to the supervisor running it.
void ReceiverBase::restart(const std::string& message, int64_t delay_ms) {
  if (supervisor_ != nullptr) supervisor_->Restart(message, delay_ms);
}
void ReceiverBase::reportError(const std::string& message) {
  if (supervisor_ != nullptr) supervisor_->ReportError(message);
}
void ReceiverBase::stop(const std::string& message) {
  if (supervisor_ != nullptr) supervisor_->StopReceiver(message);
}
bool ReceiverBase::isStopped() const { return supervisor_ == nullptr || supervisor_->IsStopped(); }
bool ReceiverBase::isStarted() const { return supervisor_ != nullptr && supervisor_->IsStarted(); }
bool ReceiverBase::StoreBlockNow(std::string bytes, int64_t records) {
  return supervisor_ != nullptr && supervisor_->StoreReliably(std::move(bytes), records);
}
void ReceiverBase::WaitToPush(int64_t n) {
  if (supervisor_ != nullptr) supervisor_->WaitToPush(n);
}
int ReceiverBase::streamId() const {
  return supervisor_ == nullptr ? -1 : supervisor_->stream_id();
}

namespace internal {

absl::StatusOr<std::unique_ptr<ReceiverBase>> CreateReceiver(const OpResolver& ops,
                                                             const proto::OpSpec& factory) {
  auto op = ops.CreateAs<ReceiverFactoryOp>(factory);
  if (!op.ok()) return op.status();
  try {
    return (*op)->Create();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("cannot create receiver: ") + e.what());
  }
}

ReceiverSupervisor::ReceiverSupervisor(Options options, std::unique_ptr<ReceiverBase> receiver)
    : options_(std::move(options)), receiver_(std::move(receiver)) {
  receiver_->Attach(this);
  SetBackpressureRate(0);
}

void ReceiverSupervisor::SetBackpressureRate(double rate) {
  double limit = CombinedRateLimit(options_.max_rate, rate);
  limiter_.SetRate(limit);
  absl::MutexLock lock(&buffer_mu_);
  UpdateLimited();
}

void ReceiverSupervisor::UpdateLimited() {
  // Below half the bound store() runs free (a flag check); above, each call is counted.
  bool near = options_.max_buffered_bytes > 0 && buffered_bytes_ >= options_.max_buffered_bytes / 2;
  receiver_->SetRateLimited(limiter_.rate() > 0 || near);
}

bool ReceiverSupervisor::Room() const {
  return buffered_bytes_ + static_cast<int64_t>(pending_records_ * bytes_per_record_) <
         options_.max_buffered_bytes;
}

void ReceiverSupervisor::WaitToPush(int64_t n) {
  if (options_.max_buffered_bytes > 0) {
    absl::MutexLock lock(&buffer_mu_);
    // Woken by the reports that free bytes; a stop is checked between waits.
    if (!Room() && !waiting_logged_) {
      waiting_logged_ = true;
      LOG(INFO) << "receiver " << options_.stream_id << " holds " << buffered_bytes_
                << " bytes of blocks no batch has processed yet "
                << "(ember.streaming.receiver.maxBufferedBytes " << options_.max_buffered_bytes
                << "): it waits for the batches";
    }
    while (!Room()) {
      buffer_mu_.AwaitWithTimeout(absl::Condition(this, &ReceiverSupervisor::Room),
                                  absl::Milliseconds(100));
      if (Room()) break;
      buffer_mu_.Unlock();
      bool stopped = IsStopped();
      buffer_mu_.Lock();
      if (stopped) return;
    }
    pending_records_ += n;
  }
  limiter_.Acquire(n, [this] { return IsStopped(); });
}

int64_t ReceiverSupervisor::buffered_bytes() const {
  absl::MutexLock lock(&buffer_mu_);
  return buffered_bytes_;
}

void ReceiverSupervisor::Report(const ReceivedBlock& block, int64_t bytes) {
  if (options_.max_buffered_bytes > 0) {
    // Counted before the report: the answer may already free it.
    absl::MutexLock lock(&buffer_mu_);
    pending_records_ =
        block.records > 0 ? std::max<int64_t>(0, pending_records_ - block.records) : 0;
    if (bytes > 0) {
      buffered_.emplace_back(block.time.milliseconds(), bytes);
      buffered_bytes_ += bytes;
      bytes_per_record_ = static_cast<double>(bytes) / static_cast<double>(block.records);
    }
  }
  int64_t processed = options_.report(block);
  if (options_.max_buffered_bytes <= 0) return;
  absl::MutexLock lock(&buffer_mu_);
  // A block of time t is in a batch of time t or later: freed once that batch is processed.
  while (!buffered_.empty() && buffered_.front().first <= processed) {
    buffered_bytes_ -= buffered_.front().second;
    buffered_.pop_front();
  }
  UpdateLimited();
}

ReceiverSupervisor::~ReceiverSupervisor() {
  Stop("supervisor destroyed");
  if (stopper_.joinable()) stopper_.join();
}

void ReceiverSupervisor::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) return;
    started_ = true;
    next_block_ = NextCut(options_.clock->NowMs());
  }
  StartReceiver();
  generator_ = std::thread([this] { GeneratorLoop(); });
}

void ReceiverSupervisor::StartReceiver() {
  absl::MutexLock lock(&callbacks_mu_);
  callbacks_started_ = true;  // onStop follows even an onStart that threw half-way
  try {
    receiver_->onStart();
    options_.on_event(options_.stream_id, proto::RECEIVER_STARTED, "");
  } catch (const std::exception& e) {
    options_.on_event(options_.stream_id, proto::RECEIVER_ERROR,
                      std::string("onStart failed: ") + e.what());
  }
}

void ReceiverSupervisor::StopReceiverCallbacks(const std::string& reason) {
  // A stop and a restart may both get here: onStop runs once per onStart, never concurrently.
  absl::MutexLock lock(&callbacks_mu_);
  if (!callbacks_started_) return;
  callbacks_started_ = false;
  try {
    receiver_->onStop();
  } catch (const std::exception& e) {
    LOG(WARNING) << "receiver " << options_.stream_id << " onStop failed: " << e.what();
  }
}

int64_t ReceiverSupervisor::NextCut(int64_t t) const {
  int64_t block = options_.block_interval.milliseconds();
  int64_t next = (t / block + 1) * block;
  int64_t batch = options_.batch_interval.milliseconds();
  if (batch > 0) next = std::min(next, (t / batch + 1) * batch);
  return next;
}

int64_t ReceiverSupervisor::LastCut(int64_t t) const {
  int64_t block = options_.block_interval.milliseconds();
  int64_t last = t / block * block;
  int64_t batch = options_.batch_interval.milliseconds();
  if (batch > 0) last = std::max(last, t / batch * batch);
  return last;
}

void ReceiverSupervisor::GeneratorLoop() {
  while (true) {
    int64_t target;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      target = next_block_;
    }
    int64_t now = options_.clock->WaitUntil(target, &cancel_);
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    if (now < target) continue;  // interrupted without a stop: wait again
    // After a jump of the clock, one block covers every interval it skipped.
    int64_t cut = LastCut(now);
    next_block_ = NextCut(cut);
    mu_.Unlock();
    CutBlock(Time(cut));
    mu_.Lock();
  }
}

void ReceiverSupervisor::CutBlock(Time t) {
  absl::MutexLock lock(&cut_mu_);
  std::string bytes;
  int64_t records = 0;
  receiver_->TakeBlock(&bytes, &records);
  ReceivedBlock block;
  block.stream_id = options_.stream_id;
  block.time = t;
  if (records > 0) {
    block.block_id =
        absl::StrCat(options_.block_prefix, "input-", options_.stream_id, "-", t.milliseconds());
    block.records = records;
    if (!StoreAndReport(&block, std::move(bytes))) {
      block.block_id.clear();
      block.records = 0;
    } else {
      return;  // reported
    }
  }
  Report(block, 0);  // a watermark
}

bool ReceiverSupervisor::StoreAndReport(ReceivedBlock* block, std::string bytes) {
  if (!options_.wal_dir.empty()) {
    block->wal_path =
        absl::StrCat(options_.wal_dir, "/", absl::StrReplaceAll(block->block_id, {{"/", "_"}}));
    // A header line lets a restarted driver find the blocks it was not told of.
    absl::Status s =
        WriteFramedFile(block->wal_path, "EWAL",
                        absl::StrCat(block->stream_id, " ", block->time.milliseconds(), " ",
                                     block->records, " ", block->block_id, "\n", bytes));
    if (!s.ok()) {
      options_.on_event(
          options_.stream_id, proto::RECEIVER_ERROR,
          "could not log block " + block->block_id + " in the write-ahead log: " + s.ToString());
      return false;
    }
  }
  const int64_t size = static_cast<int64_t>(bytes.size());
  absl::Status s = options_.store->Put(block->block_id, std::move(bytes));
  if (!s.ok()) {
    // The records are lost to this run; say so loudly rather than report a block we lack.
    options_.on_event(options_.stream_id, proto::RECEIVER_ERROR,
                      "could not store block " + block->block_id + ": " + s.ToString());
    if (!block->wal_path.empty()) unlink(block->wal_path.c_str());
    return false;
  }
  Report(*block, size);
  return true;
}

bool ReceiverSupervisor::StoreReliably(std::string bytes, int64_t records) {
  if (records <= 0) return true;
  absl::MutexLock lock(&cut_mu_);
  Time t;
  {
    absl::MutexLock state(&mu_);
    if (!started_ || stopped_) return false;
    // Part of the current block interval: reported before that interval's watermark.
    t = Time(next_block_);
  }
  ReceivedBlock block;
  block.stream_id = options_.stream_id;
  block.time = t;
  block.records = records;
  block.block_id = absl::StrCat(options_.block_prefix, "input-", options_.stream_id, "-",
                                t.milliseconds(), "-r", ++reliable_seq_);
  return StoreAndReport(&block, std::move(bytes));
}

void ReceiverSupervisor::Stop(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) {
      stopped_ = true;
      return;
    }
    stopped_ = true;
  }
  StopReceiverCallbacks(reason);
  cancel_ = true;
  options_.clock->Wake();
  if (generator_.joinable()) generator_.join();
  if (restarter_.joinable()) restarter_.join();
  // What was stored before the stop still belongs to the stream.
  CutBlock(Time(options_.clock->NowMs()));
  options_.on_event(options_.stream_id, proto::RECEIVER_STOPPED, reason);
}

void ReceiverSupervisor::Restart(const std::string& message, int64_t delay_ms) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || restarting_) return;
    restarting_ = true;
  }
  if (delay_ms < 0) delay_ms = options_.restart_delay_ms;
  LOG(WARNING) << "Restarting receiver " << options_.stream_id << " in " << delay_ms
               << " ms: " << message;
  options_.on_event(options_.stream_id, proto::RECEIVER_ERROR, message);
  if (restarter_.joinable()) restarter_.join();
  restarter_ = std::thread([this, delay_ms, message] {
    StopReceiverCallbacks("restarting: " + message);
    {
      absl::MutexLock lock(&mu_);
      // Real time, as Spark's restart delay: it is about the source, not about batches.
      mu_.AwaitWithTimeout(absl::Condition(&stopped_), absl::Milliseconds(delay_ms));
      restarting_ = false;
      if (stopped_) return;
    }
    LOG(INFO) << "Receiver " << options_.stream_id << " restarted";
    StartReceiver();
  });
}

void ReceiverSupervisor::ReportError(const std::string& message) {
  LOG(WARNING) << "Receiver " << options_.stream_id << " reported an error: " << message;
  options_.on_event(options_.stream_id, proto::RECEIVER_ERROR, message);
}

void ReceiverSupervisor::StopReceiver(const std::string& message) {
  // Called from the receiver's own threads: stop from another thread so that onStop can
  // join them.
  absl::MutexLock lock(&mu_);
  if (stopped_ || stopper_.joinable()) return;
  stopper_ = std::thread([this, message] { Stop(message); });
}

bool ReceiverSupervisor::IsStopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_ || restarting_;
}

bool ReceiverSupervisor::IsStarted() const {
  absl::MutexLock lock(&mu_);
  return started_ && !stopped_ && !restarting_;
}

}  // namespace internal
}  // namespace ember
