// mapWithState's cost per batch follows the keys a batch touches, not the keys its state
// holds: the same batches (--touched records of distinct random keys each) applied to a
// state of --keys keys and to a state of --touched keys, in local[2] on a manual clock, in
// the same run. Prints each one's mean processing time per batch, then `ratio: X.XX` (large
// state / small state; 1.00 is the goal). The state is checkpointed outside the measured
// batches, as its cost is the whole state's. For reference it also times updateStateByKey
// over the large state (its function sees every key every batch).
//
//   bench/state_bench [--keys N] [--touched N] [--measure BATCHES]

#include <stdlib.h>

#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace {

// Runs 1 + `measure` batches of `touched` distinct random keys each over a state of `keys`
// keys (every key has a count first); `build(pairs, initial, out, batches)` makes the job's
// graph, adding each batch's output records to *out. Returns the mean time per batch after
// the first (which seeds the state).
template <typename Build>
double Measure(int keys, int touched, int measure, int64_t expected_out, Build build) {
  ember::StreamingContext ssc(ember::bench::ManualLocalConf("state-bench"), ember::Seconds(1),
                              std::make_shared<ember::ManualClock>());
  char dir[] = "/tmp/state-bench-XXXXXX";
  ssc.checkpoint(mkdtemp(dir));
  std::vector<std::pair<int32_t, int64_t>> initial(static_cast<size_t>(keys));
  for (int k = 0; k < keys; ++k) initial[static_cast<size_t>(k)] = {k, 1};
  auto queue = std::make_shared<ember::RddQueue<std::pair<int32_t, int32_t>>>();
  std::mt19937 rng(42);
  int batches = 1 + measure;
  std::vector<int32_t> all(static_cast<size_t>(keys));
  std::iota(all.begin(), all.end(), 0);
  for (int b = 0; b < batches; ++b) {
    std::vector<std::pair<int32_t, int32_t>> data;
    for (int i = 0; i < touched; ++i) {  // distinct keys: a partial shuffle
      std::swap(all[static_cast<size_t>(i)],
                all[static_cast<size_t>(i) + rng() % (all.size() - i)]);
      data.emplace_back(all[static_cast<size_t>(i)], 1);
    }
    queue->push(ssc.parallelize(data, 4));
  }
  int64_t out = 0;
  build(ssc, ssc.queueStream(queue), ssc.parallelize(initial, 4), &out, batches);
  ssc.start();
  double ms = ember::bench::MeanBatchMs(ssc, batches, 1);
  ssc.stop();
  if (out != expected_out * batches) {
    std::fprintf(stderr, "wrong output: %lld records\n", static_cast<long long>(out));
    exit(1);
  }
  return ms;
}

double MapWithState(int keys, int touched, int measure) {
  return Measure(keys, touched, measure, touched,
                 [](auto& ssc, auto pairs, auto initial, int64_t* out, int batches) {
                   (void)ssc;
                   auto spec = ember::StateSpec::function([](const int32_t& key,
                                                             const std::optional<int32_t>& one,
                                                             ember::State<int64_t>& state) {
                                 int64_t n = state.getOption().value_or(0) + one.value_or(0);
                                 state.update(n);
                                 return n;
                               })
                                   .numPartitions(4)
                                   .initialState(initial);
                   pairs.mapWithState(spec)
                       .checkpoint(ember::Seconds(10 * batches))
                       .foreachRDD([out](const ember::Rdd<int64_t>& rdd) { *out += rdd.count(); });
                 });
}

// Its function sees every key every batch: the whole state's cost, by definition.
double UpdateStateByKey(int keys, int touched, int measure) {
  return Measure(
      keys, touched, measure, keys,
      [](auto& ssc, auto pairs, auto initial, int64_t* out, int batches) {
        (void)ssc;
        auto f = [](const std::vector<int32_t>& ones, const std::optional<int64_t>& s) {
          return std::optional<int64_t>(s.value_or(0) + static_cast<int64_t>(ones.size()));
        };
        pairs.updateStateByKey(f, 4, initial)
            .checkpoint(ember::Seconds(10 * batches))
            .foreachRDD(
                [out](const ember::Rdd<std::pair<int32_t, int64_t>>& rdd) { *out += rdd.count(); });
      });
}

}  // namespace

int main(int argc, char** argv) {
  int keys = 1000000, touched = 10000, measure = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::stoi(argv[i + 1]);
    if (a == "--keys")
      keys = v;
    else if (a == "--touched")
      touched = v;
    else if (a == "--measure")
      measure = v;
    else {
      std::fprintf(stderr, "usage: state_bench [--keys N] [--touched N] [--measure B]\n");
      return 2;
    }
  }
  if (touched <= 0 || touched > keys || measure <= 0) {
    std::fprintf(stderr, "state_bench: need 0 < --touched <= --keys and --measure > 0\n");
    return 2;
  }
  double large = MapWithState(keys, touched, measure);
  double small = MapWithState(touched, touched, measure);
  double everything = UpdateStateByKey(keys, touched, measure);
  std::printf("mapWithState, %d keys touched per batch\n", touched);
  std::printf("state of %8d keys: %8.2f ms per batch\n", keys, large);
  std::printf("state of %8d keys: %8.2f ms per batch\n", touched, small);
  std::printf("updateStateByKey, state of %d keys: %8.2f ms per batch\n", keys, everything);
  std::printf("ratio: %.2f\n", small > 0 ? large / small : 0.0);
  return 0;
}
