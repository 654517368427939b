#pragma once
// A real mosquitto broker (Debian's) on a loopback port chosen at run time, and a client of it
// that publishes with QoS 1, for the MQTT tests. The broker is killed by the destructor.

#include <mosquitto.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace testing {

class MosquittoBroker {
 public:
  // `conf`: more lines for mosquitto.conf (a TLS listener, limits).
  explicit MosquittoBroker(std::vector<std::string> conf = {})
      : dir_(MakeTempDir("mqtt")), port_(FreePort()), conf_(std::move(conf)) {
    Start();
    mosquitto_lib_init();
    client_ = mosquitto_new(nullptr, true, nullptr);
    mosquitto_reconnect_delay_set(client_, 1, 2, false);
    ok_ = WaitForCondition(
        [&] { return mosquitto_connect(client_, "127.0.0.1", port_, 30) == MOSQ_ERR_SUCCESS; },
        std::chrono::seconds(20));
    mosquitto_loop_start(client_);
  }
  ~MosquittoBroker() {
    mosquitto_loop_stop(client_, true);
    mosquitto_destroy(client_);
  }
  // Started, and its publisher connected.
  bool ok() const { return ok_; }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return process_ ? process_->Stderr() : ""; }

  void Start() {
    // A listener on loopback; the user it runs as stays (a test's sandbox may not switch).
    std::string conf = dir_ + "/mosquitto.conf";
    std::ofstream out(conf);
    out << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n"
        << "user " << (getuid() == 0 ? "root" : "mosquitto") << "\n";
    for (const auto& line : conf_) out << line << "\n";
    out.close();
    process_ =
        std::make_unique<Subprocess>(std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf},
                                     dir_, "mosquitto" + std::to_string(++starts_));
    ok_ = process_->WaitForOutput("running", std::chrono::seconds(20), /*in_stderr=*/true);
  }
  void Restart() {
    process_.reset();  // SIGKILL
    Start();
  }
  // Queued; the publisher's loop sends it (and sends it again until the broker acknowledges).
  void Publish(const std::string& topic, const std::string& payload) {
    mosquitto_publish(client_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                      payload.data(), 1, false);
  }

  // A port the system chose just now (mosquitto is given it in its configuration).
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

 private:
  std::string dir_;
  int port_;
  std::vector<std::string> conf_;
  int starts_ = 0;
  bool ok_ = false;
  std::unique_ptr<Subprocess> process_;
  mosquitto* client_ = nullptr;
};

}  // namespace testing
}  // namespace ember
