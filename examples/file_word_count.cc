// The seed's file-stream word count: words of the files that appear in a directory, counted
// per batch and sorted by count, highest first.
//
//   ember-submit --master 'local[2]' libfile_word_count.so -- DIR [BATCH_MS [RUN_MS]]
//
// Defaults: 5000 ms batches, runs 10000 ms. Write files elsewhere and move them into DIR.

#include <string>
#include <utility>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.empty())
    throw ember::EmberError("usage: libfile_word_count.so -- DIR [BATCH_MS [RUN_MS]]");
  int64_t batch_ms = args.size() > 1 ? std::stoll(args[1]) : 5000;
  int64_t run_ms = args.size() > 2 ? std::stoll(args[2]) : 10000;

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  auto lines = ssc.textFileStream(args[0]);
  auto words = lines.flatMap([](const std::string& line) { return ember::Split(line, ' '); });
  auto pairs = words.map([](const std::string& w) { return std::make_pair(w, 1); });
  auto wordCounts =
      pairs.reduceByKey([](int a, int b) { return a + b; }).transform([](const auto& rdd) {
        return rdd.sortBy([](const std::pair<std::string, int>& p) { return -p.second; });
      });
  wordCounts.print();
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
