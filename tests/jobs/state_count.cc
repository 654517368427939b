// State on a cluster: batch i takes the keys (i*7 + j) % 50 for j < 40 from a queue; a
// mapWithState counts each key's records and updateStateByKey sums them again. Prints after
// every batch:
//
//   state batch=<i> keys=<keys with state> total=<sum of all counts> updated=<sum of states>
//
//   ember-submit ... libstate_count.so -- BATCHES BATCH_MS RUN_MS CHECKPOINT_DIR

#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 4) {
    throw ember::EmberError("usage: libstate_count.so BATCHES BATCH_MS RUN_MS CHECKPOINT_DIR");
  }
  int batches = std::stoi(args[0]);
  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(std::stoll(args[1])));
  ssc.checkpoint(args[3]);
  auto queue = std::make_shared<ember::RddQueue<std::pair<int, int>>>();
  for (int i = 0; i < batches; ++i) {
    std::vector<std::pair<int, int>> data;
    for (int j = 0; j < 40; ++j) data.emplace_back((i * 7 + j) % 50, 1);
    queue->push(ssc.parallelize(data, 3));
  }
  auto pairs = ssc.queueStream(queue);
  auto counted = pairs.mapWithState(ember::StateSpec::function(
      [](const int& key, const std::optional<int>& one, ember::State<int64_t>& state) {
        state.update(state.getOption().value_or(0) + one.value_or(0));
        return std::make_pair(key, state.get());
      }).numPartitions(4));
  auto summed = pairs.updateStateByKey(
      [](const std::vector<int>& ones, const std::optional<int64_t>& s) -> std::optional<int64_t> {
        return s.value_or(0) + static_cast<int64_t>(ones.size());
      });
  auto batch = std::make_shared<int>(0);
  auto snapshots = counted.stateSnapshots();
  ember::internal::ContextCore* ctx = ember::internal::ContextOf(snapshots.ref());
  snapshots.foreachRDD([batch, summed, ctx](const auto& rdd, ember::Time t) {
    auto states = rdd.collect();
    if (states.empty()) return;
    int64_t total = 0;
    for (const auto& kv : states) total += kv.second;
    int64_t updated = 0;
    for (const auto& kv : summed.slice(t, t)[0].collect()) updated += kv.second;
    ember::internal::EmitOutput(ctx, "state batch=" + std::to_string((*batch)++) +
                                         " keys=" + std::to_string(states.size()) +
                                         " total=" + std::to_string(total) +
                                         " updated=" + std::to_string(updated) + "\n");
  });
  ssc.start();
  ssc.awaitTerminationOrTimeout(std::stoll(args[2]));
  ssc.stop();
}
