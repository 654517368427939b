#include "runtime/mqtt_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/tcp.h"

namespace ember {
namespace internal {
namespace {

// Control packet types (MQTT 3.1.1, section 2.2.1), as the first byte's high nibble.
constexpr uint8_t kConnect = 1, kConnack = 2, kPublish = 3, kPuback = 4, kPubrel = 6,
                  kSubscribe = 8, kSuback = 9, kPingreq = 12, kPingresp = 13, kDisconnect = 14;

void PutU16(uint16_t v, std::string* out) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void PutString(const std::string& s, std::string* out) {
  PutU16(static_cast<uint16_t>(s.size()), out);
  out->append(s);
}

// A packet: its first byte, the remaining length (a variable-length integer), the body.
std::string Packet(uint8_t first, const std::string& body) {
  std::string out(1, static_cast<char>(first));
  size_t n = body.size();
  do {
    uint8_t digit = n % 128;
    n /= 128;
    if (n > 0) digit |= 0x80;
    out.push_back(static_cast<char>(digit));
  } while (n > 0);
  return out + body;
}

uint16_t U16(const std::string& s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) |
                               static_cast<uint8_t>(s[at + 1]));
}

std::string TlsError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  return what + (e != 0 ? std::string(": ") + buf : "");
}

std::string ConnackError(uint8_t code) {
  switch (code) {
    case 1:
      return "the broker does not speak MQTT 3.1.1";
    case 2:
      return "the broker refused the client id";
    case 3:
      return "the broker is unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "refused with code " + std::to_string(code);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MqttClient>> MqttClient::Connect(const Settings& settings) {
  if (settings.qos != 0 && settings.qos != 1) {
    return absl::InvalidArgumentError("this client subscribes with QoS 0 or 1");
  }
  if (settings.client_id.size() > 65535 || settings.username.size() > 65535 ||
      settings.password.size() > 65535) {
    return absl::InvalidArgumentError("client id, user name and password are at most 65535 bytes");
  }
  std::unique_ptr<MqttClient> client(new MqttClient(settings));
  if (auto s = client->Open(); !s.ok()) return s;
  if (auto s = client->Handshake(); !s.ok()) return s;
  return client;
}

MqttClient::~MqttClient() {
  if (fd_ >= 0 && broken_.ok() && Send(Packet(kDisconnect << 4, "")).ok()) {
    // The broker closes on DISCONNECT. Until it has, what it was sent must not be cut off by
    // a reset (closing a socket with unread data resets it, and the broker's kernel then
    // drops what its broker had not read yet: the last acknowledgements).
    if (ssl_ != nullptr) SSL_shutdown(ssl_);
    shutdown(fd_, SHUT_WR);
    absl::Time deadline = absl::Now() + absl::Seconds(1);
    while (absl::Now() < deadline) {
      auto read = ReadSome(deadline - absl::Now());
      if (!read.ok() || !*read) break;
      in_.clear();
    }
  }
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

absl::Status MqttClient::Fail(absl::Status s) {
  if (broken_.ok()) broken_ = s;
  return broken_;
}

absl::Status MqttClient::Open() {
  std::string error;
  fd_ = ConnectTcp(settings_.host, settings_.port, settings_.timeout, &error);
  if (fd_ < 0) return absl::UnavailableError(error);
  // A broker that stops mid-packet fails the read or write instead of holding the thread.
  timeval tv{};
  tv.tv_sec = absl::ToInt64Seconds(settings_.timeout);
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (!settings_.tls) return absl::OkStatus();

  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return absl::InternalError(TlsError("cannot make a TLS context"));
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  int ok = settings_.ca_file.empty()
               ? SSL_CTX_set_default_verify_paths(ctx_)
               : SSL_CTX_load_verify_locations(ctx_, settings_.ca_file.c_str(), nullptr);
  if (ok != 1) {
    return absl::InvalidArgumentError(TlsError("cannot load CA certificates " + settings_.ca_file));
  }
  if (!settings_.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx_, settings_.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx_, settings_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    return absl::InvalidArgumentError(TlsError("cannot load the client certificate " +
                                               settings_.cert_file + " and key " +
                                               settings_.key_file));
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    return absl::InternalError(TlsError("cannot start TLS"));
  }
  SSL_set_tlsext_host_name(ssl_, settings_.host.c_str());
  // The certificate must name the host (or its IP address) the URL gives.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, settings_.host.c_str()) != 1 &&
      X509_VERIFY_PARAM_set1_host(param, settings_.host.c_str(), 0) != 1) {
    return absl::InternalError("cannot set the host name to verify");
  }
  if (SSL_connect(ssl_) != 1) {
    long verify = SSL_get_verify_result(ssl_);
    std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "";
    return absl::UnavailableError(TlsError("TLS handshake with " + settings_.host + " failed" +
                                           (why.empty() ? "" : " (" + why + ")")));
  }
  return absl::OkStatus();
}

absl::Status MqttClient::Handshake() {
  // CONNECT: protocol name and level, flags, keep-alive; client id, user name, password.
  std::string body;
  PutString("MQTT", &body);
  body.push_back(4);
  uint8_t flags = settings_.clean_session ? 0x02 : 0;
  if (!settings_.username.empty()) flags |= 0x80;
  if (!settings_.username.empty() && !settings_.password.empty()) flags |= 0x40;
  body.push_back(static_cast<char>(flags));
  PutU16(static_cast<uint16_t>(std::clamp(settings_.keepalive_seconds, 0, 65535)), &body);
  PutString(settings_.client_id, &body);
  if (flags & 0x80) PutString(settings_.username, &body);
  if (flags & 0x40) PutString(settings_.password, &body);
  if (auto s = Send(Packet(kConnect << 4, body)); !s.ok()) return s;
  std::string reply;
  if (auto s = Await(kConnack, &reply); !s.ok()) return s;
  if (reply.size() != 2) return Fail(absl::DataLossError("malformed CONNACK"));
  if (reply[1] != 0) {
    return Fail(absl::PermissionDeniedError("the MQTT broker refused the connection: " +
                                            ConnackError(static_cast<uint8_t>(reply[1]))));
  }
  if (settings_.topics.empty()) return absl::OkStatus();

  // SUBSCRIBE every topic in one packet (id 1), then its SUBACK: a code per topic.
  body.clear();
  PutU16(1, &body);
  for (const auto& topic : settings_.topics) {
    PutString(topic, &body);
    body.push_back(static_cast<char>(settings_.qos));
  }
  if (auto s = Send(Packet(kSubscribe << 4 | 0x02, body)); !s.ok()) return s;
  if (auto s = Await(kSuback, &reply); !s.ok()) return s;
  if (reply.size() != 2 + settings_.topics.size() || U16(reply, 0) != 1) {
    return Fail(absl::DataLossError("malformed SUBACK"));
  }
  for (size_t i = 0; i < settings_.topics.size(); ++i) {
    if (static_cast<uint8_t>(reply[2 + i]) == 0x80) {
      return Fail(absl::PermissionDeniedError("the MQTT broker refused the subscription to " +
                                              settings_.topics[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status MqttClient::Send(const std::string& packet) {
  if (!broken_.ok()) return broken_;
  size_t done = 0;
  while (done < packet.size()) {
    ssize_t n;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, packet.data() + done, static_cast<int>(packet.size() - done));
    } else {
      n = send(fd_, packet.data() + done, packet.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
    }
    if (n <= 0) {
      return Fail(absl::UnavailableError(
          ssl_ != nullptr
              ? TlsError("the connection to the MQTT broker broke")
              : std::string("the connection to the MQTT broker broke: ") + std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  last_sent_ = absl::Now();
  return absl::OkStatus();
}

absl::StatusOr<bool> MqttClient::ReadSome(absl::Duration timeout) {
  if (!broken_.ok()) return broken_;
  if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
    pollfd p{fd_, POLLIN, 0};
    int ready =
        poll(&p, 1, static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout))));
    if (ready < 0 && errno != EINTR) {
      return Fail(absl::UnavailableError(std::string("poll: ") + std::strerror(errno)));
    }
    if (ready <= 0) return false;
  }
  char buf[64 * 1024];
  ssize_t n;
  if (ssl_ != nullptr) {
    n = SSL_read(ssl_, buf, sizeof(buf));
  } else {
    do {
      n = recv(fd_, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
  }
  if (n == 0) return Fail(absl::UnavailableError("the MQTT broker closed the connection"));
  if (n < 0) {
    return Fail(absl::UnavailableError(ssl_ != nullptr
                                           ? TlsError("reading from the MQTT broker failed")
                                           : std::string("reading from the MQTT broker failed: ") +
                                                 std::strerror(errno)));
  }
  in_.append(buf, static_cast<size_t>(n));
  return true;
}

absl::StatusOr<bool> MqttClient::NextPacket(uint8_t* type, std::string* body) {
  size_t length = 0, at = 1;
  for (int shift = 0;; shift += 7, ++at) {
    if (at >= in_.size()) return false;
    if (at > 4) return Fail(absl::DataLossError("malformed packet length from the MQTT broker"));
    uint8_t digit = static_cast<uint8_t>(in_[at]);
    length |= static_cast<size_t>(digit & 0x7f) << shift;
    if ((digit & 0x80) == 0) break;
  }
  if (length > kMaxPacket) {
    return Fail(
        absl::ResourceExhaustedError(absl::StrCat("the MQTT broker sent a packet of ", length,
                                                  " bytes; at most ", kMaxPacket, " are taken")));
  }
  size_t header = at + 1;
  if (in_.size() < header + length) return false;
  *type = static_cast<uint8_t>(in_[0]);
  body->assign(in_, header, length);
  in_.erase(0, header + length);
  return true;
}

absl::Status MqttClient::Take(uint8_t type, const std::string& body) {
  switch (type >> 4) {
    case kPublish: {
      int qos = (type >> 1) & 3;
      if (body.size() < 2) return Fail(absl::DataLossError("malformed PUBLISH"));
      size_t topic_len = U16(body, 0);
      size_t at = 2 + topic_len;
      if (qos > 0) at += 2;
      if (qos > 1 || body.size() < at) {
        return Fail(absl::DataLossError(qos > 1 ? "a QoS 2 PUBLISH on a QoS 1 subscription"
                                                : "malformed PUBLISH"));
      }
      Message m;
      m.topic = body.substr(2, topic_len);
      if (qos == 1) m.packet_id = U16(body, 2 + topic_len);
      m.payload = body.substr(at);
      pending_.push_back(std::move(m));
      return absl::OkStatus();
    }
    case kPingresp:
      ping_outstanding_ = false;
      return absl::OkStatus();
    case kPubrel:
      return Fail(absl::DataLossError("a PUBREL on a QoS 1 subscription"));
    default:
      return absl::OkStatus();  // an answer nobody waits for any more
  }
}

absl::Status MqttClient::Await(uint8_t want, std::string* body) {
  absl::Time deadline = absl::Now() + settings_.timeout;
  for (;;) {
    uint8_t type;
    absl::StatusOr<bool> got;
    while ((got = NextPacket(&type, body)).ok() && *got) {
      if ((type >> 4) == want) return absl::OkStatus();
      if (auto s = Take(type, *body); !s.ok()) return s;
    }
    if (!got.ok()) return got.status();
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return Fail(absl::DeadlineExceededError(absl::StrCat(
          "the MQTT broker did not answer within ", absl::FormatDuration(settings_.timeout))));
    }
    if (auto read = ReadSome(left); !read.ok()) return read.status();
  }
}

absl::StatusOr<bool> MqttClient::Receive(Message* message, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration keepalive = absl::Seconds(settings_.keepalive_seconds);
  for (;;) {
    if (!pending_.empty()) {
      *message = std::move(pending_.front());
      pending_.pop_front();
      return true;
    }
    uint8_t type;
    std::string body;
    absl::StatusOr<bool> got;
    while ((got = NextPacket(&type, &body)).ok() && *got) {
      if (auto s = Take(type, body); !s.ok()) return s;
    }
    if (!got.ok()) return got.status();
    if (!pending_.empty()) continue;

    // Keep-alive: a ping when nothing was sent for the interval, and its answer within one.
    absl::Time now = absl::Now();
    absl::Time wake = deadline;
    if (settings_.keepalive_seconds > 0) {
      if (ping_outstanding_) {
        if (now - ping_sent_ >= keepalive) {
          return Fail(absl::UnavailableError("the MQTT broker did not answer a ping"));
        }
        wake = std::min(wake, ping_sent_ + keepalive);
      } else if (now - last_sent_ >= keepalive) {
        if (auto s = Send(Packet(kPingreq << 4, "")); !s.ok()) return s;
        ping_outstanding_ = true;
        ping_sent_ = now;
        wake = std::min(wake, now + keepalive);
      } else {
        wake = std::min(wake, last_sent_ + keepalive);
      }
    }
    if (now >= deadline) return false;
    auto read = ReadSome(wake - now);
    if (!read.ok()) return read.status();
  }
}

absl::Status MqttClient::Acknowledge(uint16_t packet_id) {
  std::string body;
  PutU16(packet_id, &body);
  return Send(Packet(kPuback << 4, body));
}

}  // namespace internal
}  // namespace ember
