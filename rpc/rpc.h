#pragma once
// What both daemons and ember-submit need around gRPC: the cluster secret (sent as metadata,
// checked by every service method), conversions between absl::Status and grpc::Status, and
// channels and servers with the project's message-size limits. Not part of the job API.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

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

// Loopback or an unspecified/remote address.
bool IsLoopbackAddress(const std::string& host);

}  // namespace rpc
}  // namespace ember
