#pragma once
// Private: include common/dstream.h. The state operations on DStream kept in the executors:
// updateStateByKey's and mapWithState's streams, their state driven by internal::ExecutorState
// (common/executor_state.h).

#include "common/dstream.h"

namespace ember {

template <typename T, typename Stack>
template <typename F>
auto DStream<T, Stack>::mapWithState(const StateSpecOf<F>& spec) const {
  EMBER_ASSERT_PAIR(T, "mapWithState");
  using Spec = StateSpecOf<F>;
  using K = typename Spec::K;
  using V = typename Spec::V;
  using S = typename Spec::S;
  using M = typename Spec::M;
  static_assert(std::is_same_v<T, std::pair<K, V>>,
                "mapWithState: the function must take (const K&, const std::optional<V>&, "
                "ember::State<S>&) for a stream of std::pair<K, V>");
  using Op = internal::MapWithStateOp<F, K, V, S, M>;
  using Record = typename Op::Record;
  using Snapshot = std::pair<K, S>;
  DStream<T> parent = materialize();
  internal::ContextCore* ctx = internal::ContextOf(node_);
  const int n = spec.partitions() > 0 ? spec.partitions() : internal::DefaultParallelism(ctx);
  internal::RddRef initial = spec.initial();
  auto state = std::make_shared<internal::ExecutorState<K, V, Record>>(
      ctx, std::make_shared<const Op>(spec.fn(), spec.timeout_ms()), n, parent.node_,
      [initial](int64_t first_ms) -> internal::RddRef {
        if (initial == nullptr) return nullptr;
        // The initial state counts as updated at the first batch.
        return Rdd<Snapshot>(initial).map(internal::StampState<K, S>{first_ms}).ref();
      });
  // Each batch's outputs (the mapped records), until the mapped stream takes them.
  auto mapped_rdds = std::make_shared<std::map<int64_t, internal::RddRef>>();
  auto core = internal::MakeDerivedStream(
      {parent.node_},
      [state, mapped_rdds, ctx](const std::vector<internal::RddRef>& ps,
                                Time t) -> internal::RddRef {
        (*mapped_rdds)[t.milliseconds()] =
            state->Update(t, ps[0], [ctx](const internal::RddRef& update) {
              std::vector<std::string> parts = internal::RunJob(
                  update, std::make_shared<internal::CollectOp<M, internal::EmptyStack<M>>>());
              return internal::MakeInlineRdd(ctx, std::move(parts),
                                             std::make_shared<internal::VectorDecoder<M>>());
            });
        // Outputs no one asked for go after a while.
        while (mapped_rdds->size() > 16) mapped_rdds->erase(mapped_rdds->begin());
        return internal::MakeEmptyRdd(ctx);  // the batch is done; its streams are below
      });
  // The snapshots stream reads the state of its batch where the executors keep it.
  auto snapshots = internal::MakeDerivedStream(
      std::vector<internal::StreamRef>{core},
      [state](const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
        return state->Read(internal::StateRddSpec::kSnapshot, t.milliseconds());
      });
  internal::RegisterExecutorState(state, core, "mapWithState", typeid(Record).name(),
                                  Milliseconds(10 * internal::SlideOf(core).milliseconds()),
                                  /*keeps_versions=*/false);
  auto mapped = internal::MakeDerivedStream(
      std::vector<internal::StreamRef>{core},
      [mapped_rdds, ctx](const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
        auto it = mapped_rdds->find(t.milliseconds());
        if (it == mapped_rdds->end()) return internal::MakeEmptyRdd(ctx);
        internal::RddRef rdd = it->second;
        mapped_rdds->erase(it);
        return rdd;
      });
  return MapWithStateDStream<M, K, S>(DStream<M>(mapped), DStream<Snapshot>(snapshots), core);
}

template <typename T, typename Stack>
template <typename St, typename F, typename P>
DStream<std::pair<typename P::first_type, St>> DStream<T, Stack>::UpdateState(
    F f, int num_partitions, internal::RddRef initial) const {
  using K = typename P::first_type;
  using V = typename T::second_type;
  using Out = std::pair<K, St>;
  using Op = internal::UpdateStateOp<F, K, V, St>;
  DStream<T> parent = materialize();
  internal::ContextCore* ctx = internal::ContextOf(node_);
  const int n = num_partitions > 0 ? num_partitions : internal::DefaultParallelism(ctx);
  auto state = std::make_shared<internal::ExecutorState<K, V, Out>>(
      ctx, std::make_shared<const Op>(std::move(f)), n, parent.node_,
      [initial](int64_t) { return initial; });
  // Its RDD reads the executors' state of that batch.
  auto node = internal::MakeDerivedStream(
      {parent.node_}, [state](const std::vector<internal::RddRef>& ps, Time t) -> internal::RddRef {
        state->Update(t, ps[0], [](const internal::RddRef& update) {
          return internal::RunJob(update, internal::CountResultOp()).size();
        });
        return state->Read(internal::StateRddSpec::kSnapshot, t.milliseconds());
      });
  internal::RegisterExecutorState(state, node, "updateStateByKey", typeid(Out).name(),
                                  internal::DefaultCheckpointInterval(internal::SlideOf(node)),
                                  /*keeps_versions=*/true);
  return DStream<Out>(node);
}

}  // namespace ember
