// Known words on live dashboards: each of the first BATCHES batches holds the same words
// (apple 5, a hostile key 4, pear 3, plum 1), counted per batch and shown on a "words"
// dashboard (top 3) and a "records" dashboard (the batch's record count), so that a test knows
// every value the web UI and the REST API must show.
//
//   ember-submit ... libdashboard_words.so -- BATCH_MS RUN_MS BATCHES

#include <string>
#include <utility>
#include <vector>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 3) throw ember::EmberError("usage: libdashboard_words.so BATCH_MS RUN_MS BATCHES");
  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(std::stoll(args[0])));
  auto queue = std::make_shared<ember::RddQueue<std::string>>();
  std::vector<std::string> words;
  for (const auto& [word, n] : std::vector<std::pair<std::string, int>>{
           {"apple", 5}, {"<img src=x onerror=alert(1)>", 4}, {"pear", 3}, {"plum", 1}}) {
    words.insert(words.end(), n, word);
  }
  for (int i = 0, n = std::stoi(args[2]); i < n; ++i) queue->push(ssc.parallelize(words, 2));
  auto lines = ssc.queueStream(queue);
  auto counts = lines.map([](const std::string& w) { return std::make_pair(w, 1); })
                    .reduceByKey([](int a, int b) { return a + b; });
  counts.dashboard("words", {/*top=*/3, /*window=*/500, /*chart=*/"line"});
  lines.count().dashboard("records", {/*top=*/1, /*window=*/500, /*chart=*/"bar"});
  ssc.start();
  ssc.awaitTerminationOrTimeout(std::stoll(args[1]));
  ssc.stop();
}
