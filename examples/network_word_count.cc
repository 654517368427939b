// The seed's network word count: words of the lines a TCP server sends, counted per batch.
//
//   ember-submit --master 'local[2]' libnetwork_word_count.so -- [HOST [PORT [BATCH_MS [RUN_MS]]]]
//
// Defaults: localhost 9999, 5000 ms batches, runs 10000 ms (as the seed's program).

#include <string>
#include <utility>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  std::string host = args.size() > 0 ? args[0] : "localhost";
  int port = args.size() > 1 ? std::stoi(args[1]) : 9999;
  int64_t batch_ms = args.size() > 2 ? std::stoll(args[2]) : 5000;
  int64_t run_ms = args.size() > 3 ? std::stoll(args[3]) : 10000;

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  auto lines = ssc.socketTextStream(host, port);
  auto words = lines.flatMap([](const std::string& line) { return ember::Split(line, ' '); });
  auto pairs = words.map([](const std::string& w) { return std::make_pair(w, 1); });
  auto wordCounts = pairs.reduceByKey([](int a, int b) { return a + b; });
  wordCounts.print();
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
