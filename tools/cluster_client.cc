#include "tools/cluster_client.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <thread>

#include "absl/strings/str_format.h"
#include "proto/names.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/plugin_file.h"

namespace ember {
namespace submit {

namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Ago(int64_t ms) {
  if (ms <= 0) return "-";
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  return absl::StrFormat("%.1fs ago", static_cast<double>(now - ms) / 1000.0);
}

// Sends `request` as an upload (SubmitJobUpload, UpgradeJobUpload): the driver reads no
// request over rpc::kMaxRequestBytes, so the plugin goes in pieces of rpc::kChunkBytes.
template <typename Piece, typename Request>
grpc::Status Upload(grpc::ClientWriter<Piece>* writer, Request request) {
  std::string plugin = std::move(*request.mutable_plugin());
  request.clear_plugin();
  Piece piece;
  *piece.mutable_request() = std::move(request);
  size_t at = 0;
  do {
    size_t n = std::min(rpc::kChunkBytes, plugin.size() - at);
    piece.set_plugin(plugin.data() + at, n);
    at += n;
    if (!writer->Write(piece)) break;  // the driver has answered already: Finish says how
    piece.clear_request();
  } while (at < plugin.size());
  writer->WritesDone();
  return writer->Finish();
}

}  // namespace

ClusterClient::ClusterClient(std::string address, std::string secret, std::ostream& out,
                             std::ostream& err, int connect_timeout_s)
    : address_(std::move(address)),
      secret_(std::move(secret)),
      out_(out),
      err_(err),
      connect_timeout_s_(connect_timeout_s) {
  channel_ = rpc::MakeChannel(address_);
  stub_ = proto::Driver::NewStub(channel_);
}

bool ClusterClient::Connect() {
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(connect_timeout_s_);
  if (channel_->WaitForConnected(deadline)) return true;
  err_ << "ember-submit: cannot reach driver at " << address_ << " (no answer within "
       << connect_timeout_s_ << " s; is ember-driver running there?)\n";
  return false;
}

int ClusterClient::Fail(const grpc::Status& s, const std::string& what) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      err_ << "ember-submit: the driver refused the call: " << s.error_message() << "\n";
      return kExitDriver;
    case grpc::StatusCode::NOT_FOUND:
      err_ << "ember-submit: " << s.error_message() << "\n";
      return kExitNoApp;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err_ << "ember-submit: cannot reach driver at " << address_ << ": " << s.error_message()
           << "\n";
      return kExitDriver;
    default:
      err_ << "ember-submit: " << what << ": " << s.error_message() << "\n";
      return kExitDriver;
  }
}

bool ClusterClient::ReadPlugin(const std::string& path, std::string* bytes) {
  // The same check the driver makes, so that a damaged copy is refused before it travels.
  auto checked = internal::ReadCheckedPlugin(path);
  if (!checked.ok()) {
    err_ << "ember-submit: " << checked.status().message() << "\n";
    return false;
  }
  *bytes = std::move(*checked);
  return true;
}

int ClusterClient::Submit(const std::string& plugin_path, const std::string& name,
                          const std::map<std::string, std::string>& conf,
                          const std::vector<std::string>& args, bool detach) {
  std::string bytes;
  if (!ReadPlugin(plugin_path, &bytes)) return kExitBadPlugin;
  proto::SubmitJobRequest request;
  request.set_name(name);
  request.set_plugin(std::move(bytes));
  request.set_plugin_name(BaseName(plugin_path));
  for (const auto& [k, v] : conf) (*request.mutable_conf())[k] = v;
  for (const auto& a : args) request.add_args(a);
  return SubmitRequest(request, detach);
}

int ClusterClient::SubmitRequest(const proto::SubmitJobRequest& request, bool detach) {
  if (!Connect()) return kExitDriver;
  grpc::ClientContext call;
  rpc::Prepare(&call, {secret_, rpc::Deadline::kSubmit});
  proto::SubmitJobReply reply;
  grpc::Status s = Upload(stub_->SubmitJobUpload(&call, &reply).get(), request);
  if (!s.ok()) {
    auto code = s.error_code();
    if (code == grpc::StatusCode::INVALID_ARGUMENT ||
        code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::NOT_FOUND) {
      err_ << "ember-submit: the driver refused the job: " << s.error_message() << "\n";
      return kExitBadPlugin;
    }
    return Fail(s, "submitting the job failed");
  }
  err_ << "ember-submit: submitted application " << reply.app_id() << "\n";
  if (detach) {
    out_ << reply.app_id() << "\n";
    return kExitOk;
  }
  return Follow(reply.app_id(), true);
}

int ClusterClient::Follow(const std::string& app_id, bool follow) {
  int64_t offset = 0;
  std::string run;  // the output generation `offset` counts in
  auto broken_since = std::chrono::steady_clock::time_point();
  int64_t backoff_ms = 200;
  while (true) {
    grpc::ClientContext call;
    rpc::Prepare(&call, {secret_, rpc::Deadline::kUnbounded});
    proto::WatchJobRequest request;
    request.set_app_id(app_id);
    request.set_offset(offset);
    request.set_run(run);
    request.set_follow(follow);
    auto reader = stub_->WatchJob(&call, request);
    proto::JobEvent event;
    while (reader->Read(&event)) {
      broken_since = std::chrono::steady_clock::time_point();
      backoff_ms = 200;
      if (event.run() != run) {  // a new driver's output: its offsets start again
        run = event.run();
        offset = 0;
      }
      if (!event.output().empty()) {
        out_ << event.output() << std::flush;
        offset += static_cast<int64_t>(event.output().size());
      }
      if (event.finished()) {
        reader->Finish().IgnoreError();
        if (!follow) return kExitOk;
        if (event.state() == proto::APP_FINISHED) return kExitOk;
        err_ << "ember-submit: application " << app_id << " " << proto::AppStateName(event.state())
             << (event.error().empty() ? "" : ": " + event.error()) << "\n";
        return kExitJobFailed;
      }
    }
    grpc::Status s = reader->Finish();
    if (!follow && s.ok()) return kExitOk;
    if (s.error_code() == grpc::StatusCode::NOT_FOUND ||
        s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      return Fail(s, "following the job failed");
    }
    // The driver went away mid-job: re-attach where the output stopped, for a while.
    auto now = std::chrono::steady_clock::now();
    if (broken_since == std::chrono::steady_clock::time_point()) {
      broken_since = now;
      err_ << "ember-submit: lost the driver (" << s.error_message() << "); re-attaching\n";
    } else if (now - broken_since > std::chrono::seconds(30)) {
      err_ << "ember-submit: cannot reach driver at " << address_ << " for 30 s; the application "
           << app_id << " may still run (" << s.error_message() << ")\n";
      return kExitDriver;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));  // reconnect backoff
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
  }
}

int ClusterClient::Status(const std::string& app_id) {
  if (!Connect()) return kExitDriver;
  grpc::ClientContext call;
  rpc::Prepare(&call, {secret_, rpc::Deadline::kQuery});
  proto::StatusRequest request;
  request.set_app_id(app_id);
  proto::StatusReply reply;
  grpc::Status s = stub_->Status(&call, request, &reply);
  if (!s.ok()) return Fail(s, "status failed");
  if (app_id.empty()) {
    out_ << "executors:\n";
    out_ << absl::StrFormat("  %-10s %-22s %5s %7s %8s %12s %12s %s\n", "ID", "ADDRESS", "SLOTS",
                            "RUNNING", "BLOCKS", "BYTES", "HEARTBEAT", "STATE");
    for (const auto& e : reply.executors()) {
      out_ << absl::StrFormat("  %-10s %-22s %5d %7d %8d %12d %12s %s\n", e.executor_id(),
                              e.address(), e.slots(), e.running_tasks(), e.blocks(),
                              e.block_bytes(), Ago(e.last_heartbeat_ms()),
                              e.alive() ? "alive" : "lost");
    }
    out_ << "applications:\n";
    for (const auto& a : reply.apps()) {
      out_ << absl::StrFormat("  %-24s %-20s %s\n", a.app_id(), a.name(),
                              proto::AppStateName(a.state()));
    }
    return kExitOk;
  }
  for (const auto& a : reply.apps()) {
    out_ << "application " << a.app_id() << " (" << a.name()
         << "): " << proto::AppStateName(a.state()) << "\n";
    if (!a.error().empty()) out_ << "  error: " << a.error() << "\n";
    out_ << absl::StrFormat(
        "  batch interval %d ms, %d completed batches, last batch %d ms, %d records\n",
        a.batch_interval_ms(), a.completed_batches(), a.last_batch_ms(), a.records());
    out_ << absl::StrFormat("  avg processing %.1f ms, avg total delay %.1f ms\n",
                            a.avg_processing_ms(), a.avg_total_delay_ms());
    for (const auto& r : a.receivers()) {
      out_ << absl::StrFormat("  receiver %d on %s: %s%s\n", r.stream_id(),
                              r.executor_id().empty() ? "-" : r.executor_id(),
                              r.active() ? "active" : "inactive",
                              r.last_error().empty() ? "" : ", last error: " + r.last_error());
    }
  }
  return kExitOk;
}

int ClusterClient::List() {
  if (!Connect()) return kExitDriver;
  grpc::ClientContext call;
  rpc::Prepare(&call, {secret_, rpc::Deadline::kQuery});
  proto::StatusRequest request;
  proto::StatusReply reply;
  grpc::Status s = stub_->Status(&call, request, &reply);
  if (!s.ok()) return Fail(s, "listing failed");
  for (const auto& a : reply.apps()) {
    out_ << a.app_id() << "\t" << a.name() << "\t" << proto::AppStateName(a.state()) << "\n";
  }
  return kExitOk;
}

int ClusterClient::Kill(const std::string& app_id) {
  if (!Connect()) return kExitDriver;
  grpc::ClientContext call;
  rpc::Prepare(&call, {secret_, rpc::Deadline::kKill});
  proto::KillJobRequest request;
  request.set_app_id(app_id);
  proto::KillJobReply reply;
  grpc::Status s = stub_->KillJob(&call, request, &reply);
  if (!s.ok()) return Fail(s, "kill failed");
  out_ << app_id << " " << proto::AppStateName(reply.state()) << "\n";
  return kExitOk;
}

int ClusterClient::Upgrade(const std::string& app_id, const std::string& plugin_path) {
  std::string bytes;
  if (!ReadPlugin(plugin_path, &bytes)) return kExitBadPlugin;
  if (!Connect()) return kExitDriver;
  grpc::ClientContext call;
  rpc::Prepare(&call, {secret_, rpc::Deadline::kUpgrade});
  proto::UpgradeJobRequest request;
  request.set_app_id(app_id);
  request.set_plugin(std::move(bytes));
  request.set_plugin_name(plugin_path.substr(plugin_path.find_last_of('/') + 1));
  proto::UpgradeJobReply reply;
  grpc::Status s = Upload(stub_->UpgradeJobUpload(&call, &reply).get(), std::move(request));
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      out_ << app_id << " upgraded to " << plugin_path << "\n";
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
      err_ << "ember-submit: the driver refused the plugin: " << s.error_message() << "\n";
      return kExitBadPlugin;
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      err_ << "ember-submit: upgrade of " << app_id << " failed: " << s.error_message() << "\n";
      return kExitJobFailed;
    default:
      return Fail(s, "upgrade failed");
  }
}

}  // namespace submit
}  // namespace ember
