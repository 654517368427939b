// Word-count throughput: the engine in local[2] against a plain single-threaded C++ loop that
// counts the same words, in the same run. Prints words/s for both and, last, `ratio: X.XX`
// (engine / loop).
//
// The engine's figure is its sustainable rate: words per second of batch processing time,
// for batches of about a second of work, fed through a real receiver and its blocks. A rate at
// or below it keeps up with a 1 s batch interval.
//
//   bench/wordcount_bench [--lines N] [--words-per-line N] [--vocabulary N] [--batches N]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/ember.h"
#include "runtime/context_core.h"

namespace {

std::vector<std::string> MakeLines(int64_t lines, int words_per_line, int vocabulary,
                                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, vocabulary - 1);
  std::vector<std::string> out;
  out.reserve(lines);
  for (int64_t i = 0; i < lines; ++i) {
    std::string line;
    for (int w = 0; w < words_per_line; ++w) {
      if (w) line.push_back(' ');
      line += "word";
      line += std::to_string(pick(rng));
    }
    out.push_back(std::move(line));
  }
  return out;
}

// The bench hands the receiver its text chunk by chunk, one chunk per block interval, so a
// batch's input arrives as several blocks (partitions), as it does from a live source.
class TextReceiver;
std::atomic<TextReceiver*> the_receiver{nullptr};

class TextReceiver : public ember::Receiver<std::string> {
 public:
  TextReceiver() = default;
  void onStart() override { the_receiver = this; }
  void onStop() override { the_receiver = nullptr; }
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t lines = 400000;
  int words_per_line = 10, vocabulary = 10000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--lines")) lines = std::stoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--words-per-line")) words_per_line = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--vocabulary")) vocabulary = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--batches")) rounds = std::stoi(argv[i + 1]);
  }
  const double words = static_cast<double>(lines) * words_per_line;

  // The loop: the same split and count, one thread, no engine.
  auto text = MakeLines(lines, words_per_line, vocabulary, 7);
  double loop_best = 0;
  for (int r = 0; r < rounds; ++r) {
    auto start = std::chrono::steady_clock::now();
    absl::flat_hash_map<std::string, int64_t> counts;
    for (const std::string& line : text) {
      for (std::string_view w : ember::Split(line, ' ')) ++counts[std::string(w)];
    }
    double s = Seconds(std::chrono::steady_clock::now() - start);
    if (counts.size() == 0) return 1;
    loop_best = std::max(loop_best, words / s);
  }
  text.clear();

  // The engine: local[2], a receiver, the seed's pipeline, one batch per round.
  double engine_best = 0;
  for (int r = 0; r < rounds; ++r) {
    ember::Conf conf;
    conf.setMaster("local[3]");  // 2 task slots + receiver
    ember::StreamingContext ssc(conf, ember::Seconds(1), std::make_shared<ember::ManualClock>());
    int64_t distinct = 0;
    ssc.receiverStream<TextReceiver>()
        .flatMap([](const std::string& line) { return ember::Split(line, ' '); })
        .map([](const std::string& w) { return std::make_pair(w, int64_t{1}); })
        .reduceByKey([](int64_t a, int64_t b) { return a + b; })
        .foreachRDD([&distinct](const auto& rdd) { distinct += rdd.count(); });
    ssc.start();
    auto& clock = static_cast<ember::ManualClock&>(ssc.clock());
    while (the_receiver == nullptr) std::this_thread::yield();
    // Five block intervals of 200 ms, a fifth of the text in each: five blocks. The timer
    // starts before the last interval ends, so it also counts cutting the last block.
    auto chunks = MakeLines(lines, words_per_line, vocabulary, 7 + r);
    const int kBlocks = 5;
    std::chrono::steady_clock::time_point start;
    for (int b = 0; b < kBlocks; ++b) {
      size_t from = chunks.size() * b / kBlocks, to = chunks.size() * (b + 1) / kBlocks;
      the_receiver.load()->store(
          std::vector<std::string>(chunks.begin() + from, chunks.begin() + to));
      size_t stored = ssc.core()->local_services()->block_store().size();
      if (b == kBlocks - 1) start = std::chrono::steady_clock::now();
      clock.Advance(200);
      if (b < kBlocks - 1) {
        while (ssc.core()->local_services()->block_store().size() == stored)
          std::this_thread::yield();
      }
    }
    // The batch at 1000 ms takes the five blocks.
    if (!ssc.core()->WaitForBatch(ember::Time(1000), absl::Seconds(300))) return 1;
    double s = Seconds(std::chrono::steady_clock::now() - start);
    ssc.stop();
    if (distinct != vocabulary) {
      std::fprintf(stderr, "wrong result: %ld distinct words, expected %d\n",
                   static_cast<long>(distinct), vocabulary);
      return 1;
    }
    engine_best = std::max(engine_best, words / s);
  }
  std::printf("words per batch: %.0f (vocabulary %d)\n", words, vocabulary);
  std::printf("loop:   %.0f words/s (1 thread)\n", loop_best);
  std::printf("engine: %.0f words/s (local[2] task slots)\n", engine_best);
  std::printf("ratio: %.2f\n", engine_best / loop_best);
  return 0;
}
