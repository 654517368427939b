#pragma once
// What both daemons and ember-submit need around gRPC: the cluster secret (sent as metadata,
// checked by every service method), conversions between absl::Status and grpc::Status, and
// channels and servers with the project's message-size limits. Not part of the job API.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ember {
namespace rpc {

// Requests larger than this are refused (a plugin upload is the largest message).
constexpr int kMaxMessageBytes = 256 << 20;
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

grpc::Status ToGrpc(const absl::Status& s);
absl::Status FromGrpc(const grpc::Status& s);

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

// A new address for a service that only this host's processes reach: an abstract unix socket
// ("unix-abstract:ember-ROLE-PID-RANDOM"): no file to remove, no port taken. The daemons talk
// to the processes that run job code over these.
std::string NewLocalAddress(const std::string& role);
// A random token (64 hex digits), carried like the secret by the calls between a daemon and
// its children.
std::string NewToken();
// Builds and starts a server on `address` (host:port, or a unix address) with the project's
// message limits; null when it cannot listen. `port` gets the port chosen for host:0.
std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          int* port = nullptr);

// Loopback or an unspecified/remote address.
bool IsLoopbackAddress(const std::string& host);

}  // namespace rpc
}  // namespace ember
