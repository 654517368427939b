#pragma once
// The runtime's entry points that the typed, header-only API calls. Job code never includes
// anything else of the runtime; these symbols resolve against the process that loads the job.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/op.h"
#include "common/time.h"

namespace ember {
namespace internal {

class RddNode;      // one batch's lineage node, on the driver (runtime/rdd_graph.h)
class StreamNode;   // one DStream, on the driver (runtime/stream_graph.h)
class ContextCore;  // a StreamingContext's engine (runtime/context_core.h)
using RddRef = std::shared_ptr<RddNode>;
using StreamRef = std::shared_ptr<StreamNode>;

// ----------------------------------------------------------------------------- lineage
RddRef MakeNarrowRdd(std::vector<RddRef> parents, std::shared_ptr<const NarrowOp> op);
RddRef MakeShuffledRdd(std::vector<RddRef> parents,
                       std::vector<std::shared_ptr<const ShuffleWriterOp>> writers,
                       std::shared_ptr<const ShuffleReaderOp> reader, int num_partitions);
RddRef MakeUnionRdd(std::vector<RddRef> parents);
// Data held by the driver, one encoded partition each (parallelize, queueStream).
RddRef MakeInlineRdd(ContextCore* ctx, std::vector<std::string> encoded_partitions,
                     std::shared_ptr<const DecoderOp> decoder);
RddRef MakeEmptyRdd(ContextCore* ctx);
// The partitions of a stateful stream's state that the executors keep (proto::StateInput):
// an update of the state at prev_ms with `values` to new_ms (its partitions are the update's
// outputs), or a read of the state at new_ms. `values` and `seed` (null: none; the state at
// prev_ms as records) have `num_partitions` partitions, hash-partitioned by key.
struct StateRddSpec {
  enum Mode { kUpdate = 0, kSnapshot = 1, kRecords = 2 };
  std::string state_key;
  Mode mode = kUpdate;
  int64_t prev_ms = -1;
  int64_t new_ms = -1;
  std::shared_ptr<const StateOp> op;
  int num_partitions = 1;
  int keep_versions = 1;  // kUpdate: versions the executors keep for reads
};
RddRef MakeStateRdd(ContextCore* ctx, StateRddSpec spec, RddRef values, RddRef seed);
// A key for a new stateful stream's state, unique to this run of the context.
std::string NewStateKey(ContextCore* ctx);
int NumPartitions(const RddRef& rdd);
ContextCore* ContextOf(const RddRef& rdd);
int DefaultParallelism(ContextCore* ctx);
// The partition count of a shuffle given none: ember.default.parallelism when configured, else
// the largest parent's (null parents are skipped).
int DefaultShufflePartitions(const std::vector<RddRef>& parents);

// Runs one job: `op` over the given partitions of `rdd` (all when `partitions` is empty) and
// returns each partition's result bytes, in order. Throws EmberError when the job fails.
std::vector<std::string> RunJob(const RddRef& rdd, std::shared_ptr<const ResultOp> op,
                                const std::vector<int>& partitions = {});
// Runs a result op that counts records (no typed code needed).
std::shared_ptr<const ResultOp> CountResultOp();

// ----------------------------------------------------------------------------- streams
using ComputeFn = std::function<RddRef(const std::vector<RddRef>& parents, Time time)>;
// A stream computed on the driver from its parents' RDDs of the same batch.
StreamRef MakeDerivedStream(std::vector<StreamRef> parents, ComputeFn fn);
// A stream with no parent whose RDD the driver makes each batch (queueStream).
StreamRef MakeSourceStream(ContextCore* ctx, std::function<RddRef(Time)> fn);
// Output operations run for every batch, in the order they were registered.
void RegisterOutput(const StreamRef& stream, std::function<void(const RddRef&, Time)> fn);
// The name the UI and listeners show for the output registered last ("foreachRDD" otherwise).
void NameLastOutput(const StreamRef& stream, const std::string& name);
// The output that computes a stateful stream every batch, in order; named `kind`. After a
// recovery, the batches that had completed run again for these outputs only.
void RegisterStateOutput(const StreamRef& stream, const std::string& kind);
void PersistStream(const StreamRef& stream);
// window(length, slide); throws EmberError unless both are multiples of the parent's slide.
StreamRef MakeWindowedStream(const StreamRef& parent, Duration length, Duration slide);
// The remembered RDDs of the batches in [from, to].
std::vector<RddRef> SliceStream(const StreamRef& stream, Time from, Time to);
Duration SlideOf(const StreamRef& stream);
ContextCore* ContextOf(const StreamRef& stream);
// ------------------------------------------------------------------------- checkpoints
// A stream that keeps state between batches (inverse windows in the driver; mapWithState and
// updateStateByKey in the executors). The engine saves `save()` (encoded partitions) every
// checkpoint interval to the context's checkpoint directory and, when the context starts on a
// directory holding a checkpoint of this stream, gives it back through `restore(parts, time)`.
struct StatefulStream {
  std::string kind;           // for messages: "updateStateByKey", ...
  std::string type;           // the state records' type (typeid name), for the graph shape
  Duration default_interval;  // unless dstream.checkpoint(interval) says otherwise
  std::function<std::vector<std::string>()> save;
  std::function<void(std::vector<std::string> parts, Time time)> restore;
  // The state is rebuilt, when lost, from its checkpoint and the batches since: the stream's
  // parents keep their RDDs for a checkpoint interval (mapWithState's executor-kept state).
  bool replays_inputs = false;
};
void RegisterStatefulStream(const StreamRef& stream, StatefulStream state);
// The newest state checkpoint of a registered stateful stream: its time, and its partitions
// through `parts`; -1 when there is none.
int64_t LatestStateCheckpoint(const StreamNode* stream, std::vector<std::string>* parts);
// How long a stream keeps its generated RDDs (known once the context started).
Duration RememberOf(const StreamNode* stream);
void SetCheckpointInterval(const StreamRef& stream, Duration interval);
void SetCheckpointDirectory(ContextCore* ctx, const std::string& directory);

// ------------------------------------------------------------------------- dashboards
// One batch of a dashboard (DStream::dashboard): its points, largest first, for the web UI
// and the REST API of the application's driver.
struct DashboardUpdate {
  std::string name;
  std::string chart = "line";  // "line" or "bar"
  int top = 10;                // points kept per batch
  int window = 60;             // batches kept
  bool keyed = true;           // (key, number) pairs; false: one value per batch
  int64_t batch_ms = 0;
  std::vector<std::pair<std::string, double>> points;
};
// Throws EmberError unless `update`'s name and options are valid and the name is new to the
// context (a name is [A-Za-z0-9_.-], 1 to 64 characters; top 1..100; window 1..1000).
void RegisterDashboard(ContextCore* ctx, const DashboardUpdate& update);
void PostDashboard(ContextCore* ctx, DashboardUpdate update);

// Where print() writes: the job's driver-side output.
// (Listeners: StreamingContext::addStreamingListener, implemented by the runtime.)
void EmitOutput(ContextCore* ctx, const std::string& text);

}  // namespace internal
}  // namespace ember
