// Message-bus sources against real peers: a libzmq PUB socket in this process.

#include <mosquitto.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "common/mqtt.h"
#include "common/zeromq.h"
#include "runtime/testing.h"
#include "tests/mosquitto_broker.h"
#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace {

using namespace std::chrono_literals;

class Publisher {
 public:
  Publisher() {
    context_ = zmq_ctx_new();
    socket_ = zmq_socket(context_, ZMQ_PUB);
    EXPECT_EQ(zmq_bind(socket_, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    size_t size = sizeof(endpoint);
    zmq_getsockopt(socket_, ZMQ_LAST_ENDPOINT, endpoint, &size);
    endpoint_ = endpoint;
  }
  ~Publisher() {
    int linger = 0;
    zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_close(socket_);
    zmq_ctx_term(context_);
  }
  const std::string& endpoint() const { return endpoint_; }
  void Send(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      zmq_send(socket_, frames[i].data(), frames[i].size(),
               i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    }
  }

 private:
  void* context_;
  void* socket_;
  std::string endpoint_;
};

TEST(ZeroMQTest, TextStreamGetsEveryFrameAfterTheTopicOfItsTopicsOnly) {
  Publisher pub;
  testing::ManualStreams env(Seconds(1));
  testing::Collector<std::string> out;
  out.Attach(zeromq::createTextStream(env.ssc(), pub.endpoint(), true, {"news"}));
  env.ssc().start();
  // PUB/SUB drops what is sent before the subscription is in place: greet until it is.
  std::set<std::string> seen;
  auto all = [&] {
    std::vector<std::string> v;
    for (int64_t t = 1000; t <= env.clock().NowMs() + 1000; t += 1000) {
      auto b = out.At(Time(t));
      v.insert(v.end(), b.begin(), b.end());
    }
    return v;
  };
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        pub.Send({"news", "hello"});
        env.RunBatches(1);
        return !all().empty();
      },
      30s));
  for (int i = 0; i < 200; ++i) {
    pub.Send({"news", "a" + std::to_string(i), "b" + std::to_string(i)});
    pub.Send({"sports", "s" + std::to_string(i)});  // not subscribed
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    expected.push_back("a" + std::to_string(i));
    expected.push_back("b" + std::to_string(i));
  }
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        env.RunBatches(1);
        auto v = all();
        return v.size() >= expected.size() &&
               std::vector<std::string>(v.end() - expected.size(), v.end()) == expected;
      },
      30s))
      << all().size();
  for (const auto& s : all()) EXPECT_TRUE(s == "hello" || s[0] == 'a' || s[0] == 'b') << s;
  env.ssc().stop();
}

TEST(ZeroMQTest, TheConverterGetsTheWholeMessage) {
  Publisher pub;
  testing::ManualStreams env(Seconds(1));
  testing::Collector<std::pair<std::string, int64_t>> out;
  out.Attach(zeromq::createStream(env.ssc(), pub.endpoint(), true, {""},
                                  [](const std::vector<std::string>& frames) {
                                    return std::vector<std::pair<std::string, int64_t>>{
                                        {frames[0], static_cast<int64_t>(frames.size())}};
                                  }));
  env.ssc().start();
  bool got = false;
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        pub.Send({"t", "x", "y"});
        Time t = env.RunBatches(1)[0];
        for (const auto& r : out.At(t))
          got = got || r == std::make_pair(std::string("t"), int64_t{3});
        return got;
      },
      30s));
  env.ssc().stop();
}

// ----------------------------------------------------------------------------------- MQTT

using Broker = testing::MosquittoBroker;

// What a collector holds over every batch so far.
template <typename T>
std::vector<T> AllOf(const testing::Collector<T>& out, testing::ManualStreams& env) {
  std::vector<T> v;
  for (int64_t t = 1000; t <= env.clock().NowMs(); t += 1000) {
    auto b = out.At(Time(t));
    v.insert(v.end(), b.begin(), b.end());
  }
  return v;
}

// Publishes `greeting` until the stream shows it: the receiver's subscription is in place.
template <typename T>
bool Greet(Broker& broker, const std::string& topic, const T& greeting,
           const testing::Collector<T>& out, testing::ManualStreams& env,
           const std::string& payload) {
  return testing::WaitForCondition(
      [&] {
        broker.Publish(topic, payload);
        env.RunBatches(1);
        auto v = AllOf(out, env);
        return std::find(v.begin(), v.end(), greeting) != v.end();
      },
      30s);
}

TEST(MqttTest, EveryMessagePublishedReachesTheStreamOnce) {
  Broker broker;
  ASSERT_TRUE(broker.ok()) << broker.Log();
  testing::ManualStreams env(Seconds(1));
  testing::Collector<std::pair<std::string, std::string>> out;
  out.Attach(mqtt::createPairedStream(env.ssc(), broker.url(), {"a/#", "b"}));
  env.ssc().start();
  ASSERT_TRUE(Greet(broker, "b", std::make_pair(std::string("b"), std::string("hello")), out, env,
                    "hello"));
  std::vector<std::pair<std::string, std::string>> expected;
  for (int i = 0; i < 300; ++i) {
    std::string topic = i % 2 ? "a/x" : "b";
    broker.Publish(topic, "m" + std::to_string(i));
    broker.Publish("c", "not subscribed");
    expected.emplace_back(topic, "m" + std::to_string(i));
  }
  // Greet may have published "hello" more than once: only the other messages count.
  auto published = [&] {
    auto got = AllOf(out, env);
    got.erase(
        std::remove(got.begin(), got.end(), std::make_pair(std::string("b"), std::string("hello"))),
        got.end());
    return got;
  };
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        env.RunBatches(1);
        return published().size() >= expected.size();
      },
      30s));
  auto got = published();
  EXPECT_EQ(testing::Sorted(got), testing::Sorted(expected));
  env.ssc().stop();
}

TEST(MqttTest, TheReceiverSubscribesAgainAfterTheBrokerRestarts) {
  Broker broker;
  ASSERT_TRUE(broker.ok()) << broker.Log();
  testing::ManualStreams env(Seconds(1));
  testing::Collector<std::string> out;
  out.Attach(mqtt::createStream(env.ssc(), broker.url(), "t"));
  env.ssc().start();
  ASSERT_TRUE(Greet(broker, "t", std::string("before"), out, env, "before"));
  broker.Restart();
  // The receiver's client reconnects (and subscribes again) by itself.
  ASSERT_TRUE(Greet(broker, "t", std::string("after"), out, env, "after"));
  for (int i = 0; i < 100; ++i) broker.Publish("t", "n" + std::to_string(i));
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        env.RunBatches(1);
        auto v = AllOf(out, env);
        return std::count_if(v.begin(), v.end(),
                             [](const std::string& m) { return m[0] == 'n'; }) == 100;
      },
      30s));
  env.ssc().stop();
}

TEST(MqttTest, ABadBrokerUrlIsAReceiverErrorNotACrash) {
  testing::ManualStreams env(Seconds(1));
  auto stream = mqtt::createStream(env.ssc(), "http://nowhere", "t");
  stream.count().print();
  env.ssc().start();
  env.RunBatches(1);
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        for (const auto& s : env.ssc().core()->receiver_tracker().Statuses()) {
          if (s.last_error.find("tcp://HOST:PORT") != std::string::npos) return true;
        }
        return false;
      },
      20s));
  env.ssc().stop();
}

}  // namespace
}  // namespace ember
