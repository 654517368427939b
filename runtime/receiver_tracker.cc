#include "runtime/receiver_tracker.h"

#include <glog/logging.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "util/durable_file.h"

namespace ember {
namespace internal {

ReceiverTracker::~ReceiverTracker() { StopAll(); }

int ReceiverTracker::AddStream(std::shared_ptr<const ReceiverFactoryOp> factory) {
  absl::MutexLock lock(&mu_);
  factories_.push_back(ToSpec(*factory));
  return static_cast<int>(factories_.size()) - 1;
}

int ReceiverTracker::num_streams() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(factories_.size());
}

absl::Status ReceiverTracker::StartAll() {
  std::vector<proto::OpSpec> factories;
  std::string wal_dir;
  {
    absl::MutexLock lock(&mu_);
    running_ = true;
    factories = factories_;
    wal_dir = wal_dir_;
    for (size_t id = 0; id < factories_.size(); ++id) {
      watermarks_[static_cast<int>(id)] = options_.clock->NowMs();
      statuses_[static_cast<int>(id)].stream_id = static_cast<int>(id);
    }
  }
  if (factories.empty()) return absl::OkStatus();
  ReceiverSettings settings;
  settings.block_interval_ms = options_.block_interval.milliseconds();
  settings.batch_interval_ms = options_.batch_interval.milliseconds();
  settings.restart_delay_ms = options_.restart_delay_ms;
  settings.wal_dir = wal_dir;
  settings.max_rate = options_.max_rate;
  settings.initial_rate = options_.initial_rate;
  settings.max_buffered_bytes = options_.max_buffered_bytes;
  return options_.services->StartReceivers(factories, this, settings);
}

void ReceiverTracker::StopAll() {
  bool started;
  {
    absl::MutexLock lock(&mu_);
    started = running_ && !factories_.empty();
  }
  // Outside the lock: receivers stopping report their last blocks here.
  if (started) options_.services->StopReceivers();
  absl::MutexLock lock(&mu_);
  running_ = false;
  watermarks_.clear();
}

void ReceiverTracker::Remember(const ReceivedBlock& b) {
  if (b.block_id.empty()) return;
  if (reported_.insert(b.block_id).second) {
    reported_order_.emplace_back(b.time.milliseconds(), b.block_id);
  }
}

void ReceiverTracker::MarkProcessed(Time t) {
  absl::MutexLock lock(&mu_);
  processed_ms_ = std::max(processed_ms_, t.milliseconds());
}

int64_t ReceiverTracker::OnBlock(const ReceivedBlock& block) {
  absl::MutexLock lock(&mu_);
  if (!block.block_id.empty() && reported_.count(block.block_id) != 0) {
    VLOG(1) << "block " << block.block_id << " reported again; taken once";
    return processed_ms_;
  }
  Remember(block);
  if (block.records > 0) unallocated_.push_back(block);
  // Only a running receiver's blocks move its watermark: a late block of a stopped one must
  // not make every later batch wait for it.
  auto mark = watermarks_.find(block.stream_id);
  if (mark != watermarks_.end()) mark->second = std::max(mark->second, block.time.milliseconds());
  return processed_ms_;
}

void ReceiverTracker::OnEvent(int stream_id, proto::ReceiverEvent event, const std::string& message,
                              const std::string& executor_id) {
  ReceiverStatus copy;
  {
    absl::MutexLock lock(&mu_);
    ReceiverStatus& s = statuses_[stream_id];
    s.stream_id = stream_id;
    if (event == proto::RECEIVER_STARTED) {
      s.active = true;
      s.executor_id = executor_id;
      // A receiver restarted (elsewhere, on a cluster): batches wait for it again.
      if (running_ && watermarks_.count(stream_id) == 0) {
        watermarks_[stream_id] = options_.clock->NowMs();
      }
      LOG(INFO) << "Receiver for stream " << stream_id << " started";
    } else if (event == proto::RECEIVER_STOPPED) {
      s.active = false;
      watermarks_.erase(stream_id);  // batches no longer wait for it
      LOG(INFO) << "Receiver for stream " << stream_id << " stopped: " << message;
    } else {
      s.last_error = message;
      s.last_error_time_ms = options_.clock->NowMs();
    }
    copy = s;
  }
  if (options_.on_event) options_.on_event(copy, event);
}

void ReceiverTracker::SetWalDir(std::string dir) {
  absl::MutexLock lock(&mu_);
  wal_dir_ = std::move(dir);
}

void ReceiverTracker::AllocateBatch(Time t) {
  absl::MutexLock lock(&mu_);
  if (allocated_.count(t.milliseconds()) != 0) return;  // restored with its blocks
  auto caught_up = [this, t]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    for (const auto& [stream, mark] : watermarks_) {
      if (mark < t.milliseconds()) return false;
    }
    return true;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&caught_up), options_.watermark_wait)) {
    LOG(WARNING) << "receivers had not cut their blocks up to " << t.milliseconds() << " ms after "
                 << options_.watermark_wait << "; allocating what arrived";
  }
  std::vector<ReceivedBlock>& batch = allocated_[t.milliseconds()];
  std::vector<ReceivedBlock> later;
  for (auto& b : unallocated_) {
    (b.time <= t ? batch : later).push_back(std::move(b));
  }
  unallocated_.swap(later);
}

std::vector<ReceivedBlock> ReceiverTracker::BlocksOfBatch(int stream_id, Time t) const {
  absl::MutexLock lock(&mu_);
  std::vector<ReceivedBlock> out;
  auto it = allocated_.find(t.milliseconds());
  if (it == allocated_.end()) return out;
  for (const auto& b : it->second) {
    if (b.stream_id == stream_id) out.push_back(b);
  }
  return out;
}

int64_t ReceiverTracker::RecordsOfBatch(Time t) const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  auto it = allocated_.find(t.milliseconds());
  if (it != allocated_.end()) {
    for (const auto& b : it->second) n += b.records;
  }
  return n;
}

std::vector<std::string> ReceiverTracker::ReleaseThrough(Time t) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  auto end = allocated_.upper_bound(t.milliseconds());
  for (auto it = allocated_.begin(); it != end; ++it) {
    for (const auto& b : it->second) {
      ids.push_back(b.block_id);
      if (!b.wal_path.empty()) unlink(b.wal_path.c_str());
    }
  }
  allocated_.erase(allocated_.begin(), end);
  released_ms_ = std::max(released_ms_, t.milliseconds());
  while (!reported_order_.empty() &&
         reported_order_.front().first < released_ms_ - kRememberReportedMs) {
    reported_.erase(reported_order_.front().second);
    reported_order_.pop_front();
  }
  return ids;
}

bool ReceiverTracker::HasUnallocatedBlocks() const {
  absl::MutexLock lock(&mu_);
  return !unallocated_.empty();
}

namespace {

void ToProto(const ReceivedBlock& b, proto::CheckpointBlock* out) {
  out->set_stream_id(b.stream_id);
  out->set_block_id(b.block_id);
  out->set_records(b.records);
  out->set_time_ms(b.time.milliseconds());
  for (const auto& where : b.locations) out->add_locations(where);
  out->set_wal_path(b.wal_path);
}

ReceivedBlock FromProto(const proto::CheckpointBlock& p) {
  ReceivedBlock b;
  b.stream_id = p.stream_id();
  b.block_id = p.block_id();
  b.records = p.records();
  b.time = Time(p.time_ms());
  b.locations.assign(p.locations().begin(), p.locations().end());
  b.wal_path = p.wal_path();
  return b;
}

}  // namespace

void ReceiverTracker::Snapshot(proto::MetadataCheckpoint* cp) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [t, blocks] : allocated_) {
    auto* batch = cp->add_batches();
    batch->set_time_ms(t);
    for (const auto& b : blocks) ToProto(b, batch->add_blocks());
  }
  for (const auto& b : unallocated_) ToProto(b, cp->add_unallocated());
  cp->set_released_ms(released_ms_);
}

int64_t ReceiverTracker::Restore(const proto::MetadataCheckpoint& cp, bool blocks_survive) {
  absl::MutexLock lock(&mu_);
  int64_t dropped = 0;
  auto keep = [&](const proto::CheckpointBlock& p) {
    if (blocks_survive || !p.wal_path().empty()) return true;
    dropped += p.records();
    return false;
  };
  for (const auto& batch : cp.batches()) {
    auto& blocks = allocated_[batch.time_ms()];
    for (const auto& p : batch.blocks()) {
      if (keep(p)) blocks.push_back(FromProto(p));
    }
  }
  for (const auto& [t, blocks] : allocated_) {
    for (const auto& b : blocks) Remember(b);
  }
  std::set<std::string> known;
  for (const auto& p : cp.unallocated()) {
    known.insert(p.block_id());
    if (!keep(p)) continue;
    unallocated_.push_back(FromProto(p));
    Remember(unallocated_.back());
  }
  for (const auto& batch : cp.batches()) {
    for (const auto& p : batch.blocks()) known.insert(p.block_id());
  }
  released_ms_ = cp.released_ms();
  if (wal_dir_.empty()) return dropped;
  std::error_code ec;
  int recovered = 0;
  for (const auto& e : std::filesystem::directory_iterator(wal_dir_, ec)) {
    std::string path = e.path().string();
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".tmp") == 0) {
      std::filesystem::remove(path, ec);  // torn: its block was never reported
      continue;
    }
    auto data = ReadFramedFile(path, "EWAL");
    ReceivedBlock b;
    long long time_ms = 0, records = 0;
    int stream = 0;
    char id[512] = {0};
    if (!data.ok() ||
        std::sscanf(data->c_str(), "%d %lld %lld %511s", &stream, &time_ms, &records, id) != 4) {
      LOG(WARNING) << "write-ahead log file " << path << " is unreadable; ignoring it";
      continue;
    }
    if (known.count(id) != 0) continue;
    if (time_ms <= released_ms_) {
      std::filesystem::remove(path, ec);  // its batch completed and was released
      continue;
    }
    b.stream_id = stream;
    b.block_id = id;
    b.time = Time(time_ms);
    b.records = records;
    b.wal_path = path;
    Remember(b);
    unallocated_.push_back(std::move(b));
    ++recovered;
  }
  std::sort(unallocated_.begin(), unallocated_.end(),
            [](const ReceivedBlock& x, const ReceivedBlock& y) {
              return std::make_pair(x.time, x.block_id) < std::make_pair(y.time, y.block_id);
            });
  if (recovered > 0) {
    LOG(INFO) << "recovered " << recovered << " blocks from the write-ahead log " << wal_dir_;
  }
  return dropped;
}

std::vector<ReceiverStatus> ReceiverTracker::Statuses() const {
  absl::MutexLock lock(&mu_);
  std::vector<ReceiverStatus> out;
  for (const auto& [id, s] : statuses_) out.push_back(s);
  return out;
}

}  // namespace internal
}  // namespace ember
