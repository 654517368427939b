#include "rpc/rpc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ember {
namespace rpc {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError("cannot read secret file " + path);
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::PermissionDeniedError("secret file " + path +
                                       " is readable by others: chmod 600 it");
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::InvalidArgumentError("secret file " + path + " is empty");
  }
  std::string secret(absl::StripAsciiWhitespace(line));
  if (secret.empty()) return absl::InvalidArgumentError("secret file " + path + " is empty");
  return secret;
}

void AddSecret(grpc::ClientContext* context, const std::string& secret) {
  if (!secret.empty()) context->AddMetadata(kSecretHeader, secret);
}

grpc::Status CheckSecret(const grpc::ServerContext* context, const std::string& secret) {
  if (secret.empty()) return grpc::Status::OK;
  const auto& md = context->client_metadata();
  auto it = md.find(kSecretHeader);
  bool ok = false;
  if (it != md.end() && it->second.size() == secret.size()) {
    unsigned char diff = 0;
    for (size_t i = 0; i < secret.size(); ++i) {
      diff |= static_cast<unsigned char>(it->second.data()[i] ^ secret[i]);
    }
    ok = diff == 0;
  }
  if (ok) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::UNAUTHENTICATED,
      it == md.end() ? "this cluster requires a secret (--secret-file)" : "wrong cluster secret");
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Notice a dead peer within seconds, and do not wait long before reconnecting.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::string NewLocalAddress(const std::string& role) {
  return absl::StrCat("unix-abstract:ember-", role, "-", getpid(), "-", NewToken().substr(0, 16));
}

std::string NewToken() {
  std::random_device random;
  std::string out;
  for (int i = 0; i < 8; ++i) absl::StrAppend(&out, absl::Hex(random(), absl::kZeroPad8));
  return out;
}

std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          int* port) {
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  int selected = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return nullptr;
  if (port != nullptr) *port = selected;
  return server;
}

bool IsLoopbackAddress(const std::string& host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace rpc
}  // namespace ember
