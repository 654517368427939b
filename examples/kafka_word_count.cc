// The seed's word count over a Kafka topic (Spark's DirectKafkaWordCount): the lines of the
// topic's records, counted per batch, printed, and written back to Kafka.
//
//   ember-submit ... libkafka_word_count.so -- BROKERS TOPIC [GROUP [BATCH_MS [RUN_MS
//       [CHECKPOINT_DIR [OUTPUT_PREFIX [OUTPUT_TOPIC]]]]]]
//
// With CHECKPOINT_DIR, the job recovers from it (the batches' offset ranges included). With
// OUTPUT_PREFIX, each batch's counts are saved as text files (prefix-TIME/part-*), which a batch
// run again after a crash rewrites with the same contents. With OUTPUT_TOPIC, each batch's
// counts go to that topic, keyed by word (the value is the count, a big-endian long). Each
// batch's ranges are committed to GROUP once its outputs are done.

#include <string>
#include <utility>

#include "common/ember.h"
#include "common/kafka.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() < 2) {
    throw ember::EmberError(
        "usage: libkafka_word_count.so BROKERS TOPIC [GROUP [BATCH_MS [RUN_MS [CHECKPOINT_DIR "
        "[OUTPUT_PREFIX [OUTPUT_TOPIC]]]]]]");
  }
  const std::string brokers = args[0], topic = args[1];
  const std::string group = args.size() > 2 ? args[2] : "ember-word-count";
  const int64_t batch_ms = args.size() > 3 ? std::stoll(args[3]) : 2000;
  const int64_t run_ms = args.size() > 4 ? std::stoll(args[4]) : 10000;
  const std::string checkpoint = args.size() > 5 ? args[5] : "";
  const std::string output = args.size() > 6 ? args[6] : "";
  const std::string output_topic = args.size() > 7 ? args[7] : "";

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  if (!checkpoint.empty()) ssc.checkpoint(checkpoint);
  ember::kafka::Params params = {
      {"bootstrap.servers", brokers}, {"group.id", group}, {"auto.offset.reset", "earliest"}};
  auto messages = ember::kafka::createDirectStream<std::string, std::string>(
      ssc, ember::kafka::LocationStrategies::PreferConsistent(),
      ember::kafka::ConsumerStrategies::Subscribe({topic}, params));
  auto words =
      messages.flatMap([](const ember::kafka::ConsumerRecord<std::string, std::string>& r) {
        return ember::Split(r.value(), ' ');
      });
  auto counts = words.map([](const std::string& w) { return std::make_pair(w, int64_t{1}); })
                    .reduceByKey([](int64_t a, int64_t b) { return a + b; });
  counts.print();
  if (!output.empty()) counts.saveAsTextFiles(output);
  if (!output_topic.empty()) {
    ember::kafka::saveToKafka(counts, output_topic, {{"bootstrap.servers", brokers}},
                              [](const std::pair<std::string, int64_t>& kv) { return kv; });
  }
  // After the outputs of the batch (output operations run in order): its ranges are done.
  messages.foreachRDD([&messages](const auto& rdd, ember::Time) {
    ember::kafka::commitAsync(messages, ember::kafka::offsetRanges(rdd));
  });
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
