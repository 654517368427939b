// A 60-batch window, reduceByKeyAndWindow over keyed records, with and without the inverse
// function, in local[2] on a manual clock, in the same run. Prints each one's mean processing
// time per batch once the window is full, then `ratio: X.XX` (without / with the inverse).
// The incremental form's cost does not grow with the window length.
//
//   bench/window_bench [--records N] [--keys N] [--window BATCHES] [--measure BATCHES]

#include <stdlib.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace {

double Run(bool inverse, int records, int keys, int window, int measure) {
  ember::StreamingContext ssc(ember::bench::ManualLocalConf("window-bench"), ember::Seconds(1),
                              std::make_shared<ember::ManualClock>());
  char dir[] = "/tmp/window-bench-XXXXXX";
  ssc.checkpoint(mkdtemp(dir));
  auto queue = std::make_shared<ember::RddQueue<std::pair<int32_t, int64_t>>>();
  std::mt19937 rng(42);
  int batches = window + measure;
  for (int b = 0; b < batches; ++b) {
    std::vector<std::pair<int32_t, int64_t>> data(static_cast<size_t>(records));
    for (auto& kv : data)
      kv = {static_cast<int32_t>(rng() % keys), static_cast<int64_t>(rng() % 100)};
    queue->push(ssc.parallelize(data, 4));
  }
  auto stream = ssc.queueStream(queue);
  auto plus = [](int64_t a, int64_t b) { return a + b; };
  auto minus = [](int64_t a, int64_t b) { return a - b; };
  int64_t sink = 0;
  int64_t* out = &sink;
  auto count = [out](const ember::Rdd<std::pair<int32_t, int64_t>>& rdd) { *out += rdd.count(); };
  if (inverse) {
    stream.reduceByKeyAndWindow(plus, minus, ember::Seconds(window), ember::Seconds(1))
        .foreachRDD(count);
  } else {
    stream.reduceByKeyAndWindow(plus, ember::Seconds(window), ember::Seconds(1)).foreachRDD(count);
  }
  ssc.start();
  double ms = ember::bench::MeanBatchMs(ssc, batches, window);
  ssc.stop();
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  int records = 20000, keys = 2000, window = 60, measure = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::stoi(argv[i + 1]);
    if (a == "--records")
      records = v;
    else if (a == "--keys")
      keys = v;
    else if (a == "--window")
      window = v;
    else if (a == "--measure")
      measure = v;
    else {
      std::fprintf(stderr,
                   "usage: window_bench [--records N] [--keys N] [--window B] [--measure B]\n");
      return 2;
    }
  }
  double plain = Run(false, records, keys, window, measure);
  double inverse = Run(true, records, keys, window, measure);
  std::printf("%d-batch window, %d records and %d keys per batch\n", window, records, keys);
  std::printf("without inverse: %8.2f ms per batch\n", plain);
  std::printf("with inverse:    %8.2f ms per batch\n", inverse);
  std::printf("ratio: %.2f\n", inverse > 0 ? plain / inverse : 0.0);
  return 0;
}
