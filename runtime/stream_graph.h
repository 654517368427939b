#pragma once
// The DStream graph on the driver: erased stream nodes that turn a batch time into that
// batch's RDD, memoized per batch, and the input streams (received blocks, files).
//
// Nodes are built by the job's code before start and then read by the job thread only.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/engine_api.h"
#include "common/time.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

class StreamNode {
 public:
  // The slide is the parents' (they must agree), or the batch interval for an input stream.
  StreamNode(ContextCore* ctx, std::vector<StreamRef> parents);
  virtual ~StreamNode() = default;

  // The RDD of batch t, computed once; null when t is not a multiple of this stream's slide
  // (counted from the context's zero time), as Spark's getOrCompute gives None.
  RddRef GetOrCompute(Time t);
  // Keeps generated RDDs for at least `d` (and makes the parents keep what that needs).
  void Remember(Duration d);
  // Forgets the RDDs this stream no longer needs at batch t: those at or before t - remember.
  void ClearOld(Time t);
  // The remembered RDDs of the batches in [from, to], in time order (Spark's slice).
  std::vector<RddRef> Slice(Time from, Time to);

  // What the node is, for the graph's shape in checkpoints ("window(30 s, 10 s)"); a job
  // rebuilt with other function bodies describes the same nodes.
  virtual std::string Describe() const { return "transformed stream"; }
  void set_label(std::string label) { label_ = std::move(label); }
  const std::string& label() const { return label_; }

  void Persist() { persist_ = true; }
  ContextCore* ctx() const { return ctx_; }
  const std::vector<StreamRef>& parents() const { return parents_; }
  Duration slide() const { return slide_; }
  Duration remember() const { return remember_; }

 protected:
  virtual RddRef Compute(Time t) = 0;
  // How long the parents must remember for this stream to remember `mine`.
  virtual Duration ParentRemember(Duration mine) const { return mine; }
  void set_slide(Duration slide) { slide_ = slide; }

 private:
  ContextCore* ctx_;
  std::vector<StreamRef> parents_;
  Duration slide_;
  Duration remember_;
  bool persist_ = false;
  std::string label_;  // set for stateful streams: their kind and state type
  absl::Mutex mu_;
  std::map<int64_t, RddRef> generated_ ABSL_GUARDED_BY(mu_);
};

// window(length, slide): each slide, the union of the parent's RDDs in (t - length, t].
class WindowedStream : public StreamNode {
 public:
  WindowedStream(StreamRef parent, Duration length, Duration slide);

 protected:
  RddRef Compute(Time t) override;
  Duration ParentRemember(Duration mine) const override { return mine + length_; }
  std::string Describe() const override {
    return "window(" + length_.toString() + ", " + slide().toString() + ")";
  }

 private:
  Duration length_;
};

// Blocks a receiver stored, allocated to batches by the receiver tracker.
class ReceiverInputStream : public StreamNode {
 public:
  ReceiverInputStream(ContextCore* ctx, int stream_id, proto::OpSpec decoder);
  int stream_id() const { return stream_id_; }
  std::string Describe() const override {
    return "receiver stream " + std::to_string(stream_id_) + " decoded by " + decoder_.key();
  }

 protected:
  RddRef Compute(Time t) override;

 private:
  int stream_id_;
  proto::OpSpec decoder_;
};

// New files of a directory (Spark's FileInputDStream rules; see StreamingContext::fileStream).
class FileInputStream : public StreamNode {
 public:
  struct Options {
    std::string directory;
    std::function<bool(const std::string&)> filter;
    bool new_files_only = true;
    proto::FileInput::Format format = proto::FileInput::TEXT_LINES;
    int record_length = 0;
    std::shared_ptr<const DecoderOp> decoder;  // WHOLE_FILE
  };
  FileInputStream(ContextCore* ctx, Options options);
  // Called at start: files modified at or before this time are old when new_files_only.
  void SetStartTime(Time start);
  std::string Describe() const override { return "file stream of " + options_.directory; }
  // The files selected so far, for the metadata checkpoint; and back after a restart, when a
  // batch computed again reads the files it read before.
  void Snapshot(proto::CheckpointFileStream* out);
  void Restore(const proto::CheckpointFileStream& in);

 protected:
  RddRef Compute(Time t) override;

 private:
  Options options_;
  int64_t ignore_before_ms_ = -1;  // mod times <= this are never selected
  Duration remember_;
  absl::Mutex mu_;
  std::map<std::string, int64_t> selected_ ABSL_GUARDED_BY(mu_);  // path -> batch that read it
};

}  // namespace internal
}  // namespace ember
