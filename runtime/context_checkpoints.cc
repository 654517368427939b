// ContextCore's checkpoints and recovery: the checkpoint directory, state checkpoints (all
// stateful streams at one batch), the metadata checkpoint with the graph's shape and the kept
// submission, and the recovery of a context started on a directory holding them.

#include <glog/logging.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "runtime/checkpoint_store.h"
#include "runtime/context_core.h"
#include "runtime/kafka_stream.h"

namespace ember {
namespace internal {

void ContextCore::SetCheckpointDirectory(const std::string& directory) {
  CheckCanAddStreams();
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) throw EmberError("cannot use checkpoint directory " + directory + ": " + ec.message());
  absl::MutexLock lock(&mu_);
  checkpoint_dir_ = directory;
}

int64_t ContextCore::RestoreState() {
  absl::MutexLock lock(&mu_);
  if (stateful_.empty()) return -1;
  if (checkpoint_dir_.empty()) {
    throw EmberError(stateful_[0].state.kind +
                     " keeps state and requires a checkpoint directory: call "
                     "ssc.checkpoint(directory) before start()");
  }
  // The streams are checkpointed together: take the newest time all of them have.
  for (int64_t t : StateCheckpointTimes(checkpoint_dir_, 0)) {
    std::vector<StateCheckpoint> cps;
    for (size_t i = 0; i < stateful_.size(); ++i) {
      auto cp = ReadStateCheckpoint(checkpoint_dir_, static_cast<int>(i), t);
      if (!cp) break;
      cps.push_back(std::move(*cp));
    }
    if (cps.size() != stateful_.size()) continue;
    for (size_t i = 0; i < stateful_.size(); ++i) {
      LOG(INFO) << "restoring the state of " << stateful_[i].state.kind << " (stream " << i
                << ") from its checkpoint of " << t << " ms";
      stateful_[i].state.restore(std::move(cps[i].parts), Time(t));
    }
    state_ms_ = t;
    return t;
  }
  return -1;
}

void ContextCore::CheckpointState(Time t, bool force) {
  std::vector<std::function<std::vector<std::string>()>> saves;
  std::string dir;
  {
    absl::MutexLock lock(&mu_);
    dir = checkpoint_dir_;
    if (stateful_.empty() || dir.empty()) return;
    bool due = force;
    for (const auto& s : stateful_) due = due || t.milliseconds() % s.interval.milliseconds() == 0;
    if (!due) return;
    for (const auto& s : stateful_) saves.push_back(s.state.save);
  }
  // All of them at once, so that a recovery restores every one to the same batch. State kept
  // by the executors is collected by a job, so no lock is held here.
  std::vector<std::vector<std::string>> parts;
  for (size_t id = 0; id < saves.size(); ++id) {
    try {
      parts.push_back(saves[id]());
    } catch (const std::exception& e) {
      LOG(ERROR) << "state checkpoint of stream " << id << " at " << t.milliseconds()
                 << " ms skipped (the previous one stays usable): " << e.what();
      return;
    }
  }
  for (size_t id = 0; id < parts.size(); ++id) {
    absl::Status s = WriteStateCheckpoint(dir, static_cast<int>(id), t.milliseconds(), parts[id]);
    if (!s.ok()) {
      LOG(ERROR) << "state checkpoint of stream " << id << " at " << t.milliseconds()
                 << " ms failed (the previous one stays usable): " << s.message();
      return;
    }
  }
  absl::MutexLock lock(&mu_);
  state_ms_ = t.milliseconds();
}

int64_t ContextCore::LatestStateCheckpoint(const StreamNode* stream,
                                           std::vector<std::string>* parts) {
  std::string dir;
  int64_t t;
  int id = -1;
  std::string kind = "a stateful stream";
  {
    absl::MutexLock lock(&mu_);
    dir = checkpoint_dir_;
    t = state_ms_;
    for (size_t i = 0; i < stateful_.size(); ++i) {
      if (stateful_[i].stream != stream) continue;
      id = static_cast<int>(i);
      kind = stateful_[i].state.kind;
    }
  }
  if (dir.empty() || t < 0 || id < 0) {
    LOG(WARNING) << "rebuilding the state of " << kind << " (stream " << id
                 << ") from its start: it has no checkpoint yet";
    return -1;
  }
  auto cp = ReadStateCheckpoint(dir, id, t);
  if (!cp) {
    LOG(WARNING) << "rebuilding the state of " << kind << " (stream " << id
                 << ") from its start: its checkpoint of " << t << " ms is unreadable";
    return -1;
  }
  LOG(WARNING) << "rebuilding the state of " << kind << " (stream " << id
               << ") from its checkpoint of " << t << " ms and the batches since";
  *parts = std::move(cp->parts);
  return t;
}

std::string ContextCore::NewStateKey() {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(run_id_, "/", next_state_key_++);
}

std::vector<std::string> ContextCore::GraphShape() {
  absl::MutexLock lock(&mu_);
  std::map<StreamNode*, int> ids;
  std::vector<std::string> lines;
  std::function<int(StreamNode*)> visit = [&](StreamNode* s) -> int {
    auto it = ids.find(s);
    if (it != ids.end()) return it->second;
    std::vector<int> parents;
    for (const auto& p : s->parents()) parents.push_back(visit(p.get()));
    int id = static_cast<int>(ids.size());
    ids[s] = id;
    std::string line = "stream " + std::to_string(id) + ": " +
                       (s->label().empty() ? s->Describe() : s->label()) + ", slide " +
                       s->slide().toString();
    if (!parents.empty()) {
      line += ", of stream";
      for (size_t i = 0; i < parents.size(); ++i) {
        line += (i == 0 ? " " : " and ") + std::to_string(parents[i]);
      }
    }
    lines.push_back(std::move(line));
    return id;
  };
  for (size_t i = 0; i < outputs_.size(); ++i) {
    int id = visit(outputs_[i].stream.get());
    lines.push_back("output " + std::to_string(i) + ": " + outputs_[i].name + " of stream " +
                    std::to_string(id));
  }
  return lines;
}

void ContextCore::CheckShape(const proto::MetadataCheckpoint& cp, const std::string& dir) {
  std::vector<std::string> now;
  {
    absl::MutexLock lock(&mu_);
    now = graph_shape_;
  }
  if (cp.batch_interval_ms() != batch_interval_.milliseconds()) {
    throw EmberError("cannot recover from the checkpoint in " + dir + ": its batch interval is " +
                     Milliseconds(cp.batch_interval_ms()).toString() + " and this job's is " +
                     batch_interval_.toString() + " (use a new checkpoint directory)");
  }
  size_t n = std::max(now.size(), static_cast<size_t>(cp.graph_size()));
  for (size_t i = 0; i < n; ++i) {
    std::string before =
        i < static_cast<size_t>(cp.graph_size()) ? cp.graph(static_cast<int>(i)) : "(nothing)";
    std::string after = i < now.size() ? now[i] : "(nothing)";
    if (before == after) continue;
    throw EmberError("cannot recover from the checkpoint in " + dir +
                     ": the job's operators differ from the checkpointed job's at " + before +
                     "; this job has " + after +
                     ". Function bodies may change between runs, the operators may not: "
                     "change them back, or use a new checkpoint directory");
  }
}

Time ContextCore::Recover(const proto::MetadataCheckpoint& cp, int64_t state_ms) {
  zero_time_ = Time(cp.zero_ms());
  int64_t dropped = tracker_->Restore(cp, services_->BlocksOutliveTheDriver());
  if (dropped > 0) {
    LOG(WARNING) << dropped << " received records of the batches being recovered were held only "
                 << "in the lost process's memory and are dropped; set "
                 << "ember.streaming.receiver.writeAheadLog.enable=true to keep them";
  }
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < file_streams_.size() && i < static_cast<size_t>(cp.file_streams_size());
       ++i) {
    file_streams_[i]->Restore(cp.file_streams(static_cast<int>(i)));
  }
  for (size_t i = 0;
       i < kafka_streams_.size() && i < static_cast<size_t>(cp.kafka_streams_size()); ++i) {
    kafka_streams_[i]->Restore(cp.kafka_streams(static_cast<int>(i)));
  }
  completed_ms_ = cp.completed_ms();
  replay_through_ms_ = cp.completed_ms();
  int64_t from = cp.completed_ms();
  if (!stateful_.empty()) {
    // State is recomputed from its checkpoint over the completed batches after it.
    int64_t state_time = state_ms >= 0 ? state_ms : cp.zero_ms();
    from = state_time;
    state_ms_ = state_time;
  }
  if (from < cp.zero_ms()) from = cp.zero_ms();
  Time first = Time(from) + batch_interval_;
  LOG(INFO) << "recovering from the checkpoint of " << cp.time_ms() << " ms: batches from "
            << first.milliseconds() << " ms on run (those up to " << cp.completed_ms()
            << " ms had completed and only recompute state), then the batches missed since";
  return first;
}

void ContextCore::KeepSubmission(const std::string& dir) {
  // Set by the driver: the application's kept submission, rewritten by an upgrade.
  std::string path = conf_.get("ember.app.submission", "");
  if (path.empty()) return;
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return;
  auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return;
  std::string signature = absl::StrCat(size, "@", mtime.time_since_epoch().count());
  if (signature == kept_submission_) return;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  absl::Status s =
      in ? WriteCheckpointSubmission(dir, bytes.str()) : absl::NotFoundError("cannot read " + path);
  if (!s.ok()) {
    LOG(WARNING) << "cannot keep the job's submission in checkpoint directory " << dir << ": "
                 << s.message();
    return;
  }
  kept_submission_ = signature;
}

void ContextCore::WriteMetadata(Time t) {
  proto::MetadataCheckpoint cp;
  std::string dir;
  {
    absl::MutexLock lock(&mu_);
    if (checkpoint_dir_.empty()) return;
    dir = checkpoint_dir_;
    cp.set_time_ms(t.milliseconds());
    cp.set_zero_ms(zero_time_.milliseconds());
    cp.set_batch_interval_ms(batch_interval_.milliseconds());
    for (const auto& [k, v] : conf_.all()) (*cp.mutable_conf())[k] = v;
    for (const auto& line : graph_shape_) cp.add_graph(line);
    cp.set_completed_ms(completed_ms_);
    for (auto& f : file_streams_) f->Snapshot(cp.add_file_streams());
    for (auto& k : kafka_streams_) k->Snapshot(cp.add_kafka_streams());
  }
  tracker_->Snapshot(&cp);
  absl::MutexLock lock(&meta_mu_);
  KeepSubmission(dir);
  absl::Status s = WriteMetadataCheckpoint(dir, cp);
  if (!s.ok()) {
    LOG(ERROR) << "metadata checkpoint of " << t.milliseconds()
               << " ms failed (the previous one stays usable): " << s.message();
  }
}

}  // namespace internal
}  // namespace ember
