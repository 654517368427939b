// The MQTT 3.1.1 client the QoS 1 receiver uses, against a real mosquitto broker (and, for
// what a broker must never make it do, a fake one on a socket of this test).

#include "runtime/mqtt_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/mosquitto_broker.h"
#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace internal {
namespace {

using namespace std::chrono_literals;
using testing::MosquittoBroker;

MqttClient::Settings Settings(int port, const std::string& id, bool clean_session) {
  MqttClient::Settings s;
  s.host = "127.0.0.1";
  s.port = port;
  s.client_id = id;
  s.clean_session = clean_session;
  s.topics = {"t"};
  s.timeout = absl::Seconds(10);
  return s;
}

// Messages until `n` came or 20 s passed.
std::vector<MqttClient::Message> ReceiveN(MqttClient& client, size_t n) {
  std::vector<MqttClient::Message> out;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (out.size() < n && absl::Now() < deadline) {
    MqttClient::Message m;
    auto got = client.Receive(&m, absl::Milliseconds(200));
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) break;
    if (*got) out.push_back(std::move(m));
  }
  return out;
}

TEST(MqttClientTest, WhatWasNotAcknowledgedComesAgainToTheSameSession) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.Log();
  {
    auto client = MqttClient::Connect(Settings(broker.port(), "keeper", false));
    ASSERT_TRUE(client.ok()) << client.status();
    for (int i = 0; i < 10; ++i) broker.Publish("t", "m" + std::to_string(i));
    auto got = ReceiveN(**client, 10);
    ASSERT_EQ(got.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(got[i].topic, "t");
      EXPECT_EQ(got[i].payload, "m" + std::to_string(i));
      EXPECT_NE(got[i].packet_id, 0);
      if (i < 5) {
        EXPECT_TRUE((*client)->Acknowledge(got[i].packet_id).ok());
      }
    }
  }
  // Published while nobody listens: the broker keeps them for the session.
  for (int i = 10; i < 15; ++i) broker.Publish("t", "m" + std::to_string(i));
  auto client = MqttClient::Connect(Settings(broker.port(), "keeper", false));
  ASSERT_TRUE(client.ok()) << client.status();
  auto got = ReceiveN(**client, 10);
  std::multiset<std::string> payloads;
  for (const auto& m : got) {
    payloads.insert(m.payload);
    EXPECT_TRUE((*client)->Acknowledge(m.packet_id).ok());
  }
  std::multiset<std::string> expected;
  for (int i = 5; i < 15; ++i) expected.insert("m" + std::to_string(i));
  EXPECT_EQ(payloads, expected);
  // Nothing more: the acknowledged ones are not sent again.
  MqttClient::Message m;
  auto more = (*client)->Receive(&m, absl::Milliseconds(500));
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_FALSE(*more) << m.payload;
}

TEST(MqttClientTest, KeepAlivePingsHoldAQuietConnection) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.Log();
  auto settings = Settings(broker.port(), "quiet", true);
  settings.keepalive_seconds = 1;
  auto client = MqttClient::Connect(settings);
  ASSERT_TRUE(client.ok()) << client.status();
  // The broker drops a client silent for 1.5 keep-alive intervals; this one pings.
  MqttClient::Message m;
  auto got = (*client)->Receive(&m, absl::Seconds(4));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(*got);
  broker.Publish("t", "still here");
  auto later = ReceiveN(**client, 1);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].payload, "still here");
}

TEST(MqttClientTest, TlsWithTheBrokersCaAndNotWithAnother) {
  std::string dir = testing::MakeTempDir("mqtt-tls");
  ASSERT_EQ(testing::MakeTestCertificates(dir, "broker"), "");
  ASSERT_EQ(testing::MakeTestCertificates(dir, "other"), "");
  int tls_port = MosquittoBroker::FreePort();
  MosquittoBroker broker({"listener " + std::to_string(tls_port) + " 127.0.0.1",
                          "cafile " + dir + "/broker-ca.pem", "certfile " + dir + "/broker.pem",
                          "keyfile " + dir + "/broker.key"});
  ASSERT_TRUE(broker.ok()) << broker.Log();
  auto settings = Settings(tls_port, "tls", true);
  settings.tls = true;
  settings.ca_file = dir + "/broker-ca.pem";
  auto client = MqttClient::Connect(settings);
  ASSERT_TRUE(client.ok()) << client.status() << broker.Log();
  ASSERT_TRUE(testing::WaitForCondition(
      [&] {
        broker.Publish("t", "secret");
        MqttClient::Message m;
        auto got = (*client)->Receive(&m, absl::Milliseconds(200));
        return got.ok() && *got && m.payload == "secret";
      },
      20s));

  settings.ca_file = dir + "/other-ca.pem";
  auto refused = MqttClient::Connect(settings);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("certificate verify failed"), std::string::npos)
      << refused.status();
}

// A "broker" on a socket of this test: it reads the client's CONNECT, writes `reply` and
// hangs up.
class FakeBroker {
 public:
  explicit FakeBroker(std::string reply) : reply_(std::move(reply)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(listener_, 1);
    thread_ = std::thread([this] {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buf[1024];
      (void)read(fd, buf, sizeof(buf));  // CONNECT
      (void)write(fd, reply_.data(), reply_.size());
      shutdown(fd, SHUT_WR);
      while (read(fd, buf, sizeof(buf)) > 0) {
      }  // until the client closes
      close(fd);
    });
  }
  ~FakeBroker() {
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }
  int port() const { return port_; }

 private:
  std::string reply_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string Connack(char code) { return std::string("\x20\x02\x00", 3) + code; }

TEST(MqttClientTest, ARefusedConnectionSaysWhy) {
  FakeBroker broker(Connack(5));
  auto settings = Settings(broker.port(), "x", true);
  settings.topics.clear();
  auto client = MqttClient::Connect(settings);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(client.status().message().find("not authorized"), std::string::npos) << client.status();
}

TEST(MqttClientTest, AHostileBrokerIsAnErrorNotACrashOrAHugeAllocation) {
  struct Case {
    std::string after_connack;
    absl::StatusCode code;
  };
  for (const Case& c : {
           // A PUBLISH claiming 256 MB: refused before anything is allocated for it.
           Case{std::string("\x30\xff\xff\xff\x7f", 5), absl::StatusCode::kResourceExhausted},
           // A length of five bytes (four at most).
           Case{std::string("\x30\xff\xff\xff\xff\x01", 6), absl::StatusCode::kDataLoss},
           // A PUBLISH whose topic runs past its end.
           Case{std::string("\x30\x03\x00\x09t", 5), absl::StatusCode::kDataLoss},
           // The broker hangs up.
           Case{"", absl::StatusCode::kUnavailable},
       }) {
    FakeBroker broker(Connack(0) + c.after_connack);
    auto settings = Settings(broker.port(), "x", true);
    settings.topics.clear();
    auto client = MqttClient::Connect(settings);
    ASSERT_TRUE(client.ok()) << client.status();
    MqttClient::Message m;
    absl::StatusOr<bool> got = false;
    for (int i = 0; i < 50 && got.ok(); ++i) got = (*client)->Receive(&m, absl::Milliseconds(100));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    // Broken for good: every later call says so.
    EXPECT_FALSE((*client)->Acknowledge(1).ok());
  }
}

TEST(MqttClientTest, NoBrokerIsUnavailable) {
  auto client = MqttClient::Connect(Settings(MosquittoBroker::FreePort(), "x", true));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(client.status().message().find("cannot connect"), std::string::npos) << client.status();
}

}  // namespace
}  // namespace internal
}  // namespace ember
