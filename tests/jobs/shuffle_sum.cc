// A shuffle-heavy job with a deterministic input, for fault-injection tests: batch i takes the
// numbers [i*N, (i+1)*N) from a queue, sums them by x % 101 over 8 partitions, regroups the
// sums by key % 7 (a second shuffle) and prints one line per batch:
//
//   result first=<i*N> total=<sum> groups=<7> digest=<sum over groups of (g+1)*sum mod 1e9+7>
//
//   ember-submit ... libshuffle_sum.so -- BATCHES N BATCH_MS RUN_MS

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 4) throw ember::EmberError("usage: libshuffle_sum.so BATCHES N BATCH_MS RUN_MS");
  int batches = std::stoi(args[0]);
  int64_t n = std::stoll(args[1]);
  int64_t batch_ms = std::stoll(args[2]);
  int64_t run_ms = std::stoll(args[3]);

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  auto queue = std::make_shared<ember::RddQueue<int64_t>>();
  for (int i = 0; i < batches; ++i) {
    std::vector<int64_t> data(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) data[static_cast<size_t>(k)] = i * n + k;
    queue->push(ssc.parallelize(data, 4));
  }
  auto sums = ssc.queueStream(queue)
                  .map([](int64_t x) { return std::make_pair(x % 101, x); })
                  .reduceByKey([](int64_t a, int64_t b) { return a + b; }, 8)
                  .map([](const std::pair<int64_t, int64_t>& kv) {
                    return std::make_pair(kv.first % 7, kv.second);
                  })
                  .reduceByKey([](int64_t a, int64_t b) { return a + b; }, 3);
  sums.foreachRDD([](const auto& rdd, ember::Time t) {
    auto groups = rdd.collect();
    if (groups.empty()) return;
    std::sort(groups.begin(), groups.end());
    int64_t total = 0, digest = 0;
    for (const auto& [g, s] : groups) {
      total += s;
      digest = (digest + (g + 1) * (s % 1000000007)) % 1000000007;
    }
    (void)t;
    ember::internal::EmitOutput(
        ember::internal::ContextOf(rdd.ref()),
        "result total=" + std::to_string(total) + " groups=" + std::to_string(groups.size()) +
            " digest=" + std::to_string(digest) + "\n");
  });
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
