// An MQTT stream saved batch by batch: QoS 1 with a fixed client id and a session the broker
// keeps (cleanSession = false), so every message is acknowledged only after the block holding
// it is stored, and a receiver that dies is sent again what it had not acknowledged. Each
// batch is saved with saveAsTextFiles, so a test can check that every message arrived.
//
//   ember-submit ... libmqtt_save.so -- BROKER_URL TOPIC CLIENT_ID OUTPUT_PREFIX BATCH_MS RUN_MS

#include <string>

#include "common/ember.h"
#include "common/mqtt.h"

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 6) {
    throw ember::EmberError(
        "usage: libmqtt_save.so BROKER_URL TOPIC CLIENT_ID OUTPUT_PREFIX BATCH_MS RUN_MS");
  }
  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(std::stoll(args[4])));
  ember::mqtt::Options options;
  options.clientId = args[2];
  options.cleanSession = false;
  options.qos = 1;
  ember::mqtt::createStream(ssc, args[0], args[1], options).saveAsTextFiles(args[3]);
  ssc.start();
  ssc.awaitTerminationOrTimeout(std::stoll(args[5]));
  ssc.stop();
}
