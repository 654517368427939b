#include "executor/executor_server.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/receiver_supervisor.h"
#include "runtime/runtime_hooks.h"
#include "runtime/task_runner.h"
#include "util/file_names.h"
#include "util/task_status.h"

namespace ember {
namespace internal {

namespace {

constexpr int kMaxIdBytes = 512;

// A task-level failure travels inside the reply; the call itself succeeded.
template <typename Reply>
grpc::Status FailInReply(const absl::Status& s, Reply* reply) {
  reply->set_error_code(static_cast<int>(s.code()));
  reply->set_error(std::string(s.message()));
  if constexpr (std::is_same_v<Reply, proto::RunTaskReply>) {
    if (IsStateLost(s)) reply->set_failure(proto::TASK_FAILURE_STATE_LOST);
  }
  return grpc::Status::OK;
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
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

#define EMBER_CHECK_SECRET(context)                                   \
  do {                                                                \
    grpc::Status auth = rpc::CheckSecret((context), options_.secret); \
    if (!auth.ok()) return auth;                                      \
  } while (0)

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
  std::vector<std::string> old = server->blocks_->ListBlockIds("");
  if (!old.empty()) {
    // The driver that allocated them no longer knows this executor (it registers anew).
    absl::Status s = server->blocks_->TryRemove(old);
    LOG(INFO) << "removed " << old.size() << " block(s) left by an earlier run"
              << (s.ok() ? "" : ": " + s.ToString());
  }
  // Old plugin copies are never loaded again.
  for (const auto& entry :
       std::filesystem::directory_iterator(server->options_.data_dir + "/plugins", ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  // The driver link and the receiver host exist before the server serves: a call that comes
  // before Start finds them (unregistered), never a null pointer.
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
    request->set_receivers(self->receivers_->size());
    {
      absl::MutexLock lock(&self->slots_mu_);
      request->set_running_tasks(self->running_tasks_);
    }
    request->set_blocks(static_cast<int64_t>(self->blocks_->size()));
  };
  l.on_forgotten = [self] { self->DropAllApps(); };
  self->link_ = std::make_unique<DriverLink>(std::move(l));
  ReceiverHost::Options r;
  r.local = self->blocks_.get();
  r.peers = &self->peer_client_;
  r.link = self->link_.get();
  r.secret = self->options_.secret;
  r.on_stored = [self](const std::string& id, int64_t bytes) { self->CountBlock(id, bytes); };
  self->receivers_ = std::make_unique<ReceiverHost>(std::move(r));
  return server;
}

ExecutorServer::~ExecutorServer() { Shutdown(); }

void ExecutorServer::Start(const std::string& address) {
  address_ = address;
  // Broadcast variables this process does not hold come from the driver.
  SetBroadcastFetcher([this](int64_t id) -> absl::StatusOr<std::string> {
    proto::FetchBroadcastRequest request;
    request.set_id(id);
    proto::FetchBroadcastReply reply;
    grpc::Status s = rpc::Call(link_->stub(), &proto::Driver::Stub::FetchBroadcast, request, &reply,
                               {options_.secret, rpc::Deadline::kBroadcast});
    if (!s.ok()) return rpc::FromGrpc(s);
    return std::move(*reply.mutable_data());
  });
  link_->Start(address_);
}

void ExecutorServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  receivers_->Shutdown();
  link_->Shutdown();
  SetBroadcastFetcher(nullptr);
}

std::string ExecutorServer::executor_id() const { return link_->executor_id(); }

void ExecutorServer::CountBlock(const std::string& id, int64_t bytes) {
  absl::MutexLock lock(&mu_);
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

std::shared_ptr<ExecutorServer::App> ExecutorServer::FindApp(const std::string& app_id) {
  absl::MutexLock lock(&mu_);
  auto it = apps_.find(app_id);
  return it == apps_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<ExecutorServer::App>> ExecutorServer::LoadedApp(
    const std::string& app_id) {
  std::shared_ptr<App> app;
  int n;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("executor shutting down");
    auto& slot = apps_[app_id];
    if (slot == nullptr) {
      slot = std::make_shared<App>();
      slot->id = app_id;
    }
    app = slot;
    n = ++plugin_loads_;
  }
  absl::MutexLock lock(&app->load_mu);
  if (app->loaded) {
    if (!app->load_status.ok()) return app->load_status;
    return app;
  }
  app->loaded = true;
  proto::FetchPluginRequest request;
  request.set_app_id(app_id);
  proto::FetchPluginReply reply;
  grpc::Status s = rpc::Call(link_->stub(), &proto::Driver::Stub::FetchPlugin, request, &reply,
                             {options_.secret, rpc::Deadline::kTransfer});
  if (!s.ok()) {
    app->load_status = absl::Status(
        static_cast<absl::StatusCode>(s.error_code()),
        "cannot fetch the plugin of " + app_id + " from the driver: " + s.error_message());
    // A driver that could not be reached may answer next time: do not remember that.
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      app->loaded = false;
    }
    return app->load_status;
  }
  // A new path per load: dlopen of a path already loaded returns the old library.
  std::string path =
      absl::StrCat(options_.data_dir, "/plugins/", SafeFileName(app_id), "-", n, ".so");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reply.plugin().data(), static_cast<std::streamsize>(reply.plugin().size()));
    out.close();
    if (!out) {
      app->load_status = absl::ResourceExhaustedError("cannot write " + path + " (disk full?)");
      app->loaded = false;
      return app->load_status;
    }
  }
  auto plugin = LoadPlugin(path);
  if (!plugin.ok()) {
    app->load_status = plugin.status();
    return app->load_status;
  }
  app->plugin = std::move(*plugin);
  app->resolver = std::make_unique<OpResolver>(app->plugin->registry());
  app->load_status = absl::OkStatus();
  LOG(INFO) << "loaded the plugin of " << app_id << " (Ember " << app->plugin->version() << ")";
  return app;
}

void ExecutorServer::DropApp(const std::string& app_id) {
  receivers_->StopApp(app_id, "executor dropped the application");
  absl::MutexLock lock(&mu_);
  apps_.erase(app_id);  // running tasks hold their own reference
}

void ExecutorServer::DropAllApps() {
  receivers_->StopAll("executor dropped the application");
  absl::MutexLock lock(&mu_);
  apps_.clear();
}

// -------------------------------------------------------------------------------- tasks

absl::StatusOr<std::shared_ptr<const std::string>> ExecutorServer::FetchBlock(
    const proto::BlockInput& block) {
  std::vector<std::string> tried;
  for (const std::string& where : block.locations()) {
    if (where == address_) continue;
    proto::GetBlockRequest request;
    request.set_block_id(block.block_id());
    proto::GetBlockReply reply;
    grpc::Status s = rpc::Call(*peer_client_.Stub(where), &proto::Executor::Stub::GetBlock, request,
                               &reply, {options_.secret, rpc::Deadline::kPeerBlock});
    if (s.ok() && reply.found()) {
      return std::make_shared<const std::string>(std::move(*reply.mutable_data()));
    }
    tried.push_back(where + (s.ok() ? " (not there)" : " (" + s.error_message() + ")"));
  }
  return absl::NotFoundError(
      absl::StrCat("block ", block.block_id(), " is on no live executor; tried here and ",
                   tried.empty() ? "nowhere else" : absl::StrJoin(tried, ", ")));
}

absl::StatusOr<std::vector<std::string>> ExecutorServer::FetchShuffleBuckets(
    App* app, const proto::ShuffleRef& ref, int reduce_id) {
  if (ref.num_maps() < 0 || ref.num_maps() > 1000000) {
    return absl::InvalidArgumentError("bad map count");
  }
  std::vector<std::string> buckets(static_cast<size_t>(ref.num_maps()));
  bool located = ref.map_locations_size() == ref.num_maps();
  std::map<std::string, std::vector<int>> remote;
  auto missing = [&](int m, const std::string& why) {
    return absl::NotFoundError(
        absl::StrCat("missing map output ", m, " of shuffle ", ref.shuffle_id(), " (", why, ")"));
  };
  for (int m = 0; m < ref.num_maps(); ++m) {
    std::string where = located ? ref.map_locations(m) : address_;
    if (where.empty()) return missing(m, "its location is unknown");
    if (where != address_) {
      remote[where].push_back(m);
      continue;
    }
    auto b = app->shuffles.Get(ref.shuffle_id(), m);
    if (b == nullptr || reduce_id >= static_cast<int>(b->size())) {
      return missing(m, "not on this executor");
    }
    buckets[static_cast<size_t>(m)] = (*b)[static_cast<size_t>(reduce_id)];
  }
  for (const auto& [where, maps] : remote) {
    grpc::ClientContext call;
    rpc::Prepare(&call, {options_.secret, rpc::Deadline::kTransfer});
    proto::FetchShuffleRequest request;
    request.set_app_id(app->id);
    request.set_shuffle_id(ref.shuffle_id());
    request.set_reduce_id(reduce_id);
    for (int m : maps) request.add_map_ids(m);
    auto reader = peer_client_.Stub(where)->FetchShuffle(&call, request);
    proto::ShuffleChunk chunk;
    std::set<int> complete;
    while (reader->Read(&chunk)) {
      int m = chunk.map_id();
      if (m < 0 || m >= ref.num_maps()) continue;
      if (chunk.missing()) {
        call.TryCancel();
        reader->Finish().IgnoreError();
        return missing(m, "executor " + where + " no longer has it");
      }
      buckets[static_cast<size_t>(m)] += chunk.data();
      if (chunk.last()) complete.insert(m);
    }
    grpc::Status s = reader->Finish();
    for (int m : maps) {
      if (!complete.count(m)) {
        return missing(m, "executor " + where + " unreachable: " +
                              (s.ok() ? "stream ended early" : s.error_message()));
      }
    }
  }
  return buckets;
}

grpc::Status ExecutorServer::RunTask(grpc::ServerContext* context,
                                     const proto::RunTaskRequest* request,
                                     proto::RunTaskReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->app_id())) return Invalid("task without an application id");
  if (!request->has_task() || !DepthOk(request->task().root(), 0)) {
    return Invalid("malformed task: no or too deep an operator tree");
  }
  auto fail = [reply](const absl::Status& s) { return FailInReply(s, reply); };
  auto app = LoadedApp(request->app_id());
  if (!app.ok()) return fail(app.status());
  App* a = app->get();
  {
    absl::MutexLock lock(&slots_mu_);
    auto free = [this]() ABSL_SHARED_LOCKS_REQUIRED(slots_mu_) {
      return running_tasks_ < options_.slots;
    };
    slots_mu_.Await(absl::Condition(&free));
    ++running_tasks_;
  }
  TaskEnv env;
  env.ops = a->resolver.get();
  env.blocks = blocks_.get();
  env.shuffles = &a->shuffles;
  env.cache = &a->cache;
  env.states = &a->states;
  env.fetch_block = [this](const proto::BlockInput& b) { return FetchBlock(b); };
  env.fetch_shuffle = [this, a](const proto::ShuffleRef& ref, int reduce_id) {
    return FetchShuffleBuckets(a, ref, reduce_id);
  };
  auto result = ember::internal::RunTask(request->task(), env);
  {
    absl::MutexLock lock(&slots_mu_);
    --running_tasks_;
  }
  if (!result.ok()) return fail(result.status());
  *reply->mutable_result() = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::FetchShuffle(grpc::ServerContext* context,
                                          const proto::FetchShuffleRequest* request,
                                          grpc::ServerWriter<proto::ShuffleChunk>* writer) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->app_id()) || request->reduce_id() < 0) {
    return Invalid("malformed shuffle fetch");
  }
  std::shared_ptr<App> app = FindApp(request->app_id());
  for (int m : request->map_ids()) {
    proto::ShuffleChunk chunk;
    chunk.set_map_id(m);
    ShuffleStore::Buckets b =
        app == nullptr ? nullptr : app->shuffles.Get(request->shuffle_id(), m);
    if (b == nullptr || request->reduce_id() >= static_cast<int>(b->size())) {
      chunk.set_missing(true);
      if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
      continue;
    }
    const std::string& bucket = (*b)[static_cast<size_t>(request->reduce_id())];
    size_t at = 0;
    do {
      size_t n = std::min(rpc::kChunkBytes, bucket.size() - at);
      chunk.set_data(bucket.substr(at, n));
      at += n;
      chunk.set_last(at >= bucket.size());
      if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
    } while (at < bucket.size());
  }
  return grpc::Status::OK;
}

// ------------------------------------------------------------------------------- blocks

grpc::Status ExecutorServer::PutBlock(grpc::ServerContext* context,
                                      const proto::PutBlockRequest* request,
                                      proto::PutBlockReply*) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->block_id())) return Invalid("block without an id");
  absl::Status s = blocks_->Put(request->block_id(), request->data());
  if (!s.ok()) return rpc::ToGrpc(s);
  CountBlock(request->block_id(), static_cast<int64_t>(request->data().size()));
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::GetBlock(grpc::ServerContext* context,
                                      const proto::GetBlockRequest* request,
                                      proto::GetBlockReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->block_id())) return Invalid("block without an id");
  auto bytes = blocks_->Get(request->block_id());
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) return grpc::Status::OK;  // found = false
    return rpc::ToGrpc(bytes.status());
  }
  reply->set_found(true);
  reply->set_data(**bytes);
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::RemoveBlocks(grpc::ServerContext* context,
                                          const proto::RemoveBlocksRequest* request,
                                          proto::RemoveBlocksReply*) {
  EMBER_CHECK_SECRET(context);
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
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->app_id())) return Invalid("cleanup without an application id");
  if (request->app_ended()) {
    DropApp(request->app_id());
    return grpc::Status::OK;
  }
  std::shared_ptr<App> app = FindApp(request->app_id());
  if (app == nullptr) return grpc::Status::OK;
  for (int id : request->shuffle_ids()) app->shuffles.RemoveShuffle(id);
  if (request->clear_cache()) app->cache.Clear();
  if (!request->state_run().empty()) app->states.RemoveOtherRuns(request->state_run() + "/");
  return grpc::Status::OK;
}

// ---------------------------------------------------------------------------- receivers

grpc::Status ExecutorServer::StartReceiver(grpc::ServerContext* context,
                                           const proto::StartReceiverRequest* request,
                                           proto::StartReceiverReply* reply) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->app_id()) || request->stream_id() < 0 || request->incarnation() <= 0 ||
      request->block_interval_ms() <= 0 || request->restart_delay_ms() < 0 ||
      request->factory().key().empty()) {
    return Invalid("malformed receiver start");
  }
  auto fail = [reply](const absl::Status& s) { return FailInReply(s, reply); };
  auto app = LoadedApp(request->app_id());
  if (!app.ok()) return fail(app.status());
  auto receiver = CreateReceiver(*(*app)->resolver, request->factory());
  if (!receiver.ok()) return fail(receiver.status());
  absl::Status started = receivers_->Start(*request, std::move(*receiver));
  if (!started.ok()) return fail(started);
  return grpc::Status::OK;
}

grpc::Status ExecutorServer::StopReceiver(grpc::ServerContext* context,
                                          const proto::StopReceiverRequest* request,
                                          proto::StopReceiverReply*) {
  EMBER_CHECK_SECRET(context);
  if (!ValidId(request->app_id()) || request->stream_id() < 0) {
    return Invalid("malformed receiver stop");
  }
  receivers_->Stop(request->app_id(), request->stream_id(), request->incarnation(),
                   request->reason().empty() ? "stopped by the driver" : request->reason());
  return grpc::Status::OK;
}

#undef EMBER_CHECK_SECRET

}  // namespace internal
}  // namespace ember
