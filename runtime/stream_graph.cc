#include "runtime/stream_graph.h"

#include <dirent.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/errors.h"
#include "runtime/context_core.h"
#include "runtime/rdd_graph.h"

namespace ember {
namespace internal {

StreamNode::StreamNode(ContextCore* ctx, std::vector<StreamRef> parents)
    : ctx_(ctx), parents_(std::move(parents)) {
  slide_ = parents_.empty() ? ctx->batch_interval() : parents_[0]->slide();
  for (const auto& p : parents_) {
    if (p->slide() != slide_) {
      throw EmberError("streams with different slide durations (" + slide_.toString() + " and " +
                       p->slide().toString() + ") cannot be combined");
    }
  }
  remember_ = slide_;
}

void StreamNode::Remember(Duration d) {
  if (remember_ < d) remember_ = d;
  for (const auto& p : parents_) p->Remember(ParentRemember(remember_));
}

std::vector<RddRef> StreamNode::Slice(Time from, Time to) {
  std::vector<RddRef> out;
  Time zero = ctx_->zero_time();
  int64_t step = slide_.milliseconds();
  // The first valid time at or after `from`.
  int64_t offset = (from - zero).milliseconds();
  Time t = offset <= step ? zero + slide_ : zero + Milliseconds((offset + step - 1) / step * step);
  for (; t <= to; t = t + slide_) {
    RddRef rdd = GetOrCompute(t);
    if (rdd != nullptr) out.push_back(std::move(rdd));
  }
  return out;
}

RddRef StreamNode::GetOrCompute(Time t) {
  Time zero = ctx_->zero_time();
  if (t <= zero || !(t - zero).isMultipleOf(slide_)) return nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = generated_.find(t.milliseconds());
    if (it != generated_.end()) return it->second;
  }
  RddRef rdd = Compute(t);
  if (rdd == nullptr) return nullptr;
  if (persist_) rdd->Persist();
  absl::MutexLock lock(&mu_);
  generated_.emplace(t.milliseconds(), rdd);
  return rdd;
}

void StreamNode::ClearOld(Time t) {
  absl::MutexLock lock(&mu_);
  generated_.erase(generated_.begin(), generated_.upper_bound((t - remember_).milliseconds()));
}

WindowedStream::WindowedStream(StreamRef parent, Duration length, Duration slide)
    : StreamNode(parent->ctx(), {parent}), length_(length) {
  Duration parent_slide = parent->slide();
  if (length.milliseconds() <= 0 || !length.isMultipleOf(parent_slide)) {
    throw EmberError("window length " + length.toString() +
                     " must be a positive multiple of the parent's slide " +
                     parent_slide.toString());
  }
  if (slide.milliseconds() <= 0 || !slide.isMultipleOf(parent_slide)) {
    throw EmberError("window slide " + slide.toString() +
                     " must be a positive multiple of the parent's slide " +
                     parent_slide.toString());
  }
  set_slide(slide);
  Remember(slide);
}

RddRef WindowedStream::Compute(Time t) {
  std::vector<RddRef> rdds = parents()[0]->Slice(t - length_ + parents()[0]->slide(), t);
  if (rdds.empty()) return MakeEmptyRdd(ctx());
  return MakeUnionRdd(std::move(rdds));
}

// ------------------------------------------------------------------------ derived streams

namespace {

class DerivedStream : public StreamNode {
 public:
  DerivedStream(ContextCore* ctx, std::vector<StreamRef> parents, ComputeFn fn)
      : StreamNode(ctx, std::move(parents)), fn_(std::move(fn)) {}

 protected:
  RddRef Compute(Time t) override {
    std::vector<RddRef> inputs;
    for (const auto& p : parents()) {
      inputs.push_back(p->GetOrCompute(t));
      if (inputs.back() == nullptr) return nullptr;
    }
    return fn_(inputs, t);
  }

 private:
  ComputeFn fn_;
};

class SourceStream : public StreamNode {
 public:
  SourceStream(ContextCore* ctx, std::function<RddRef(Time)> fn)
      : StreamNode(ctx, {}), fn_(std::move(fn)) {}

 protected:
  RddRef Compute(Time t) override { return fn_(t); }

 private:
  std::function<RddRef(Time)> fn_;
};

}  // namespace

StreamRef MakeDerivedStream(std::vector<StreamRef> parents, ComputeFn fn) {
  if (parents.empty()) throw EmberError("a derived stream needs a parent");
  ContextCore* ctx = parents[0]->ctx();
  for (const auto& p : parents) {
    if (p->ctx() != ctx) throw EmberError("streams of two StreamingContexts cannot be combined");
  }
  ctx->CheckCanAddStreams();
  auto node = std::make_shared<DerivedStream>(ctx, std::move(parents), std::move(fn));
  return node;
}

StreamRef MakeSourceStream(ContextCore* ctx, std::function<RddRef(Time)> fn) {
  ctx->CheckCanAddStreams();
  return std::make_shared<SourceStream>(ctx, std::move(fn));
}

void RegisterOutput(const StreamRef& stream, std::function<void(const RddRef&, Time)> fn) {
  stream->ctx()->AddOutput(stream, std::move(fn));
}

void NameLastOutput(const StreamRef& stream, const std::string& name) {
  stream->ctx()->NameLastOutput(name);
}

void RegisterStateOutput(const StreamRef& stream, const std::string& kind) {
  stream->ctx()->AddOutput(
      stream, [](const RddRef&, Time) {}, /*keeps_state=*/true);
  stream->ctx()->NameLastOutput(kind);
}

void PersistStream(const StreamRef& stream) { stream->Persist(); }

void RegisterStatefulStream(const StreamRef& stream, StatefulStream state) {
  stream->ctx()->AddStatefulStream(stream.get(), std::move(state));
}
Duration RememberOf(const StreamNode* stream) { return stream->remember(); }
int64_t LatestStateCheckpoint(const StreamNode* stream, std::vector<std::string>* parts) {
  return stream->ctx()->LatestStateCheckpoint(stream, parts);
}
void SetCheckpointInterval(const StreamRef& stream, Duration interval) {
  stream->ctx()->SetCheckpointInterval(stream.get(), interval);
}
void SetCheckpointDirectory(ContextCore* ctx, const std::string& directory) {
  ctx->SetCheckpointDirectory(directory);
}

StreamRef MakeWindowedStream(const StreamRef& parent, Duration length, Duration slide) {
  parent->ctx()->CheckCanAddStreams();
  return std::make_shared<WindowedStream>(parent, length, slide);
}

std::vector<RddRef> SliceStream(const StreamRef& stream, Time from, Time to) {
  if (to < from) throw EmberError("slice: " + to.toString() + " is before " + from.toString());
  return stream->Slice(from, to);
}

Duration SlideOf(const StreamRef& stream) { return stream->slide(); }
ContextCore* ContextOf(const StreamRef& stream) { return stream->ctx(); }
void EmitOutput(ContextCore* ctx, const std::string& text) { ctx->EmitOutput(text); }
void RegisterDashboard(ContextCore* ctx, const DashboardUpdate& spec) {
  ctx->RegisterDashboard(spec);
}
void PostDashboard(ContextCore* ctx, DashboardUpdate update) {
  ctx->PostDashboard(std::move(update));
}

// -------------------------------------------------------------------------- input streams

ReceiverInputStream::ReceiverInputStream(ContextCore* ctx, int stream_id, proto::OpSpec decoder)
    : StreamNode(ctx, {}), stream_id_(stream_id), decoder_(std::move(decoder)) {}

RddRef ReceiverInputStream::Compute(Time t) {
  std::vector<proto::ComputeNode> parts;
  for (const auto& block : ctx()->receiver_tracker().BlocksOfBatch(stream_id_, t)) {
    proto::ComputeNode node;
    node.mutable_block()->set_block_id(block.block_id);
    for (const auto& where : block.locations) node.mutable_block()->add_locations(where);
    node.mutable_block()->set_wal_path(block.wal_path);
    *node.mutable_block()->mutable_decoder() = decoder_;
    parts.push_back(std::move(node));
  }
  return MakeLeafRdd(ctx(), std::move(parts));
}

FileInputStream::FileInputStream(ContextCore* ctx, Options options)
    : StreamNode(ctx, {}), options_(std::move(options)) {
  // Spark remembers selected files for at least a minute, and for one batch at the least.
  int64_t batch = ctx->batch_interval().milliseconds();
  int64_t batches = std::max<int64_t>(1, (60000 + batch - 1) / batch);
  remember_ = Milliseconds(batches * batch);
}

void FileInputStream::SetStartTime(Time start) {
  absl::MutexLock lock(&mu_);
  ignore_before_ms_ = options_.new_files_only ? start.milliseconds() : -1;
}

void FileInputStream::Snapshot(proto::CheckpointFileStream* out) {
  absl::MutexLock lock(&mu_);
  out->set_ignore_before_ms(ignore_before_ms_);
  for (const auto& [path, t] : selected_) (*out->mutable_selected())[path] = t;
}

void FileInputStream::Restore(const proto::CheckpointFileStream& in) {
  absl::MutexLock lock(&mu_);
  ignore_before_ms_ = in.ignore_before_ms();
  selected_.clear();
  for (const auto& [path, t] : in.selected()) selected_[path] = t;
}

RddRef FileInputStream::Compute(Time t) {
  DIR* dir = opendir(options_.directory.c_str());
  if (dir == nullptr) {
    throw EmberError("file stream directory " + options_.directory +
                     " cannot be listed: " + std::strerror(errno));
  }
  absl::MutexLock lock(&mu_);
  int64_t threshold = std::max(ignore_before_ms_, (t - remember_).milliseconds());
  std::vector<std::pair<int64_t, std::string>> found;
  // A batch computed again after a restart reads what it read the first time.
  std::vector<std::string> again;
  for (const auto& [path, batch] : selected_) {
    if (batch == t.milliseconds()) again.push_back(path);
  }
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    std::string path = options_.directory + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (mtime <= threshold || mtime > t.milliseconds()) continue;
    if (selected_.count(path)) continue;
    if (options_.filter && !options_.filter(path)) continue;
    found.emplace_back(mtime, path);
  }
  closedir(dir);
  for (const auto& path : again) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) continue;  // gone since: the task reports it
    found.emplace_back(
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000, path);
  }
  std::sort(found.begin(), found.end());

  // Forget what fell out of the remember window: those mod times are below the threshold.
  for (auto it = selected_.begin(); it != selected_.end();) {
    if (it->second <= (t - remember_).milliseconds()) {
      it = selected_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<proto::ComputeNode> parts;
  for (const auto& [mtime, path] : found) {
    selected_[path] = t.milliseconds();
    proto::ComputeNode node;
    node.mutable_file()->set_path(path);
    node.mutable_file()->set_format(options_.format);
    node.mutable_file()->set_record_length(options_.record_length);
    if (options_.decoder) *node.mutable_file()->mutable_decoder() = ToSpec(*options_.decoder);
    parts.push_back(std::move(node));
  }
  if (!found.empty())
    VLOG(1) << "file stream " << options_.directory << ": " << found.size()
            << " new files for batch " << t.milliseconds();
  return MakeLeafRdd(ctx(), std::move(parts));
}

}  // namespace internal
}  // namespace ember
