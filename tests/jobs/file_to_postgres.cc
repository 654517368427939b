// Exactly-once output on a cluster: each line "ID WORD" of the new files in INPUT becomes a
// row (id, word) of TABLE through ember::postgres::save (append). Recovers from
// CHECKPOINT_DIR when it holds a checkpoint, so a driver killed mid-write runs its pending
// batches again, whose partitions the marker table lets through once.
//
//   ember-submit ... libfile_to_postgres.so -- INPUT CONNINFO TABLE CHECKPOINT_DIR BATCH_MS RUN_MS

#include <string>
#include <tuple>

#include "common/ember.h"
#include "common/postgres.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 6) {
    throw ember::EmberError(
        "usage: libfile_to_postgres.so INPUT CONNINFO TABLE CHECKPOINT_DIR BATCH_MS RUN_MS");
  }
  auto ssc = ember::StreamingContext::getOrCreate(args[3], [&] {
    auto c = std::make_unique<ember::StreamingContext>(job.conf(),
                                                       ember::Milliseconds(std::stoll(args[4])));
    auto rows = c->textFileStream(args[0]).map([](const std::string& line) {
      const size_t space = line.find(' ');
      return std::make_tuple(std::stoll(line.substr(0, space)), line.substr(space + 1));
    });
    ember::postgres::save(rows, args[1], args[2], ember::postgres::append());
    return c;
  });
  ssc->start();
  ssc->awaitTerminationOrTimeout(std::stoll(args[5]));
  ssc->stop();
}
