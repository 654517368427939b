#pragma once
// What both daemons and ember-submit need around gRPC: the cluster secret (sent as metadata,
// checked by every server before it reads a request, and again by every service method),
// conversions between absl::Status and grpc::Status, and channels and servers with the
// project's message-size limits. Not part of the job API.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/isolation.pb.h"

namespace ember {
namespace rpc {

// The largest message of any call: a reply (a plugin fetched by an executor, a broadcast, a
// task's result) or a request to a server that takes tasks and blocks (an executor's, a task
// process's), whose inline partitions and received blocks are not cut in chunks, or a driver
// process's reports (job code's error messages) to its daemon.
constexpr int kMaxMessageBytes = 256 << 20;
// The largest request the other servers (a driver's, an application driver process's) read:
// their requests are control messages, and a plugin is uploaded in chunks (SubmitJobUpload). A
// larger request is refused with RESOURCE_EXHAUSTED naming the limit; gRPC 1.51 receives the
// whole message before it checks the size, but does not parse it.
constexpr int kMaxRequestBytes = 16 << 20;
// Per-method limits, below the server's: a control call (a heartbeat, a stop, a rate, a fetch
// request) carries ids and numbers; one that lists ids or carries a job's spec (a receiver's
// start, a cleanup) has the other servers' limit. Only a task and a block carry data.
constexpr size_t kControlRequestBytes = 1 << 20;
// RESOURCE_EXHAUSTED, naming the method and its limit, when `request` is over `limit` bytes.
// Checked after the secret (a caller without it never has its body read), so what a request
// over its method's limit costs is the caller's own allowance.
grpc::Status CheckRequestSize(const google::protobuf::Message& request, size_t limit);
// In a handler, after the secret: returns that status when `request` is over `limit`.
#define EMBER_CHECK_SIZE(request, limit)                                           \
  do {                                                                             \
    grpc::Status ember_size = ::ember::rpc::CheckRequestSize(*(request), (limit)); \
    if (!ember_size.ok()) return ember_size;                                       \
  } while (0)

// Shuffle buckets and blocks travel in chunks of at most this size.
constexpr size_t kChunkBytes = 1 << 20;

// The metadata key carrying the secret.
constexpr char kSecretHeader[] = "x-ember-secret";

// Reads a secret file: its first line, surrounding whitespace removed; an empty file, a
// missing file or a file readable by others than its owner is an error naming the path.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// Adds the secret (if any) to an outgoing call.
void AddSecret(grpc::ClientContext* context, const std::string& secret);
// OK when no secret is configured or the call carries the right one (compared in constant
// time); UNAUTHENTICATED otherwise.
grpc::Status CheckSecret(const grpc::ServerContext* context, const std::string& secret);

// What a reply's error message may hold: messages can quote what a client sent (an id, a
// name), and a client must not make a daemon send back megabytes.
constexpr size_t kMaxErrorMessageBytes = 1024;
// `message`, cut to `limit` bytes (at least 128) with a note of its length when longer.
std::string BoundedMessage(absl::string_view message, size_t limit = kMaxErrorMessageBytes);
// With the message bounded (BoundedMessage).
grpc::Status ToGrpc(const absl::Status& s);
absl::Status FromGrpc(const grpc::Status& s);

// TLS for every TCP channel and server of this process. The abstract unix sockets between a
// daemon and the processes it starts stay plaintext: they never leave the host and are
// guarded by tokens. Files are PEM.
struct TlsOptions {
  std::string cert_file;    // this process's certificate chain (a server needs one)
  std::string key_file;     // its private key
  std::string ca_file;      // the CA of the peers' certificates: clients verify servers with
                            // it, and servers then require and verify client certificates
                            // (mutual TLS); without it clients use the system's CAs
  std::string server_name;  // the name clients expect in servers' certificates, when the
                            // address they dial is not one the certificates name
  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};

// The flags every program takes for TLS, and the configuration keys they set:
//   --tls-cert ember.tls.cert   --tls-key ember.tls.key   --tls-ca ember.tls.ca
//   --tls-server-name ember.tls.serverName
// The key of a TLS flag; null for any other flag.
const char* TlsFlagKey(const std::string& flag);
// The options those keys give; `get` returns a key's value, empty when unset.
TlsOptions TlsOptionsFrom(const std::function<std::string(const std::string& key)>& get);

// Reads the files once and turns TLS on for the channels and servers made after it. An error
// names a file that cannot be read, a certificate given without its key or a key without its
// certificate. Paths are made absolute (children started later get them).
absl::Status ConfigureTls(const TlsOptions& options);
// What ConfigureTls was given, absolute paths; enabled() is false before it or without TLS.
const TlsOptions& ConfiguredTls();
// The same settings for a process a daemon starts (in its launch message), and back there.
proto::TlsFiles ConfiguredTlsFiles();
absl::Status ConfigureTls(const proto::TlsFiles& files);

// Keepalive pings on every connection: one that does not answer for kKeepaliveTimeoutMs is
// closed, so a partition is noticed within about 3 s, well inside the heartbeat timeout.
constexpr int kKeepaliveMs = 1000;
constexpr int kKeepaliveTimeoutMs = 2000;

// A channel to `address`. With `fresh_connection` it shares no connection (and no reconnect
// backoff) with other channels to the same address: a new channel connects at once.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           bool fresh_connection = false);

// A new address for a service that only this host's processes reach: an abstract unix socket
// ("unix-abstract:ember-ROLE-PID-RANDOM"): no file to remove, no port taken. The daemons talk
// to the processes that run job code over these.
std::string NewLocalAddress(const std::string& role);
// A random token (64 hex digits), carried like the secret by the calls between a daemon and
// its children.
std::string NewToken();
struct ServerOptions {
  // The cluster secret, or the token of a daemon's child, that every call must carry (empty:
  // none is asked for). A call without it is refused with UNAUTHENTICATED from its metadata,
  // before its request is read (gRPC's auth metadata processor, which runs in the server's
  // channel stack when the call's headers arrive): an unauthenticated client cannot make a
  // server hold or parse its message. The service methods check it again (CheckSecret).
  std::string secret;
  // The largest request message this server reads (kMaxRequestBytes or kMaxMessageBytes).
  int max_request_bytes = kMaxRequestBytes;
};

// Builds and starts a server on `address` (host:port, or a unix address); null when it cannot
// listen. `port` gets the port chosen for host:0.
std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          const ServerOptions& options, int* port = nullptr);

// Loopback or an unspecified/remote address.
bool IsLoopbackAddress(const std::string& host);

}  // namespace rpc
}  // namespace ember
