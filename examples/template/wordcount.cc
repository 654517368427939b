// A job written outside the Ember tree: the seed's network word count.
//
//   ember-submit --master 'local[2]' ./libwordcount.so -- HOST PORT [BATCH_MS [RUN_MS]]
//   ember-submit --master ember://DRIVER:7077 ./libwordcount.so -- HOST PORT [BATCH_MS [RUN_MS]]

#include <string>
#include <utility>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() < 2) throw ember::EmberError("usage: libwordcount.so HOST PORT [BATCH_MS [RUN_MS]]");
  int64_t batch_ms = args.size() > 2 ? std::stoll(args[2]) : 1000;
  int64_t run_ms = args.size() > 3 ? std::stoll(args[3]) : 10000;

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  auto lines = ssc.socketTextStream(args[0], std::stoi(args[1]));
  auto words = lines.flatMap([](const std::string& line) { return ember::Split(line, ' '); });
  auto counts = words.map([](const std::string& w) { return std::make_pair(w, 1); })
                    .reduceByKey([](int a, int b) { return a + b; });
  counts.print();
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
