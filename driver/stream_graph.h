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
  StreamNode(ContextCore* ctx, std::vector<StreamRef> parents);
  virtual ~StreamNode() = default;

  // This batch's RDD, computed once per batch time.
  RddRef GetOrCompute(Time t);
  // Forgets the RDDs of batches up to and including t.
  void ClearThrough(Time t);
  void Persist() { persist_ = true; }
  ContextCore* ctx() const { return ctx_; }
  const std::vector<StreamRef>& parents() const { return parents_; }

 protected:
  virtual RddRef Compute(Time t) = 0;

 private:
  ContextCore* ctx_;
  std::vector<StreamRef> parents_;
  bool persist_ = false;
  absl::Mutex mu_;
  std::map<int64_t, RddRef> generated_ ABSL_GUARDED_BY(mu_);
};

// Blocks a receiver stored, allocated to batches by the receiver tracker.
class ReceiverInputStream : public StreamNode {
 public:
  ReceiverInputStream(ContextCore* ctx, int stream_id, proto::OpSpec decoder);
  int stream_id() const { return stream_id_; }

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
  };
  FileInputStream(ContextCore* ctx, Options options);
  // Called at start: files modified at or before this time are old when new_files_only.
  void SetStartTime(Time start);

 protected:
  RddRef Compute(Time t) override;

 private:
  Options options_;
  int64_t ignore_before_ms_ = -1;  // mod times <= this are never selected
  Duration remember_;
  std::map<std::string, int64_t> selected_;  // path -> batch time that read it
};

}  // namespace internal
}  // namespace ember
