#include "executor/executor_server.h"

#include <glog/logging.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "executor/task_process_app.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/plugin_file.h"
#include "runtime/runtime_hooks.h"
#include "util/durable_file.h"
#include "util/file_names.h"

namespace ember {
namespace internal {

namespace {

constexpr int kMaxIdBytes = 512;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, rpc::BoundedMessage(message));
}

bool ValidId(const std::string& id) { return !id.empty() && id.size() <= kMaxIdBytes; }

// A task's tree may not be deeper than this (a hostile spec could exhaust the stack).
bool DepthOk(const proto::ComputeNode& node, int depth) {
  if (depth > 256) return false;
  if (node.has_state()) {
    const auto& state = node.state();
    if (state.has_values() && !DepthOk(state.values(), depth + 1)) return false;
    return !state.has_seed() || DepthOk(state.seed(), depth + 1);
  }
  if (!node.has_narrow()) return node.kind_case() != proto::ComputeNode::KIND_NOT_SET;
  for (const auto& input : node.narrow().inputs()) {
    if (!DepthOk(input, depth + 1)) return false;
  }
  return true;
}

}  // namespace

#define EMBER_CHECK_SECRET(context, secret)                  \
  do {                                                       \
    grpc::Status auth = rpc::CheckSecret((context), secret); \
    if (!auth.ok()) return auth;                             \
  } while (0)

// ExecutorLocal: what the task processes ask of their executor.
class ExecutorServer::LocalService final : public proto::ExecutorLocal::Service {
 public:
  explicit LocalService(ExecutorServer* server) : server_(server) {}

  grpc::Status StoreBlock(grpc::ServerContext* context, const proto::StoreBlockRequest* request,
                          proto::StoreBlockReply* reply) override {
    EMBER_CHECK_SECRET(context, server_->local_token_);
    if (!ValidId(request->block_id())) return Invalid("block without an id");
    std::vector<proto::Peer> initial(request->initial_peers().begin(),
                                     request->initial_peers().end());
    auto where = server_->replicator_->Store(
        request->block_id(),
        std::move(*const_cast<proto::StoreBlockRequest*>(request)->mutable_data()),
        request->replication(), initial);
    if (!where.ok()) return rpc::ToGrpc(where.status());
    for (auto& w : *where) reply->add_locations(std::move(w));
    return grpc::Status::OK;
  }

  grpc::Status GetBlock(grpc::ServerContext* context, const proto::GetBlockRequest* request,
                        proto::GetBlockReply* reply) override {
    EMBER_CHECK_SECRET(context, server_->local_token_);
    EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
    return server_->GetBlockHere(*request, reply);
  }

  grpc::Status ExecutorId(grpc::ServerContext* context, const proto::ExecutorIdRequest*,
                          proto::ExecutorIdReply* reply) override {
    EMBER_CHECK_SECRET(context, server_->local_token_);
    reply->set_executor_id(server_->link_->executor_id());
    return grpc::Status::OK;
  }

 private:
  ExecutorServer* const server_;
};

// ---------------------------------------------------------------------------- lifecycle

ExecutorServer::ExecutorServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ExecutorServer>> ExecutorServer::Create(Options options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir + "/plugins", ec);
  if (ec) {
    return absl::FailedPreconditionError("cannot use data directory " + options.data_dir + ": " +
                                         ec.message());
  }
  auto server = std::unique_ptr<ExecutorServer>(new ExecutorServer(std::move(options)));
  RocksDbBlockStore::Options o;
  o.path = server->options_.data_dir + "/blocks";
  // Blocks are replicated on another executor before they are reported: a process crash must
  // not lose them, a machine crash is covered by the replica.
  o.sync_writes = false;
  auto store = RocksDbBlockStore::Open(o);
  if (!store.ok()) return store.status();
  server->blocks_ = std::move(*store);
  // The driver that allocated them no longer knows this executor (it registers anew).
  server->RemoveStored(server->blocks_->ListBlockIds(""), "left by an earlier run");
  // Old plugin copies are never loaded again.
  for (const auto& entry :
       std::filesystem::directory_iterator(server->options_.data_dir + "/plugins", ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  // The driver link exists before the server serves: a call that comes before Start finds it
  // (unregistered), never a null pointer.
  ExecutorServer* self = server.get();
  DriverLink::Options l;
  l.driver = self->options_.driver;
  l.secret = self->options_.secret;
  l.slots = self->options_.slots;
  l.fill_heartbeat = [self](proto::HeartbeatRequest* request) {
    {
      absl::MutexLock lock(&self->mu_);
      request->set_block_bytes(self->total_block_bytes_);
    }
    request->set_receivers(self->Receivers());
    {
      absl::MutexLock lock(&self->slots_mu_);
      request->set_running_tasks(self->running_tasks_);
      request->set_completed_tasks(self->completed_tasks_);
    }
    request->set_blocks(static_cast<int64_t>(self->blocks_->size()));
    request->set_unhealthy(self->Health());
    absl::MutexLock lock(&self->mu_);
    request->set_orphan_blocks_removed(self->orphan_blocks_removed_);
  };
  l.on_forgotten = [self] {
    self->DropAllApps("the driver forgot this executor");
    // As at start: the driver no longer knows where these blocks are; it registers anew.
    self->RemoveStored(self->blocks_->ListBlockIds(""), "of the earlier registration");
  };
  l.on_fenced = [self](const std::string& reason) { self->DropAllApps("fenced: " + reason); };
  l.on_live_apps = [self](const std::vector<std::string>& live, absl::Time asked) {
    self->ForgetEndedApps(live, asked);
  };
  self->link_ = std::make_unique<DriverLink>(std::move(l));
  BlockReplicator::Options r;
  r.local = self->blocks_.get();
  r.peers = &self->peer_client_;
  r.secret = self->options_.secret;
  r.self = [self] { return self->link_->self(); };
  r.live_peers = [self] { return self->link_->peers(); };
  r.on_stored = [self](const std::string& id, int64_t bytes) { self->CountBlock(id, bytes); };
  self->replicator_ = std::make_unique<BlockReplicator>(std::move(r));
  if (self->options_.isolation == Isolation::kProcess) {
    self->local_address_ = rpc::NewLocalAddress("executor");
    self->local_token_ = rpc::NewToken();
    self->local_service_ = std::make_unique<LocalService>(self);
    // Received blocks come whole: the larger request limit.
    self->local_server_ = rpc::StartServer(self->local_address_, {self->local_service_.get()},
                                           {self->local_token_, rpc::kMaxMessageBytes});
    if (self->local_server_ == nullptr) {
      return absl::UnavailableError("cannot serve the task processes on " + self->local_address_);
    }
  }
  return server;
}

ExecutorServer::~ExecutorServer() { Shutdown(); }

void ExecutorServer::Start(const std::string& address) {
  address_ = address;
  if (options_.isolation == Isolation::kThread) {
    // Broadcast variables this process does not hold come from the driver.
    SetBroadcastFetcher([this](int64_t id) -> absl::StatusOr<std::string> {
      proto::FetchBroadcastRequest request;
      request.set_id(id);
      proto::FetchBroadcastReply reply;
      grpc::Status s = rpc::Call(link_->stub(), &proto::Driver::Stub::FetchBroadcast, request,
                                 &reply, {options_.secret, rpc::Deadline::kBroadcast});
      if (!s.ok()) return rpc::FromGrpc(s);
      return std::move(*reply.mutable_data());
    });
  }
  link_->Start(address_);
}

void ExecutorServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  DropAllApps("executor shutting down");
  link_->Shutdown();
  if (local_server_ != nullptr) {
    local_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  if (options_.isolation == Isolation::kThread) SetBroadcastFetcher(nullptr);
}

std::string ExecutorServer::executor_id() const { return link_->executor_id(); }

namespace {
// Block ids start with their application's id: "APP/INCARNATION/input-STREAM-TIME".
std::string AppOfBlock(const std::string& id) { return id.substr(0, id.find('/')); }
}  // namespace

void ExecutorServer::CountBlock(const std::string& id, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  block_apps_.emplace(AppOfBlock(id), absl::Now());
  auto [it, inserted] = block_bytes_.emplace(id, bytes);
  if (!inserted) {
    total_block_bytes_ -= it->second;
    it->second = bytes;
  }
  total_block_bytes_ += bytes;
}

void ExecutorServer::UncountBlocks(const std::vector<std::string>& ids) {
  absl::MutexLock lock(&mu_);
  for (const auto& id : ids) {
    auto it = block_bytes_.find(id);
    if (it == block_bytes_.end()) continue;
    total_block_bytes_ -= it->second;
    block_bytes_.erase(it);
  }
}

// --------------------------------------------------------------------------------- apps

absl::Status ExecutorServer::FetchPlugin(App* app) {
  if (app->fetched) return app->fetch_status;
  int n;
  {
    absl::MutexLock lock(&mu_);
    n = ++plugin_fetches_;
  }
  proto::FetchPluginRequest request;
  request.set_app_id(app->id);
  proto::FetchPluginReply reply;
  grpc::Status s = rpc::Call(link_->stub(), &proto::Driver::Stub::FetchPlugin, request, &reply,
                             {options_.secret, rpc::Deadline::kTransfer});
  if (!s.ok()) {
    absl::Status failed(
        static_cast<absl::StatusCode>(s.error_code()),
        "cannot fetch the plugin of " + app->id + " from the driver: " + s.error_message());
    // A driver that could not be reached may answer next time: do not remember that.
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
        s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      app->fetched = true;
      app->fetch_status = failed;
    }
    return failed;
  }
  app->fetched = true;
  // Checked as data here: this process never maps a plugin, and a damaged copy never reaches
  // a task process's dlopen either.
  auto checked = CheckPluginBytes(reply.plugin(), "the plugin of " + app->id);
  if (!checked.ok()) {
    app->fetch_status = checked.status();
    return app->fetch_status;
  }
  // A new path per fetch: dlopen of a path already loaded returns the old library.
  std::string path =
      absl::StrCat(options_.data_dir, "/plugins/", SafeFileName(app->id), "-", n, ".so");
  if (!WriteFileSynced(path, reply.plugin()).ok()) {
    app->fetched = false;
    return absl::ResourceExhaustedError("cannot write " + path + " (disk full?)");
  }
  app->plugin_path = path;
  app->memory_limit = reply.task_process_memory_bytes();
  app->fetch_status = absl::OkStatus();
  return app->fetch_status;
}

absl::StatusOr<std::shared_ptr<AppHandle>> ExecutorServer::StartHandle(App* app) {
  if (options_.isolation == Isolation::kThread) {
    AppHost::Options o;
    o.app_id = app->id;
    o.plugin_path = app->plugin_path;
    o.self = address_;
    o.secret = options_.secret;
    o.local_blocks = blocks_.get();
    o.peers = &peer_client_;
    BlockReplicator* replicator = replicator_.get();
    o.receivers.store = [replicator](const std::string& id, std::string bytes, int replication,
                                     const std::vector<proto::Peer>& initial) {
      return replicator->Store(id, std::move(bytes), replication, initial);
    };
    o.receivers.driver = &link_->stub();
    o.receivers.secret = options_.secret;
    DriverLink* link = link_.get();
    o.receivers.executor_id = [link] { return link->executor_id(); };
    auto host = AppHost::Create(std::move(o));
    if (!host.ok()) return host.status();
    return std::shared_ptr<AppHandle>(std::make_shared<InProcessApp>(std::move(*host)));
  }
  TaskProcessApp::Options o;
  o.program = options_.program;
  o.launch.set_app_id(app->id);
  o.launch.set_plugin_path(app->plugin_path);
  o.launch.set_executor_address(address_);
  o.launch.set_executor_id(link_->executor_id());
  o.launch.set_driver(options_.driver);
  o.launch.set_secret(options_.secret);
  *o.launch.mutable_tls() = rpc::ConfiguredTlsFiles();
  o.launch.set_parent_address(local_address_);
  o.launch.set_token(local_token_);
  o.launch.set_log_level(options_.log_level);
  o.memory_limit_bytes = app->memory_limit;
  o.report_event = [this](const proto::ReportReceiverEventRequest& r) { ReportEvent(r); };
  auto started = TaskProcessApp::Start(std::move(o));
  if (!started.ok()) return started.status();
  return std::shared_ptr<AppHandle>(std::move(*started));
}

absl::StatusOr<std::shared_ptr<AppHandle>> ExecutorServer::HandleFor(const std::string& app_id) {
  std::shared_ptr<App> app;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("executor shutting down");
    auto& slot = apps_[app_id];
    if (slot == nullptr) {
      slot = std::make_shared<App>();
      slot->id = app_id;
    }
    app = slot;
  }
  absl::MutexLock start(&app->start_mu);
  {
    absl::MutexLock lock(&app->handle_mu);
    if (app->handle != nullptr && app->handle->usable()) return app->handle;
  }
  absl::Status fetched = FetchPlugin(app.get());
  if (!fetched.ok()) return fetched;
  auto handle = StartHandle(app.get());
  if (!handle.ok()) return handle.status();
  absl::MutexLock lock(&app->handle_mu);
  app->handle = *handle;
  return app->handle;
}

std::shared_ptr<AppHandle> ExecutorServer::RunningHandle(const std::string& app_id) {
  std::shared_ptr<App> app;
  {
    absl::MutexLock lock(&mu_);
    auto it = apps_.find(app_id);
    if (it == apps_.end()) return nullptr;
    app = it->second;
  }
  absl::MutexLock lock(&app->handle_mu);
  if (app->handle == nullptr || !app->handle->usable()) return nullptr;
  return app->handle;
}

void ExecutorServer::DropApp(const std::string& app_id, const std::string& reason) {
  std::shared_ptr<App> app;
  {
    absl::MutexLock lock(&mu_);
    auto it = apps_.find(app_id);
    if (it == apps_.end()) return;
    app = it->second;
    apps_.erase(it);  // running calls hold their own reference
  }
  std::shared_ptr<AppHandle> handle;
  {
    absl::MutexLock lock(&app->handle_mu);
    handle = std::move(app->handle);
  }
  if (handle != nullptr) handle->Shutdown(reason);
}

std::string ExecutorServer::Health() {
  absl::Status failure = blocks_->failure();
  if (failure.ok()) return "";
  // Reopened once the data directory has room again (checked every few seconds).
  absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (now < next_store_check_) return std::string(failure.message());
    next_store_check_ = now + absl::Seconds(2);
  }
  if (blocks_->free_bytes() >= blocks_->options().min_free_bytes + kFreeBytesToReopen) {
    absl::Status reopened = blocks_->Reopen();
    if (reopened.ok()) return "";
    LOG(WARNING) << "the block store cannot be reopened yet: " << reopened;
  }
  return std::string(blocks_->failure().message());
}

int64_t ExecutorServer::RemoveStored(const std::vector<std::string>& ids, const std::string& what) {
  if (ids.empty()) return 0;
  absl::Status s = blocks_->TryRemove(ids);
  if (!s.ok()) {
    LOG(WARNING) << "cannot remove " << ids.size() << " block(s) " << what << ": " << s;
    return 0;
  }
  UncountBlocks(ids);
  LOG(INFO) << "removed " << ids.size() << " block(s) " << what;
  return static_cast<int64_t>(ids.size());
}

int64_t ExecutorServer::RemoveBlocksOf(const std::set<std::string>& apps) {
  int64_t removed = 0;
  for (const auto& app : apps) {
    removed += RemoveStored(blocks_->ListBlockIds(app + "/"), "of application " + app);
    absl::MutexLock lock(&mu_);
    block_apps_.erase(app);
  }
  return removed;
}

namespace {
// The time in a block's id, "APP/INCARNATION/input-STREAM-TIME[-rN]"; -1 when it has none.
int64_t TimeOfBlock(const std::string& id) {
  size_t at = id.find("/input-");
  if (at == std::string::npos) return -1;
  std::vector<std::string> parts = absl::StrSplit(id.substr(at + 7), '-');
  int64_t t = -1;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &t)) return -1;
  return t;
}
}  // namespace

void ExecutorServer::RemoveBlocksBefore(const std::string& app, int64_t before_ms) {
  int64_t young = absl::ToUnixMillis(absl::Now()) - 2 * link_->heartbeat_timeout_ms();
  int64_t cutoff = std::min(before_ms, young);
  std::vector<std::string> old;
  for (auto& id : blocks_->ListBlockIds(app + "/")) {
    int64_t t = TimeOfBlock(id);
    if (t >= 0 && t <= cutoff) old.push_back(std::move(id));
  }
  int64_t n = RemoveStored(
      old, absl::StrCat("of ", app, " received before ", cutoff, " ms, which no batch needs"));
  absl::MutexLock lock(&mu_);
  orphan_blocks_removed_ += n;
}

void ExecutorServer::ForgetEndedApps(const std::vector<std::string>& live, absl::Time asked) {
  std::set<std::string> running(live.begin(), live.end());
  std::vector<std::string> drop;
  std::set<std::string> orphans;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, app] : apps_) {
      if (!running.count(id) && app->created < asked) drop.push_back(id);
    }
    for (const auto& [app, since] : block_apps_) {
      if (!running.count(app) && since < asked) orphans.insert(app);
    }
  }
  for (const auto& id : drop) DropApp(id, "the driver no longer runs the application");
  int64_t n = RemoveBlocksOf(orphans);
  absl::MutexLock lock(&mu_);
  orphan_blocks_removed_ += n;
}

void ExecutorServer::DropAllApps(const std::string& reason) {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, app] : apps_) ids.push_back(id);
  }
  for (const auto& id : ids) DropApp(id, reason);
}

int ExecutorServer::Receivers() {
  std::vector<std::shared_ptr<App>> apps;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, app] : apps_) apps.push_back(app);
  }
  int n = 0;
  for (const auto& app : apps) {
    absl::MutexLock lock(&app->handle_mu);
    if (app->handle != nullptr) n += app->handle->receivers();
  }
  return n;
}

void ExecutorServer::ReportEvent(const proto::ReportReceiverEventRequest& request) {
  proto::ReportReceiverEventRequest r = request;
  r.set_executor_id(link_->executor_id());
  proto::ReportReceiverEventReply ignored;
  grpc::Status s = rpc::Call(link_->stub(), &proto::Driver::Stub::ReportReceiverEvent, r, &ignored,
                             {options_.secret, rpc::Deadline::kControl});
  if (!s.ok()) LOG(WARNING) << "cannot report a lost receiver: " << s.error_message();
}

// -------------------------------------------------------------------------------- tasks

grpc::Status ExecutorServer::RunTask(grpc::ServerContext* context,
                                     const proto::RunTaskRequest* request,
                                     proto::RunTaskReply* reply) {
  EMBER_CHECK_SECRET(context, options_.secret);
  if (!ValidId(request->app_id())) return Invalid("task without an application id");
  if (!request->has_task() || !DepthOk(request->task().root(), 0)) {
    return Invalid("malformed task: no or too deep an operator tree");
  }
  auto handle = HandleFor(request->app_id());
  if (!handle.ok()) {
    FailInReply(handle.status(), reply);
    return grpc::Status::OK;
  }
  {
    absl::MutexLock lock(&slots_mu_);
    auto free = [this]() ABSL_SHARED_LOCKS_REQUIRED(slots_mu_) {
      return running_tasks_ < options_.slots;
    };
    slots_mu_.Await(absl::Condition(&free));
    ++running_tasks_;
  }
  (*handle)->RunTask(*request, reply);
  absl::MutexLock lock(&slots_mu_);
  --running_tasks_;
  ++completed_tasks_;
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::FetchShuffle(grpc::ServerContext* context,
                                          const proto::FetchShuffleRequest* request,
                                          grpc::ServerWriter<proto::ShuffleChunk>* writer) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (!ValidId(request->app_id()) || request->reduce_id() < 0) {
    return Invalid("malformed shuffle fetch");
  }
  auto write = [writer](const proto::ShuffleChunk& c) { return writer->Write(c); };
  if (std::shared_ptr<AppHandle> handle = RunningHandle(request->app_id())) {
    absl::Status s = handle->FetchShuffle(*request, write);
    if (absl::IsCancelled(s)) return grpc::Status::CANCELLED;
    if (s.ok()) return grpc::Status::OK;
    // The process lives: the call failed on the way, and the reducer tries again.
    if (handle->usable()) return rpc::ToGrpc(s);
    // The process died while it answered: its outputs are gone.
  }
  for (int m : request->map_ids()) {
    proto::ShuffleChunk chunk;
    chunk.set_map_id(m);
    chunk.set_missing(true);
    if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
  }
  return grpc::Status::OK;
}

// ------------------------------------------------------------------------------- blocks

grpc::Status ExecutorServer::PutBlock(grpc::ServerContext* context,
                                      const proto::PutBlockRequest* request,
                                      proto::PutBlockReply*) {
  EMBER_CHECK_SECRET(context, options_.secret);
  if (!ValidId(request->block_id())) return Invalid("block without an id");
  absl::Status s = blocks_->Put(request->block_id(), request->data());
  if (!s.ok()) return rpc::ToGrpc(s);
  CountBlock(request->block_id(), static_cast<int64_t>(request->data().size()));
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::GetBlockHere(const proto::GetBlockRequest& request,
                                          proto::GetBlockReply* reply) {
  if (!ValidId(request.block_id())) return Invalid("block without an id");
  auto bytes = blocks_->Get(request.block_id());
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) return grpc::Status::OK;  // found = false
    return rpc::ToGrpc(bytes.status());
  }
  reply->set_found(true);
  reply->set_data(**bytes);
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::GetBlock(grpc::ServerContext* context,
                                      const proto::GetBlockRequest* request,
                                      proto::GetBlockReply* reply) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  return GetBlockHere(*request, reply);
}

grpc::Status ExecutorServer::RemoveBlocks(grpc::ServerContext* context,
                                          const proto::RemoveBlocksRequest* request,
                                          proto::RemoveBlocksReply*) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kMaxRequestBytes);
  std::vector<std::string> ids(request->block_ids().begin(), request->block_ids().end());
  for (const auto& id : ids) {
    if (!ValidId(id)) return Invalid("empty or oversized block id");
  }
  blocks_->Remove(ids);
  UncountBlocks(ids);
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::Cleanup(grpc::ServerContext* context,
                                     const proto::CleanupRequest* request, proto::CleanupReply*) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kMaxRequestBytes);
  if (!ValidId(request->app_id())) return Invalid("cleanup without an application id");
  if (request->app_ended()) {
    DropApp(request->app_id(), "the application ended");
    RemoveBlocksOf({request->app_id()});
    return grpc::Status::OK;
  }
  if (std::shared_ptr<AppHandle> handle = RunningHandle(request->app_id())) {
    handle->Cleanup(*request);
  }
  if (request->blocks_before_ms() > 0)
    RemoveBlocksBefore(request->app_id(), request->blocks_before_ms());
  return grpc::Status::OK;
}

// ---------------------------------------------------------------------------- receivers

grpc::Status ExecutorServer::StartReceiver(grpc::ServerContext* context,
                                           const proto::StartReceiverRequest* request,
                                           proto::StartReceiverReply* reply) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kMaxRequestBytes);
  if (!ValidId(request->app_id()) || request->stream_id() < 0 || request->incarnation() <= 0 ||
      request->block_interval_ms() <= 0 || request->restart_delay_ms() < 0 ||
      request->factory().key().empty() || !(request->max_rate() >= 0) || !(request->rate() >= 0) ||
      request->max_buffered_bytes() < 0 || request->batch_interval_ms() < 0) {
    return Invalid("malformed receiver start");
  }
  if (absl::Status failure = blocks_->failure(); !failure.ok()) {
    // Unavailable: the driver places the receiver elsewhere.
    reply->set_error_code(static_cast<int>(absl::StatusCode::kUnavailable));
    reply->set_error("executor " + link_->executor_id() +
                     " cannot store blocks: " + std::string(failure.message()));
    return grpc::Status::OK;
  }
  auto handle = HandleFor(request->app_id());
  absl::Status started = handle.ok() ? (*handle)->StartReceiver(*request) : handle.status();
  if (!started.ok()) {
    reply->set_error_code(static_cast<int>(started.code()));
    reply->set_error(std::string(started.message()));
  }
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::StopReceiver(grpc::ServerContext* context,
                                          const proto::StopReceiverRequest* request,
                                          proto::StopReceiverReply*) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (!ValidId(request->app_id()) || request->stream_id() < 0) {
    return Invalid("malformed receiver stop");
  }
  if (std::shared_ptr<AppHandle> handle = RunningHandle(request->app_id())) {
    handle->StopReceiver(*request);
  }
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::UpdateReceiverRate(grpc::ServerContext* context,
                                                const proto::UpdateReceiverRateRequest* request,
                                                proto::UpdateReceiverRateReply*) {
  EMBER_CHECK_SECRET(context, options_.secret);
  EMBER_CHECK_SIZE(request, rpc::kControlRequestBytes);
  if (!ValidId(request->app_id()) || request->stream_id() < 0 || !(request->rate() >= 0)) {
    return Invalid("malformed receiver rate");
  }
  if (std::shared_ptr<AppHandle> handle = RunningHandle(request->app_id())) {
    handle->UpdateReceiverRate(*request);
  }
  return grpc::Status::OK;
}

#undef EMBER_CHECK_SECRET

}  // namespace internal
}  // namespace ember
