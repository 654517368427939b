#include "rpc/rpc.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rpc/chaos.h"

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

namespace {

constexpr char kNoSecret[] = "this cluster requires a secret (--secret-file)";
constexpr char kWrongSecret[] = "wrong cluster secret";

// Compared in constant time: how long a wrong guess takes says nothing of the secret.
bool SecretMatches(absl::string_view given, const std::string& secret) {
  if (given.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  }
  return diff == 0;
}

}  // namespace

grpc::Status CheckSecret(const grpc::ServerContext* context, const std::string& secret) {
  if (secret.empty()) return grpc::Status::OK;
  const auto& md = context->client_metadata();
  auto it = md.find(kSecretHeader);
  if (it != md.end() && SecretMatches({it->second.data(), it->second.size()}, secret)) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, it == md.end() ? kNoSecret : kWrongSecret);
}

grpc::Status CheckRequestSize(const google::protobuf::Message& request, size_t limit) {
  size_t size = request.ByteSizeLong();
  if (size <= limit) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat(request.GetTypeName(), " of ", size,
                                   " bytes is over its limit of ", limit, " bytes"));
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), BoundedMessage(s.message()));
}

std::string BoundedMessage(absl::string_view message, size_t limit) {
  if (message.size() <= limit) return std::string(message);
  return absl::StrCat(message.substr(0, limit - 64), "... (", message.size(), " bytes in all)");
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

namespace {

struct TlsState {
  TlsOptions options;
  std::string cert, key, ca;  // PEM contents
};
TlsState& Tls() {
  static TlsState* state = new TlsState();
  return *state;
}

bool IsUnixAddress(const std::string& address) { return absl::StartsWith(address, "unix"); }

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the TLS ", what, " ", path));
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("the TLS ", what, " ", path, " is not PEM"));
  }
  return out.str();
}

}  // namespace

absl::Status ConfigureTls(const TlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs a certificate and its key together (--tls-cert and --tls-key)");
  }
  TlsState state;
  state.options = options;
  struct File {
    std::string* path;
    std::string* pem;
    const char* what;
  };
  for (const File& f : {File{&state.options.cert_file, &state.cert, "certificate"},
                        File{&state.options.key_file, &state.key, "key"},
                        File{&state.options.ca_file, &state.ca, "CA certificate"}}) {
    if (f.path->empty()) continue;
    std::error_code error;
    std::string absolute = std::filesystem::absolute(*f.path, error).string();
    if (!error) *f.path = absolute;
    auto pem = ReadPem(*f.path, f.what);
    if (!pem.ok()) return pem.status();
    *f.pem = std::move(*pem);
  }
  Tls() = std::move(state);
  return absl::OkStatus();
}

const TlsOptions& ConfiguredTls() { return Tls().options; }

proto::TlsFiles ConfiguredTlsFiles() {
  const TlsOptions& o = ConfiguredTls();
  proto::TlsFiles files;
  files.set_cert_file(o.cert_file);
  files.set_key_file(o.key_file);
  files.set_ca_file(o.ca_file);
  files.set_server_name(o.server_name);
  return files;
}

absl::Status ConfigureTls(const proto::TlsFiles& files) {
  return ConfigureTls(
      TlsOptions{files.cert_file(), files.key_file(), files.ca_file(), files.server_name()});
}

const char* TlsFlagKey(const std::string& flag) {
  if (flag == "--tls-cert") return "ember.tls.cert";
  if (flag == "--tls-key") return "ember.tls.key";
  if (flag == "--tls-ca") return "ember.tls.ca";
  if (flag == "--tls-server-name") return "ember.tls.serverName";
  return nullptr;
}

TlsOptions TlsOptionsFrom(const std::function<std::string(const std::string& key)>& get) {
  TlsOptions o;
  o.cert_file = get("ember.tls.cert");
  o.key_file = get("ember.tls.key");
  o.ca_file = get("ember.tls.ca");
  o.server_name = get("ember.tls.serverName");
  return o;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, bool fresh_connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // A connection that stopped answering is closed within kKeepaliveMs + kKeepaliveTimeoutMs
  // and new ones are tried at least every second or so, so that a link that heals is used
  // again within about a second. A closed connection fails its calls as UNAVAILABLE; what a
  // failed call means is the caller's to decide (the driver declares an executor lost only by
  // the heartbeat timeout).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);  // the shortest connect attempt
  if (fresh_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const TlsState& tls = Tls();
  if (!tls.options.enabled() || IsUnixAddress(address)) {
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        address, grpc::InsecureChannelCredentials(), args, ChaosInterceptors());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca;  // empty: the system's CAs
  ssl.pem_private_key = tls.key;
  ssl.pem_cert_chain = tls.cert;
  if (!tls.options.server_name.empty()) args.SetSslTargetNameOverride(tls.options.server_name);
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, grpc::SslCredentials(ssl),
                                                                 args, ChaosInterceptors());
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

namespace {

// The secret's check on a call's metadata, as gRPC's server auth filter runs it: when the
// call's headers have arrived and before the server asks for its message, so a refused call's
// body is never read (the stream is reset; the peer can have sent at most its flow-control
// window). `state` is the secret. The callback may be called before returning.
void CheckSecretMetadata(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                         size_t num_md, grpc_process_auth_metadata_done_cb done, void* user_data) {
  const std::string& secret = *static_cast<const std::string*>(state);
  for (size_t i = 0; i < num_md; ++i) {
    // A test's fault injection (rpc/chaos.h) asked for this request to be lost.
    if (grpc_slice_str_cmp(md[i].key, kChaosDropHeader) == 0) {
      done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAVAILABLE,
           "rpc chaos: the request was dropped");
      return;
    }
  }
  const char* refusal = secret.empty() ? nullptr : kNoSecret;
  for (size_t i = 0; i < num_md && !secret.empty(); ++i) {
    if (grpc_slice_str_cmp(md[i].key, kSecretHeader) != 0) continue;
    absl::string_view given(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                            GRPC_SLICE_LENGTH(md[i].value));
    refusal = SecretMatches(given, secret) ? nullptr : kWrongSecret;
    break;
  }
  done(user_data, nullptr, 0, nullptr, 0,
       refusal == nullptr ? GRPC_STATUS_OK : GRPC_STATUS_UNAUTHENTICATED, refusal);
}

// Server credentials made from the core's, so that a plaintext server can check the secret
// before reading a request too: gRPC 1.51's grpc::InsecureServerCredentials() adds its port
// without a core credentials object and aborts in SetAuthMetadataProcessor. The core's
// grpc_insecure_server_credentials_create() and grpc_ssl_server_credentials_create_ex() (what
// grpc::SslServerCredentials uses) both take grpc_server_credentials_set_auth_metadata_processor.
class CheckingServerCredentials final : public grpc::ServerCredentials {
 public:
  // TLS with `tls`'s files, plaintext when it is null; with a non-empty secret, every call
  // must carry it. (The core object is made here, once the base class has initialized gRPC.)
  CheckingServerCredentials(const TlsState* tls, const std::string& secret) {
    if (tls == nullptr) {
      core_ = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair = {tls->key.c_str(), tls->cert.c_str()};
      core_ = grpc_ssl_server_credentials_create_ex(
          tls->ca.empty() ? nullptr : tls->ca.c_str(), &pair, 1,
          tls->ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
          nullptr);
    }
    if (secret.empty() && !ChaosEnabled()) return;
    grpc_auth_metadata_processor processor;
    processor.process = CheckSecretMetadata;
    processor.destroy = [](void* state) { delete static_cast<std::string*>(state); };
    processor.state = new std::string(secret);
    grpc_server_credentials_set_auth_metadata_processor(core_, processor);
  }
  ~CheckingServerCredentials() override { grpc_server_credentials_release(core_); }

  // The secret's processor is the only one; nothing in Ember sets another.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), core_);
  }

  grpc_server_credentials* core_ = nullptr;
};

}  // namespace

std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          const std::vector<grpc::Service*>& services,
                                          const ServerOptions& options, int* port) {
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Clients ping every kKeepaliveMs, with or without calls: not a reason to close on them.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kKeepaliveMs / 2);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // And the server pings its clients too, so that a call whose client is gone is cancelled.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  int selected = 0;
  const TlsState& tls = Tls();
  bool use_tls = tls.options.enabled() && !IsUnixAddress(address);
  // A server needs a certificate; the mains check that first.
  if (use_tls && tls.cert.empty()) return nullptr;
  builder.AddListeningPort(
      address,
      std::make_shared<CheckingServerCredentials>(use_tls ? &tls : nullptr, options.secret),
      &selected);
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
