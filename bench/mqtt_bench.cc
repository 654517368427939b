// MQTT in: how many messages a second the receiver takes from a real mosquitto broker, at
// QoS 1 (acknowledged after the store, Ember's client) and at QoS 0 (libmosquitto), in
// local[2] with 500 ms batches, in the same run. A publisher in this process queues --messages
// 100-byte messages at QoS 1 as fast as the broker takes them; the time is from the first to
// the last message counted. With --inflight N the broker sends up to N unacknowledged
// messages at a time (its max_inflight_messages; mosquitto's default is 20).
//
//   bench/mqtt_bench [--messages N] [--inflight N]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "common/ember.h"
#include "common/mqtt.h"
#include "tests/mosquitto_broker.h"

namespace {

using Clock = std::chrono::steady_clock;

// Seconds from the first message counted to the last; -1 when not all came within a minute.
double Run(ember::testing::MosquittoBroker& broker, int qos, int messages) {
  ember::Conf conf;
  conf.setMaster("local[2]").setAppName("mqtt-bench").set("ember.ui.enabled", "false");
  ember::StreamingContext ssc(conf, ember::Milliseconds(500));
  ember::mqtt::Options options;
  options.qos = qos;
  options.clientId = "bench-" + std::to_string(qos);
  const std::string topic = "bench/" + std::to_string(qos);
  auto counted = std::make_shared<std::atomic<int64_t>>(0);
  auto first = std::make_shared<std::atomic<int64_t>>(0);
  ember::mqtt::createStream(ssc, broker.url(), topic, options)
      .count()
      .foreachRDD([counted, first](const auto& rdd, ember::Time) {
        for (int64_t n : rdd.collect()) {
          if (n > 0 && first->load() == 0) {
            first->store(Clock::now().time_since_epoch().count());
          }
          counted->fetch_add(n);
        }
      });
  ssc.start();
  // Once the subscription is in place (a greeting counted), the messages.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (counted->load() == 0 && Clock::now() < deadline) {
    broker.Publish(topic, "hello");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int64_t greetings = counted->load();
  first->store(0);
  const std::string payload(100, 'm');
  for (int i = 0; i < messages; ++i) broker.Publish(topic, payload);
  deadline = Clock::now() + std::chrono::seconds(60);
  // Greetings still in flight may add a few: at least every message counted.
  while (counted->load() < greetings + messages && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  bool all = counted->load() >= greetings + messages;
  auto end = Clock::now().time_since_epoch().count();
  ssc.stop(true, false);
  if (!all) return -1;
  return std::chrono::duration<double>(Clock::duration(end - first->load())).count();
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 200000, inflight = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" && i + 1 < argc) {
      messages = std::stoi(argv[++i]);
    } else if (a == "--inflight" && i + 1 < argc) {
      inflight = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: mqtt_bench [--messages N] [--inflight N]\n");
      return 2;
    }
  }
  ember::testing::MosquittoBroker broker(
      {"max_inflight_messages " + std::to_string(inflight), "max_queued_messages 0"});
  if (!broker.ok()) {
    std::fprintf(stderr, "mosquitto did not start:\n%s\n", broker.Log().c_str());
    return 1;
  }
  double qos1 = Run(broker, 1, messages);
  double qos0 = Run(broker, 0, messages);
  auto rate = [&](double s) { return s > 0 ? messages / s : 0.0; };
  std::printf("%d messages of 100 bytes, broker max_inflight_messages %d\n", messages, inflight);
  std::printf("qos1 (acknowledged after the store): %.0f messages/s\n", rate(qos1));
  std::printf("qos0 (libmosquitto): %.0f messages/s\n", rate(qos0));
  std::printf("qos1/qos0: %.2f\n", rate(qos0) > 0 ? rate(qos1) / rate(qos0) : 0.0);
  return qos1 > 0 && qos0 > 0 ? 0 : 1;
}
