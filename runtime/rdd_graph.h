#pragma once
// One batch's lineage on the driver: the erased RDD nodes the typed API builds, and how each
// describes, for one partition, the task tree that computes it (proto::ComputeNode).
//
// Built and read by the job thread; the done flags of shuffles are guarded by the scheduler.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/engine_api.h"
#include "common/op.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

class ContextCore;

// The map side of one shuffle: the parent's partitions, each written into buckets by `writer`.
struct ShuffleDependency {
  int shuffle_id = 0;
  RddRef parent;
  std::shared_ptr<const ShuffleWriterOp> writer;
  int num_reducers = 0;
  bool done = false;  // every map output is stored
  std::weak_ptr<ContextCore> ctx;
  ~ShuffleDependency();
};

class RddNode {
 public:
  RddNode(ContextCore* ctx, int num_partitions);
  virtual ~RddNode() = default;

  int id() const { return id_; }
  int num_partitions() const { return num_partitions_; }
  ContextCore* ctx() const { return ctx_; }
  void Persist() { persisted_ = true; }

  // What computes partition `p` (the shuffles it reads must be done).
  void Describe(int p, proto::ComputeNode* out) const;
  // The shuffles this RDD reads directly or through its narrow parents.
  virtual void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>* out) const = 0;

 protected:
  virtual void DescribeImpl(int p, proto::ComputeNode* out) const = 0;

 private:
  static std::atomic<int> next_id_;
  ContextCore* ctx_;
  int id_;
  int num_partitions_;
  bool persisted_ = false;
};

int NewShuffleId();

// An RDD whose partitions are fully described by the driver (blocks, files, inline data).
RddRef MakeLeafRdd(ContextCore* ctx, std::vector<proto::ComputeNode> partitions);

}  // namespace internal
}  // namespace ember
