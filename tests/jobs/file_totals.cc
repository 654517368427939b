// Recovery on a cluster: the words of new files in INPUT, each batch's counts saved under
// OUTPUT/counts-<time> (and as a block-compressed SequenceFile under OUTPUT/seq-<time>), and every
// word's running total (updateStateByKey) under OUTPUT/totals-<time>. Recovers from CHECKPOINT_DIR
// when it holds a checkpoint.
//
//   ember-submit ... libfile_totals.so -- INPUT OUTPUT CHECKPOINT_DIR BATCH_MS RUN_MS

#include <cctype>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/ember.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 5) {
    throw ember::EmberError("usage: libfile_totals.so INPUT OUTPUT CHECKPOINT_DIR BATCH_MS RUN_MS");
  }
  auto ssc = ember::StreamingContext::getOrCreate(args[2], [&] {
    auto c = std::make_unique<ember::StreamingContext>(job.conf(),
                                                       ember::Milliseconds(std::stoll(args[3])));
    auto words = c->textFileStream(args[0])
                     .flatMap([](const std::string& line) {
                       std::vector<std::string> out;
                       std::istringstream in(line);
                       for (std::string w; in >> w;) {
#ifdef FILE_TOTALS_UPPERCASE  // the upgraded build: another function body, the same graph
                         for (char& ch : w) ch = static_cast<char>(std::toupper(ch));
#endif
                         out.push_back(w);
                       }
                       return out;
                     })
                     .map([](const std::string& w) { return std::make_pair(w, int64_t{1}); });
    auto counts = words.reduceByKey([](int64_t a, int64_t b) { return a + b; }, 3);
#ifdef FILE_TOTALS_WINDOWED  // another graph: refused on the checkpoint of the first
    counts = counts.window(ember::Milliseconds(2 * std::stoll(args[3])));
#endif
    counts.saveAsTextFiles(args[1] + "/counts");
    counts.saveAsHadoopFiles(
        args[1] + "/seq", "",
        ember::hadoop::SequenceFileOutputFormat{ember::hadoop::CompressionType::kBlock,
                                                ember::hadoop::Codec::kDefault});
    words
        .updateStateByKey([](const std::vector<int64_t>& vs,
                             const std::optional<int64_t>& s) -> std::optional<int64_t> {
          int64_t n = s.value_or(0);
          for (int64_t v : vs) n += v;
          return n;
        })
        .saveAsTextFiles(args[1] + "/totals");
    return c;
  });
  ssc->start();
  ssc->awaitTerminationOrTimeout(std::stoll(args[4]));
  ssc->stop();
}
