// MQTT at QoS 1 on a real cluster: a mosquitto broker, a driver and two executors, the
// receiver of tests/jobs/mqtt_save.cc (a fixed client id, a session the broker keeps), and
// kill -9 of the executor running the receiver while messages flow. A message is acknowledged
// only once the block holding it is stored and reported, so the broker sends the rest again to
// the receiver's next run: every message published is saved, none lost.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

#include "tests/cluster_harness.h"
#include "tests/mosquitto_broker.h"

namespace ember {
namespace clustertest {
namespace {

TEST(MqttClusterTest, KillingTheReceiversExecutorLosesNoMessage) {
  std::string dir = MakeTempDir("mqtt-cluster");
  // The broker queues what the session misses however much it is (its default keeps 1000).
  testing::MosquittoBroker broker({"max_queued_messages 0"});
  ASSERT_TRUE(broker.ok()) << broker.Log();
  Cluster cluster(dir, 2);
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();

  Subprocess job(cluster.Submit({"--name", "mqtt", "tests/jobs/libmqtt_save.so", "--", broker.url(),
                                 "numbers", "ember-mqtt-test", dir + "/out", "500", "180000"}),
                 dir, "submit");
  std::string app;
  ASSERT_TRUE(Eventually([&] { return !(app = AppIdIn(job.Stderr())).empty(); }, 30s))
      << job.Stderr();
  // The address of the executor running the receiver; empty while none runs.
  auto receiver_on = [&] {
    std::string id = cluster.ReceiverExecutor(app);
    for (const auto& [address, e] : cluster.LiveExecutors()) {
      if (!id.empty() && e.executor_id() == id) return address;
    }
    return std::string();
  };

  // The receiver's subscription is in place once a 0 it was sent is saved.
  ASSERT_TRUE(Eventually(
      [&] {
        broker.Publish("numbers", "0");
        return SavedNumbers(dir, "out").count(0) > 0;
      },
      60s))
      << cluster.driver().Stderr() << job.Stderr();
  std::string first = receiver_on();
  ASSERT_FALSE(first.empty());

  // 1..kMessages at about 2000 a second, while the receiver's executor is killed.
  constexpr int kMessages = 20000;
  std::thread publisher([&] {
    for (int i = 1; i <= kMessages; ++i) {
      broker.Publish("numbers", std::to_string(i));
      if (i % 20 == 0) std::this_thread::sleep_for(10ms);
    }
  });
  auto published = [&] {
    auto saved = SavedNumbers(dir, "out");
    saved.erase(0);
    return saved;
  };
  bool some = Eventually([&] { return published().size() >= kMessages / 4; }, 60s);
  if (some) cluster.ExecutorAt(first)->Kill(SIGKILL);
  publisher.join();
  ASSERT_TRUE(some) << published().size() << cluster.driver().Stderr();

  // The receiver starts again on the other executor, and the broker sends it what the dead one
  // had not acknowledged, with what came meanwhile.
  std::string second;
  ASSERT_TRUE(Eventually([&] { return !(second = receiver_on()).empty() && second != first; }, 30s))
      << cluster.driver().Stderr();
  ASSERT_TRUE(Eventually(
      [&] {
        auto saved = published();
        return std::set<int64_t>(saved.begin(), saved.end()).size() ==
               static_cast<size_t>(kMessages);
      },
      90s))
      << published().size() << " saved\n"
      << cluster.driver().Stderr();
  auto saved = published();
  EXPECT_EQ(*saved.begin(), 1);
  EXPECT_EQ(*saved.rbegin(), kMessages);
  // At most what was stored but not yet acknowledged comes twice: one block's worth.
  EXPECT_LE(saved.size(), static_cast<size_t>(kMessages) + 1000);
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(job.Wait(60s), 1) << job.Stderr();
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
