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
  struct Holder {
    internal::RddRef last;  // the previous window, reduced and filtered
    std::vector<std::string> last_parts;
    int64_t last_ms = -1;
  };
  auto holder = std::make_shared<Holder>();
  internal::WindowMergeFn<F, InvF, Filter, K, V> merge{f, inv, filter};
  internal::KeepIf<Filter> keep{{filter}};
  int n = num_partitions;
  auto union_of = [ctx](std::vector<internal::RddRef> rdds) {
    return Rdd<T>(rdds.empty() ? internal::MakeEmptyRdd(ctx)
                               : internal::MakeUnionRdd(std::move(rdds)));
  };
  auto node = internal::MakeDerivedStream(
      {keeper},
      [holder, source, f, merge, keep, n, ctx, interval, length, slide, union_of](
          const std::vector<internal::RddRef>&, Time t) -> internal::RddRef {
        Rdd<P> next(internal::MakeEmptyRdd(ctx));
        std::vector<std::string> parts;
        if (holder->last == nullptr || holder->last_ms != (t - slide).milliseconds()) {
          // The first window (or one after a gap): from its batches.
          auto window = union_of(internal::SliceStream(source, t - length + interval, t));
          parts =
              internal::RunJob(window.reduceByKey(f, n).filter(keep).ref(),
                               std::make_shared<internal::CollectOp<P, internal::EmptyStack<P>>>());
        } else {
          auto entering =
              union_of(internal::SliceStream(source, t - slide + interval, t)).reduceByKey(f, n);
          auto leaving =
              union_of(internal::SliceStream(source, t - length - slide + interval, t - length))
                  .reduceByKey(f, n);
          Rdd<P> prev(holder->last);
          auto merged = prev.cogroup(entering, n).cogroup(leaving, n).flatMap(merge);
          parts = internal::RunJob(
              merged.ref(), std::make_shared<internal::CollectOp<P, internal::EmptyStack<P>>>());
        }
        holder->last_parts = parts;
        holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                               std::make_shared<internal::VectorDecoder<P>>());
        holder->last_ms = t.milliseconds();
        return holder->last;
      });
  internal::StatefulStream state;
  state.kind = "reduceByKeyAndWindow with an inverse function";
  state.type = typeid(P).name();
  state.default_interval = internal::DefaultCheckpointInterval(slide);
  state.save = [holder] { return holder->last_parts; };
  // A window restored from its checkpoint continues only if the next slide follows it; after
  // a longer gap the window is computed again from its batches.
  state.restore = [holder, ctx](std::vector<std::string> parts, Time t) {
    holder->last_parts = parts;
    holder->last = internal::MakeInlineRdd(ctx, std::move(parts),
                                           std::make_shared<internal::VectorDecoder<P>>());
    holder->last_ms = t.milliseconds();
  };
  internal::RegisterStatefulStream(node, std::move(state));
  return DStream<P>(node);
}

}  // namespace ember
