#pragma once
// Private: include common/dstream.h. The incremental windows (reduceByKeyAndWindow and
// reduceByWindow with an inverse function): the previous window kept by the driver between
// slides, plus the batches entering, minus the batches leaving.

#include "common/dstream.h"

namespace ember {

template <typename T, typename Stack>
template <typename F, typename InvF, typename Filter, typename P>
DStream<P> DStream<T, Stack>::InverseWindow(F f, InvF inv, Duration length, Duration slide,
                                            int num_partitions, Filter filter) const {
  using K = typename P::first_type;
  using V = typename P::second_type;
  DStream<T> parent = materialize();
  internal::StreamRef source = parent.node_;
  internal::ContextCore* ctx = internal::ContextOf(node_);
  Duration interval = internal::SlideOf(source);
  // Checks the durations, and makes the parent keep the batches of the window and the
  // slide before it (those leaving the window).
  internal::StreamRef keeper = internal::MakeWindowedStream(source, length + slide, slide);
  internal::MakeWindowedStream(source, length, slide);  // the same checks, with length
  // The window is kept as (key, (value, records in the window)): see CountedPair.
  using C = internal::CountedPair<K, V>;
  struct Holder {
    internal::RddRef last;  // the previous window: Rdd<C>
    std::vector<std::string> last_parts;
    int64_t last_ms = -1;
  };
  auto holder = std::make_shared<Holder>();
  internal::WindowMergeFn<F, InvF, Filter, K, V> merge{f, inv, filter};
  internal::KeptIf<Filter, K, V> kept{{filter}};
  internal::ShownIf<Filter, K, V> shown{{filter}};
  internal::CountedReduce<F, V> fc{{f}};
  int n = num_partitions;
  auto union_of = [ctx](std::vector<internal::RddRef> rdds) {
    return Rdd<T>(rdds.empty() ? internal::MakeEmptyRdd(ctx)
                               : internal::MakeUnionRdd(std::move(rdds)));
  };
  auto node = internal::MakeDerivedStream(
      {keeper},
      [holder, source, fc, merge, kept, shown, n, ctx, interval, length, slide, union_of](
          const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
        auto counted = [&](Time from, Time to) {
          return union_of(internal::SliceStream(source, from, to))
              .map(internal::WithRecordCount<K, V>{})
              .reduceByKey(fc, n);
        };
        std::vector<std::string> parts;
        if (holder->last == nullptr || holder->last_ms != (t - slide).milliseconds()) {
          // The first window (or one after a gap): from its batches.
          parts =
              internal::RunJob(counted(t - length + interval, t).filter(kept).ref(),
                               std::make_shared<internal::CollectOp<C, internal::EmptyStack<C>>>());
        } else {
          auto entering = counted(t - slide + interval, t);
          auto leaving = counted(t - length - slide + interval, t - length);
          Rdd<C> prev(holder->last);
          auto merged = prev.cogroup(entering, n).cogroup(leaving, n).flatMap(merge);
          parts = internal::RunJob(
              merged.ref(), std::make_shared<internal::CollectOp<C, internal::EmptyStack<C>>>());
        }
        holder->last_parts = parts;
        holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                               std::make_shared<internal::VectorDecoder<C>>());
        holder->last_ms = t.milliseconds();
        return Rdd<C>(holder->last).filter(shown).map(internal::WithoutCount<K, V>{}).ref();
      });
  internal::StatefulStream state;
  state.kind = "reduceByKeyAndWindow with an inverse function";
  state.type = typeid(C).name();
  state.default_interval = internal::DefaultCheckpointInterval(slide);
  state.save = [holder] { return holder->last_parts; };
  // A window restored from its checkpoint continues only if the next slide follows it; after
  // a longer gap the window is computed again from its batches.
  state.restore = [holder, ctx](std::vector<std::string> parts, Time t) {
    holder->last_parts = parts;
    holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                           std::make_shared<internal::VectorDecoder<C>>());
    holder->last_ms = t.milliseconds();
  };
  internal::RegisterStatefulStream(node, std::move(state));
  return DStream<P>(node);
}

}  // namespace ember
