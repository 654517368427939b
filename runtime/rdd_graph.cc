#include "runtime/rdd_graph.h"

#include "common/errors.h"
#include "runtime/context_core.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

std::atomic<int> RddNode::next_id_{0};

namespace {
std::atomic<int> next_shuffle_id{0};
}  // namespace

int NewShuffleId() { return next_shuffle_id.fetch_add(1); }

ShuffleDependency::~ShuffleDependency() {
  if (auto core = ctx.lock()) core->ReleaseShuffle(shuffle_id);
}

RddNode::RddNode(ContextCore* ctx, int num_partitions)
    : ctx_(ctx), id_(next_id_.fetch_add(1)), num_partitions_(num_partitions) {}

void RddNode::Describe(int p, proto::ComputeNode* out) const {
  DescribeImpl(p, out);
  if (persisted_) out->set_cache_key("rdd-" + std::to_string(id_) + "-" + std::to_string(p));
}

namespace {

class NarrowRdd : public RddNode {
 public:
  NarrowRdd(std::vector<RddRef> parents, std::shared_ptr<const NarrowOp> op)
      : RddNode(parents[0]->ctx(), parents[0]->num_partitions()),
        parents_(std::move(parents)),
        spec_(ToSpec(*op)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>* out) const override {
    for (const auto& p : parents_) p->CollectShuffles(out);
  }

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    auto* narrow = out->mutable_narrow();
    *narrow->mutable_op() = spec_;
    for (const auto& parent : parents_) parent->Describe(p, narrow->add_inputs());
  }

 private:
  std::vector<RddRef> parents_;
  proto::OpSpec spec_;
};

class ShuffledRdd : public RddNode {
 public:
  ShuffledRdd(std::vector<RddRef> parents,
              std::vector<std::shared_ptr<const ShuffleWriterOp>> writers,
              std::shared_ptr<const ShuffleReaderOp> reader, int num_partitions)
      : RddNode(parents[0]->ctx(), num_partitions), reader_(ToSpec(*reader)) {
    for (size_t i = 0; i < parents.size(); ++i) {
      auto dep = std::make_shared<ShuffleDependency>();
      dep->shuffle_id = NewShuffleId();
      dep->parent = parents[i];
      dep->writer = writers[i];
      dep->num_reducers = num_partitions;
      dep->ctx = parents[i]->ctx()->weak_from_this();
      deps_.push_back(std::move(dep));
    }
  }
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>* out) const override {
    out->insert(out->end(), deps_.begin(), deps_.end());
  }

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    auto* shuffle = out->mutable_shuffle();
    for (const auto& dep : deps_) {
      auto* ref = shuffle->add_shuffles();
      ref->set_shuffle_id(dep->shuffle_id);
      ref->set_num_maps(dep->parent->num_partitions());
    }
    shuffle->set_reduce_id(p);
    *shuffle->mutable_reader() = reader_;
  }

 private:
  std::vector<std::shared_ptr<ShuffleDependency>> deps_;
  proto::OpSpec reader_;
};

int TotalPartitions(const std::vector<RddRef>& parents) {
  int n = 0;
  for (const auto& p : parents) n += p->num_partitions();
  return n;
}

class UnionRdd : public RddNode {
 public:
  explicit UnionRdd(std::vector<RddRef> parents)
      : RddNode(parents[0]->ctx(), TotalPartitions(parents)), parents_(std::move(parents)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>* out) const override {
    for (const auto& p : parents_) p->CollectShuffles(out);
  }

 protected:
  // A union partition is its parent's partition: no operator of its own.
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    for (const auto& parent : parents_) {
      if (p < parent->num_partitions()) {
        parent->Describe(p, out);
        return;
      }
      p -= parent->num_partitions();
    }
  }

 private:
  std::vector<RddRef> parents_;
};

class InlineRdd : public RddNode {
 public:
  InlineRdd(ContextCore* ctx, std::vector<std::string> parts,
            std::shared_ptr<const DecoderOp> decoder)
      : RddNode(ctx, static_cast<int>(parts.size())),
        parts_(std::move(parts)),
        decoder_(ToSpec(*decoder)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>*) const override {}

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    out->mutable_inline_data()->set_data(parts_[p]);
    *out->mutable_inline_data()->mutable_decoder() = decoder_;
  }

 private:
  std::vector<std::string> parts_;
  proto::OpSpec decoder_;
};

class StateRdd : public RddNode {
 public:
  StateRdd(ContextCore* ctx, StateRddSpec spec, RddRef values, RddRef seed)
      : RddNode(ctx, spec.num_partitions),
        spec_(std::move(spec)),
        op_(ToSpec(*spec_.op)),
        values_(std::move(values)),
        seed_(std::move(seed)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>* out) const override {
    if (values_ != nullptr) values_->CollectShuffles(out);
    if (seed_ != nullptr) seed_->CollectShuffles(out);
  }

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override {
    auto* st = out->mutable_state();
    st->set_state_key(spec_.state_key);
    st->set_mode(static_cast<proto::StateInput::Mode>(spec_.mode));
    st->set_prev_ms(spec_.prev_ms);
    st->set_new_ms(spec_.new_ms);
    st->set_partition(p);
    st->set_keep_versions(spec_.keep_versions);
    *st->mutable_op() = op_;
    if (values_ != nullptr) values_->Describe(p, st->mutable_values());
    if (seed_ != nullptr) seed_->Describe(p, st->mutable_seed());
  }

 private:
  StateRddSpec spec_;
  proto::OpSpec op_;
  RddRef values_;
  RddRef seed_;
};

// Partitions the driver describes in full: received blocks, files, inline data.
class LeafRdd : public RddNode {
 public:
  LeafRdd(ContextCore* ctx, std::vector<proto::ComputeNode> parts)
      : RddNode(ctx, static_cast<int>(parts.size())), parts_(std::move(parts)) {}
  void CollectShuffles(std::vector<std::shared_ptr<ShuffleDependency>>*) const override {}

 protected:
  void DescribeImpl(int p, proto::ComputeNode* out) const override { *out = parts_[p]; }

 private:
  std::vector<proto::ComputeNode> parts_;
};

}  // namespace

RddRef MakeLeafRdd(ContextCore* ctx, std::vector<proto::ComputeNode> partitions) {
  return std::make_shared<LeafRdd>(ctx, std::move(partitions));
}

RddRef MakeNarrowRdd(std::vector<RddRef> parents, std::shared_ptr<const NarrowOp> op) {
  return std::make_shared<NarrowRdd>(std::move(parents), std::move(op));
}

RddRef MakeShuffledRdd(std::vector<RddRef> parents,
                       std::vector<std::shared_ptr<const ShuffleWriterOp>> writers,
                       std::shared_ptr<const ShuffleReaderOp> reader, int num_partitions) {
  if (num_partitions <= 0) throw EmberError("a shuffle needs at least one partition");
  return std::make_shared<ShuffledRdd>(std::move(parents), std::move(writers), std::move(reader),
                                       num_partitions);
}

RddRef MakeUnionRdd(std::vector<RddRef> parents) {
  if (parents.empty()) throw EmberError("union of no RDDs");
  return std::make_shared<UnionRdd>(std::move(parents));
}

RddRef MakeInlineRdd(ContextCore* ctx, std::vector<std::string> encoded_partitions,
                     std::shared_ptr<const DecoderOp> decoder) {
  return std::make_shared<InlineRdd>(ctx, std::move(encoded_partitions), std::move(decoder));
}

RddRef MakeEmptyRdd(ContextCore* ctx) { return MakeLeafRdd(ctx, {}); }

RddRef MakeStateRdd(ContextCore* ctx, StateRddSpec spec, RddRef values, RddRef seed) {
  int n = spec.num_partitions;
  if (n <= 0 || spec.op == nullptr) throw EmberError("a state RDD needs partitions and an op");
  if ((values != nullptr && values->num_partitions() != n) ||
      (seed != nullptr && seed->num_partitions() != n)) {
    throw EmberError("a state RDD's inputs must have its partitions");
  }
  if (spec.mode == StateRddSpec::kUpdate && values == nullptr) {
    throw EmberError("a state update needs the batch's values");
  }
  return std::make_shared<StateRdd>(ctx, std::move(spec), std::move(values), std::move(seed));
}

int NumPartitions(const RddRef& rdd) { return rdd->num_partitions(); }
ContextCore* ContextOf(const RddRef& rdd) { return rdd->ctx(); }

}  // namespace internal
}  // namespace ember
