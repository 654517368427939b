#include "executor/app_host.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/receiver_supervisor.h"
#include "runtime/task_runner.h"
#include "util/task_status.h"

namespace ember {
namespace internal {

void FailInReply(const absl::Status& s, proto::RunTaskReply* reply) {
  reply->set_error_code(static_cast<int>(s.code()));
  reply->set_error(std::string(s.message()));
  if (IsStateLost(s)) reply->set_failure(proto::TASK_FAILURE_STATE_LOST);
}

absl::StatusOr<std::unique_ptr<AppHost>> AppHost::Create(Options options) {
  auto plugin = LoadPlugin(options.plugin_path);
  if (!plugin.ok()) return plugin.status();
  LOG(INFO) << "loaded the plugin of " << options.app_id << " (Ember " << (*plugin)->version()
            << ")";
  return std::unique_ptr<AppHost>(new AppHost(std::move(options), std::move(*plugin)));
}

AppHost::AppHost(Options options, std::shared_ptr<LoadedPlugin> plugin)
    : options_(std::move(options)),
      plugin_(std::move(plugin)),
      resolver_(plugin_->registry()),
      receivers_([this] {
        ReceiverHost::Options r = options_.receivers;
        r.app_id = options_.app_id;
        return r;
      }()) {}

AppHost::~AppHost() { receivers_.Shutdown(); }

// -------------------------------------------------------------------------------- tasks

absl::StatusOr<std::shared_ptr<const std::string>> AppHost::FetchBlock(
    const proto::BlockInput& block) {
  std::vector<std::string> tried;
  for (const std::string& where : block.locations()) {
    if (where == options_.self) continue;
    proto::GetBlockRequest request;
    request.set_block_id(block.block_id());
    proto::GetBlockReply reply;
    grpc::Status s = rpc::Call(*options_.peers->Stub(where), &proto::Executor::Stub::GetBlock,
                               request, &reply, {options_.secret, rpc::Deadline::kPeerBlock});
    if (s.ok() && reply.found()) {
      return std::make_shared<const std::string>(std::move(*reply.mutable_data()));
    }
    tried.push_back(where + (s.ok() ? " (not there)" : " (" + s.error_message() + ")"));
  }
  return absl::NotFoundError(
      absl::StrCat("block ", block.block_id(), " is on no live executor; tried here and ",
                   tried.empty() ? "nowhere else" : absl::StrJoin(tried, ", ")));
}

// Tries of a shuffle fetch that fails on the way before its map outputs count as missing.
constexpr int kShuffleFetchTries = 4;

absl::StatusOr<std::vector<std::string>> AppHost::FetchShuffleBuckets(const proto::ShuffleRef& ref,
                                                                      int reduce_id) {
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
    std::string where = located ? ref.map_locations(m) : options_.self;
    if (where.empty()) return missing(m, "its location is unknown");
    if (where != options_.self) {
      remote[where].push_back(m);
      continue;
    }
    auto b = shuffles_.Get(ref.shuffle_id(), m);
    if (b == nullptr || reduce_id >= static_cast<int>(b->size())) {
      return missing(m, "not on this executor");
    }
    buckets[static_cast<size_t>(m)] = (*b)[static_cast<size_t>(reduce_id)];
  }
  for (const auto& [where, maps] : remote) {
    proto::FetchShuffleRequest request;
    request.set_app_id(options_.app_id);
    request.set_shuffle_id(ref.shuffle_id());
    request.set_reduce_id(reduce_id);
    for (int m : maps) request.add_map_ids(m);
    // A fetch that fails on the way (a lost connection) is tried again, as Spark's
    // spark.shuffle.io.maxRetries: recomputing the map outputs costs a whole stage. An output
    // the executor says it no longer has is missing at once.
    absl::Duration backoff = absl::Milliseconds(100);
    for (int attempt = 1;; ++attempt) {
      for (int m : maps) buckets[static_cast<size_t>(m)].clear();
      grpc::ClientContext call;
      rpc::Prepare(&call, {options_.secret, rpc::Deadline::kTransfer});
      auto reader = options_.peers->Stub(where)->FetchShuffle(&call, request);
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
      int incomplete = -1;
      for (int m : maps) {
        if (!complete.count(m)) {
          incomplete = m;
          break;
        }
      }
      if (incomplete < 0) break;
      if (attempt >= kShuffleFetchTries) {
        return missing(incomplete,
                       absl::StrCat("executor ", where, " unreachable after ", attempt,
                                    " tries: ", s.ok() ? "stream ended early" : s.error_message()));
      }
      absl::SleepFor(backoff);
      backoff *= 2;
    }
  }
  return buckets;
}

absl::StatusOr<proto::TaskResult> AppHost::RunTask(const proto::TaskSpec& task) {
  TaskEnv env;
  env.ops = &resolver_;
  env.blocks = options_.local_blocks;
  env.shuffles = &shuffles_;
  env.cache = &cache_;
  env.states = &states_;
  env.fetch_block = [this](const proto::BlockInput& b) { return FetchBlock(b); };
  env.fetch_shuffle = [this](const proto::ShuffleRef& ref, int reduce_id) {
    return FetchShuffleBuckets(ref, reduce_id);
  };
  return ember::internal::RunTask(task, env);
}

void AppHost::WriteShuffle(const proto::FetchShuffleRequest& request,
                           const std::function<bool(const proto::ShuffleChunk&)>& write) {
  for (int m : request.map_ids()) {
    proto::ShuffleChunk chunk;
    chunk.set_map_id(m);
    ShuffleStore::Buckets b = shuffles_.Get(request.shuffle_id(), m);
    if (b == nullptr || request.reduce_id() >= static_cast<int>(b->size())) {
      chunk.set_missing(true);
      if (!write(chunk)) return;
      continue;
    }
    const std::string& bucket = (*b)[static_cast<size_t>(request.reduce_id())];
    size_t at = 0;
    do {
      size_t n = std::min(rpc::kChunkBytes, bucket.size() - at);
      chunk.set_data(bucket.substr(at, n));
      at += n;
      chunk.set_last(at >= bucket.size());
      if (!write(chunk)) return;
    } while (at < bucket.size());
  }
}

void AppHost::Cleanup(const proto::CleanupRequest& request) {
  for (int id : request.shuffle_ids()) shuffles_.RemoveShuffle(id);
  if (request.clear_cache()) cache_.Clear();
  if (!request.state_run().empty()) states_.RemoveOtherRuns(request.state_run() + "/");
}

// ---------------------------------------------------------------------------- receivers

absl::Status AppHost::StartReceiver(const proto::StartReceiverRequest& request) {
  auto receiver = CreateReceiver(resolver_, request.factory());
  if (!receiver.ok()) return receiver.status();
  return receivers_.Start(request, std::move(*receiver));
}

void AppHost::StopReceiver(const proto::StopReceiverRequest& request) {
  receivers_.Stop(request.stream_id(), request.incarnation(),
                  request.reason().empty() ? "stopped by the driver" : request.reason());
}

void AppHost::StopReceivers(const std::string& reason) { receivers_.StopAll(reason); }

void AppHost::UpdateReceiverRate(const proto::UpdateReceiverRateRequest& request) {
  receivers_.SetRate(request.stream_id(), request.incarnation(), request.rate());
}

}  // namespace internal
}  // namespace ember
