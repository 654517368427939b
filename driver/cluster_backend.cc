#include "driver/cluster_backend.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "common/streaming_context.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/context_core.h"
#include "util/task_status.h"

namespace ember {
namespace internal {

namespace {

constexpr int kMaxReceiverPlacementFailures = 10;

void CollectBlockLocations(const proto::ComputeNode& node, std::vector<std::string>* out) {
  if (node.has_block()) {
    for (const auto& where : node.block().locations()) out->push_back(where);
  } else if (node.has_narrow()) {
    for (const auto& input : node.narrow().inputs()) CollectBlockLocations(input, out);
  }
}

// The state partition a task reads or updates, if any.
const proto::StateInput* FindState(const proto::ComputeNode& node) {
  if (node.has_state()) return &node.state();
  if (!node.has_narrow()) return nullptr;
  for (const auto& input : node.narrow().inputs()) {
    if (const proto::StateInput* found = FindState(input)) return found;
  }
  return nullptr;
}

absl::Duration FromMs(int64_t ms) { return absl::Milliseconds(ms); }

}  // namespace

AppServices::AppServices(Options options, ContextCore* ctx)
    : options_(std::move(options)),
      constructing_(ctx),
      next_incarnation_(options_.incarnation_base) {}

void AppServices::Attach() {
  absl::MutexLock lock(&ctx_mu_);
  ctx_ = constructing_;
  constructing_ = nullptr;
  // A kill that came while the context was being built stops it now; its start then fails.
  if (ctx_ != nullptr && stop_requested_) ctx_->Stop(stop_graceful_);
}

AppServices::~AppServices() { Detach(); }

void AppServices::Init() {
  std::weak_ptr<AppServices> weak = weak_from_this();
  listener_ =
      options_.executors->AddLossListener([weak](const ExecutorPtr& e, const std::string& reason) {
        if (auto self = weak.lock()) self->OnExecutorLost(e, reason);
      });
  health_listener_ = options_.executors->AddHealthListener(
      [weak](const ExecutorPtr& e, const std::string& unhealthy) {
        if (auto self = weak.lock()) self->OnExecutorHealth(e, unhealthy);
      });
}

void AppServices::Detach() {
  StopReceivers();
  {
    absl::MutexLock lock(&ctx_mu_);
    ctx_ = nullptr;
    constructing_ = nullptr;
  }
  if (listener_ != 0) {
    options_.executors->RemoveLossListener(listener_);
    listener_ = 0;
  }
  if (health_listener_ != 0) {
    options_.executors->RemoveHealthListener(health_listener_);
    health_listener_ = 0;
  }
}

// ------------------------------------------------------------------------------- tasks

void AppServices::AddMapLocations(proto::ComputeNode* node) {
  if (node->has_shuffle()) {
    for (auto& ref : *node->mutable_shuffle()->mutable_shuffles()) {
      ref.clear_map_locations();
      auto it = map_outputs_.find(ref.shuffle_id());
      for (int m = 0; m < ref.num_maps(); ++m) {
        bool known = it != map_outputs_.end() && m < static_cast<int>(it->second.size());
        ref.add_map_locations(known ? it->second[m] : "");
      }
    }
  } else if (node->has_narrow()) {
    for (auto& input : *node->mutable_narrow()->mutable_inputs()) AddMapLocations(&input);
  } else if (node->has_state()) {
    auto* state = node->mutable_state();
    if (state->has_values()) AddMapLocations(state->mutable_values());
    if (state->has_seed()) AddMapLocations(state->mutable_seed());
  }
}

std::vector<absl::StatusOr<proto::TaskResult>> AppServices::RunTasks(
    const std::vector<proto::TaskSpec>& tasks) {
  std::vector<absl::StatusOr<proto::TaskResult>> results(tasks.size(),
                                                         absl::UnknownError("not run"));
  if (tasks.size() == 1) {
    results[0] = RunOne(tasks[0]);
    return results;
  }
  // One thread per task: each waits for a slot, then for its executor's reply.
  std::vector<std::thread> threads;
  threads.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    threads.emplace_back([this, &tasks, &results, i] { results[i] = RunOne(tasks[i]); });
  }
  for (auto& t : threads) t.join();
  return results;
}

absl::StatusOr<proto::TaskResult> AppServices::RunOne(const proto::TaskSpec& task) {
  // An executor a call cannot reach is not lost for that: a partition may heal within the
  // heartbeat timeout, which alone decides. The task goes to another executor (the registry
  // avoids this one meanwhile) or, needing this one, is tried again with backoff, until the
  // executor answers or is declared lost, or has been unreachable for the whole timeout (then
  // it is declared lost here: its heartbeats may pass where calls do not).
  std::map<std::string, absl::Time> unreachable_since;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    ExecutorPtr e;
    bool unreachable = false;
    absl::StatusOr<proto::TaskResult> result = RunAttempt(task, &e, &unreachable);
    if (!unreachable || stopping_) return result;
    absl::Time now = absl::Now();
    absl::Time since = unreachable_since.emplace(e->id, now).first->second;
    if (now - since >= options_.executors->heartbeat_timeout()) {
      options_.executors->Unreachable(
          e->id, absl::StrCat("unreachable for ", absl::FormatDuration(now - since), ": ",
                              result.status().message()));
      return result;  // the scheduler runs it again elsewhere
    }
    VLOG(1) << "task " << task.partition() << " of stage " << task.stage_id()
            << ": trying again after " << result.status().message();
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::StatusOr<proto::TaskResult> AppServices::RunAttempt(proto::TaskSpec task, ExecutorPtr* used,
                                                          bool* unreachable) {
  std::vector<std::string> preferred;
  CollectBlockLocations(task.root(), &preferred);
  // A state partition is updated where it is kept; one that is seeded may go anywhere.
  std::string state_slot, owner;
  bool needs_owner = false, updates_state = false;
  if (const proto::StateInput* st = FindState(task.root())) {
    state_slot = absl::StrCat(st->state_key(), "/", st->partition());
    updates_state = st->mode() == proto::StateInput::UPDATE;
    needs_owner = !updates_state || (!st->has_seed() && st->prev_ms() >= 0);
  }
  {
    absl::MutexLock lock(&mu_);
    AddMapLocations(task.mutable_root());
    if (!state_slot.empty()) {
      auto it = state_owners_.find(state_slot);
      if (it != state_owners_.end()) owner = it->second;
    }
  }
  if (!owner.empty()) preferred.insert(preferred.begin(), owner);
  if (needs_owner && owner.empty()) {
    return StateLostStatus("state lost: no executor holds state partition " + state_slot);
  }
  ExecutorPtr e = options_.executors->AcquireSlot(
      preferred, options_.slot_wait, [this] { return stopping_.load(); }, needs_owner);
  if (e == nullptr) {
    if (stopping_) return absl::CancelledError("the application is being stopped");
    if (needs_owner) {
      return StateLostStatus(absl::StrCat(
          "state lost: state partition ", state_slot, " was on executor ", owner,
          ", which is gone (or had no free slot for ", absl::FormatDuration(options_.slot_wait),
          "); the state is rebuilt elsewhere"));
    }
    return absl::UnavailableError(absl::StrCat("no executor had a free task slot for ",
                                               absl::FormatDuration(options_.slot_wait),
                                               " (are executors registered with this driver?)"));
  }
  // Not rpc::Call: the executor registry cancels the context when the executor is lost.
  grpc::ClientContext call;
  rpc::Prepare(&call, {options_.executors->secret(), rpc::Deadline::kUnbounded});
  if (!options_.executors->BeginCall(e, &call)) {
    options_.executors->ReleaseSlot(e);
    return absl::UnavailableError("executor " + e->id + " was lost before the task started");
  }
  bool writes_shuffle = task.has_shuffle_write();
  int shuffle_id = task.shuffle_write().shuffle_id();
  int map_id = task.shuffle_write().map_id();
  proto::RunTaskRequest request;
  request.set_app_id(options_.app_id);
  *request.mutable_task() = std::move(task);
  proto::RunTaskReply reply;
  grpc::Status status = e->stub->RunTask(&call, request, &reply);
  options_.executors->EndCall(e, &call);
  options_.executors->ReleaseSlot(e);
  *used = e;
  if (!status.ok()) {
    std::string why = status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && options_.executors->IsAlive(e)) {
      options_.executors->CallFailed(e);
      *unreachable = true;
    }
    return absl::UnavailableError(
        absl::StrCat("task lost with executor ", e->id, " (", e->address, "): ", why));
  }
  options_.executors->CallSucceeded(e);
  if (reply.error_code() != 0) {
    std::string message = absl::StrCat(reply.error(), " [on executor ", e->id, "]");
    if (reply.failure() == proto::TASK_FAILURE_STATE_LOST) return StateLostStatus(message);
    return absl::Status(static_cast<absl::StatusCode>(reply.error_code()), message);
  }
  if (updates_state) {
    absl::MutexLock lock(&mu_);
    state_owners_[state_slot] = e->address;
  }
  if (writes_shuffle) {
    absl::MutexLock lock(&mu_);
    auto& where = map_outputs_[shuffle_id];
    if (static_cast<int>(where.size()) <= map_id) where.resize(map_id + 1);
    where[map_id] = e->address;
  }
  return std::move(*reply.mutable_result());
}

std::vector<ExecutorPtr> AppServices::Targets() const { return options_.executors->Alive(); }

void AppServices::RemoveBlocks(std::vector<std::string> ids) {
  proto::RemoveBlocksRequest request;
  for (auto& id : ids) request.add_block_ids(std::move(id));
  for (const auto& e : Targets()) {
    proto::RemoveBlocksReply reply;
    grpc::Status s = rpc::Call(*e->stub, &proto::Executor::Stub::RemoveBlocks, request, &reply,
                               {options_.executors->secret(), rpc::Deadline::kControl});
    if (!s.ok()) VLOG(1) << "RemoveBlocks on " << e->id << ": " << s.error_message();
  }
}

void AppServices::ReleaseShuffle(int shuffle_id) {
  absl::MutexLock lock(&mu_);
  released_shuffles_.push_back(shuffle_id);
  map_outputs_.erase(shuffle_id);
}

void AppServices::EndBatchCleanup(const std::string& state_run, int64_t blocks_before_ms) {
  proto::CleanupRequest request;
  request.set_app_id(options_.app_id);
  request.set_clear_cache(true);
  request.set_state_run(state_run);
  request.set_blocks_before_ms(blocks_before_ms);
  {
    absl::MutexLock lock(&mu_);
    for (int id : released_shuffles_) request.add_shuffle_ids(id);
    released_shuffles_.clear();
  }
  for (const auto& e : Targets()) {
    proto::CleanupReply reply;
    grpc::Status s = rpc::Call(*e->stub, &proto::Executor::Stub::Cleanup, request, &reply,
                               {options_.executors->secret(), rpc::Deadline::kControl});
    if (!s.ok()) VLOG(1) << "Cleanup on " << e->id << ": " << s.error_message();
  }
}

// --------------------------------------------------------------------------- receivers

absl::Status AppServices::StartReceivers(const std::vector<proto::OpSpec>& factories,
                                         ReceiverTracker* tracker,
                                         const ReceiverSettings& settings) {
  {
    absl::MutexLock lock(&mu_);
    if (receivers_running_) return absl::FailedPreconditionError("receivers already started");
    tracker_ = tracker;
    settings_ = settings;
    for (size_t id = 0; id < factories.size(); ++id) {
      Receiver& r = receivers_[static_cast<int>(id)];
      r.factory = factories[id];
      r.rate = settings.initial_rate;
    }
    receivers_running_ = true;
  }
  keeper_ = std::thread([this] { KeeperLoop(); });
  return absl::OkStatus();
}

void AppServices::KeeperLoop() {
  while (true) {
    MoveReceivers();
    std::vector<int> to_place;
    {
      absl::MutexLock lock(&mu_);
      if (!receivers_running_) return;
      absl::Time now = absl::Now();
      for (auto& [id, r] : receivers_) {
        if (r.executor == nullptr && !r.given_up && r.next_try <= now) to_place.push_back(id);
      }
    }
    for (int id : to_place) PlaceOne(id);
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return keeper_wake_ || !receivers_running_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&woken), absl::Milliseconds(100));
    keeper_wake_ = false;
  }
}

bool AppServices::PlaceOne(int stream_id) {
  proto::StartReceiverRequest request;
  ExecutorPtr e;
  {
    absl::MutexLock lock(&mu_);
    Receiver& r = receivers_[stream_id];
    e = options_.executors->PlaceReceiver("");
    if (e == nullptr) {
      r.next_try = absl::Now() + absl::Milliseconds(200);
      return false;
    }
    r.incarnation = ++next_incarnation_;
    request.set_app_id(options_.app_id);
    request.set_stream_id(stream_id);
    request.set_incarnation(r.incarnation);
    *request.mutable_factory() = r.factory;
    request.set_block_interval_ms(settings_.block_interval_ms);
    request.set_batch_interval_ms(settings_.batch_interval_ms);
    request.set_restart_delay_ms(settings_.restart_delay_ms);
    request.set_replication(options_.replication);
    request.set_wal_dir(settings_.wal_dir);
    request.set_max_rate(settings_.max_rate);
    request.set_max_buffered_bytes(settings_.max_buffered_bytes);
    request.set_rate(r.rate);
    for (const auto& other : options_.executors->Alive()) {
      if (other == e) continue;
      auto* peer = request.add_peers();
      peer->set_executor_id(other->id);
      peer->set_address(other->address);
    }
  }
  grpc::ClientContext call;
  rpc::Prepare(&call, {options_.executors->secret(), rpc::Deadline::kReceiver});
  proto::StartReceiverReply reply;
  grpc::Status s;
  if (options_.executors->BeginCall(e, &call)) {
    s = e->stub->StartReceiver(&call, request, &reply);
    options_.executors->EndCall(e, &call);
  } else {
    s = grpc::Status(grpc::StatusCode::UNAVAILABLE, "executor lost");
  }
  std::string error;
  bool unreachable = false;
  if (!s.ok()) {
    error = "cannot start receiver on executor " + e->id + ": " + s.error_message();
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // Not lost for that (the heartbeat timeout decides): the next try goes elsewhere.
      options_.executors->CallFailed(e);
      unreachable = true;
    }
  } else if (reply.error_code() != 0) {
    error = "receiver could not start on executor " + e->id + ": " + reply.error();
    if (reply.error_code() == static_cast<int>(absl::StatusCode::kUnavailable)) {
      // It cannot store blocks now: the next try goes elsewhere.
      options_.executors->CallFailed(e);
      unreachable = true;
    }
  }
  absl::MutexLock lock(&mu_);
  Receiver& r = receivers_[stream_id];
  bool current = r.incarnation == request.incarnation() && receivers_running_;
  if (error.empty() && current && options_.executors->IsAlive(e)) {
    r.executor = e;
    r.failures = 0;
    LOG(INFO) << "app " << options_.app_id << ": receiver for stream " << stream_id
              << " placed on executor " << e->id << " (" << e->address << ")";
    if (r.rate != request.rate()) {
      // Backpressure's estimate changed while the receiver was starting.
      double rate = r.rate;
      mu_.Unlock();
      UpdateReceiverRate(stream_id, rate);
      mu_.Lock();
    }
    return true;
  }
  options_.executors->ReleaseReceiver(e);
  if (error.empty()) {
    // Started, but the stream was stopped or the executor lost meanwhile: undo.
    if (!current) {
      mu_.Unlock();
      StopReceiverOn(e, stream_id, request.incarnation(), "superseded").IgnoreError();
      mu_.Lock();
    }
    return false;
  }
  LOG(WARNING) << "app " << options_.app_id << ": " << error;
  if (unreachable) {
    r.next_try = absl::Now() + absl::Milliseconds(200);
    if (tracker_ != nullptr) tracker_->OnEvent(stream_id, proto::RECEIVER_ERROR, error);
    return false;
  }
  ++r.failures;
  r.next_try = absl::Now() + FromMs(std::max<int64_t>(200, settings_.restart_delay_ms));
  if (tracker_ != nullptr) tracker_->OnEvent(stream_id, proto::RECEIVER_ERROR, error);
  if (r.failures >= kMaxReceiverPlacementFailures) {
    r.given_up = true;
    if (tracker_ != nullptr) {
      tracker_->OnEvent(stream_id, proto::RECEIVER_STOPPED,
                        absl::StrCat("gave up after ", r.failures, " failed starts"));
    }
  }
  return false;
}

void AppServices::UpdateReceiverRate(int stream_id, double rate) {
  proto::UpdateReceiverRateRequest request;
  ExecutorPtr e;
  {
    absl::MutexLock lock(&mu_);
    auto it = receivers_.find(stream_id);
    if (it == receivers_.end()) return;
    it->second.rate = rate;  // a receiver placed later starts at it
    e = it->second.executor;
    request.set_incarnation(it->second.incarnation);
  }
  if (e == nullptr) return;
  request.set_app_id(options_.app_id);
  request.set_stream_id(stream_id);
  request.set_rate(rate);
  proto::UpdateReceiverRateReply reply;
  grpc::Status s = rpc::Call(*e->stub, &proto::Executor::Stub::UpdateReceiverRate, request, &reply,
                             {options_.executors->secret(), rpc::Deadline::kControl});
  if (!s.ok()) VLOG(1) << "rate update for receiver " << stream_id << ": " << s.error_message();
}

void AppServices::OnExecutorLost(const ExecutorPtr& e, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, r] : receivers_) {
    if (r.executor != e) continue;
    r.executor = nullptr;
    r.next_try = absl::Now();
    if (tracker_ != nullptr && receivers_running_) {
      std::string message = "executor " + e->id + " (" + e->address + ") lost: " + reason;
      tracker_->OnEvent(id, proto::RECEIVER_ERROR, message, e->id);
      tracker_->OnEvent(id, proto::RECEIVER_STOPPED, message, e->id);
    }
  }
  keeper_wake_ = true;
}

grpc::Status AppServices::StopReceiverOn(const ExecutorPtr& e, int stream_id, int64_t incarnation,
                                         const std::string& reason) {
  proto::StopReceiverRequest request;
  request.set_app_id(options_.app_id);
  request.set_stream_id(stream_id);
  request.set_incarnation(incarnation);
  request.set_reason(reason);
  proto::StopReceiverReply reply;
  return rpc::Call(*e->stub, &proto::Executor::Stub::StopReceiver, request, &reply,
                   {options_.executors->secret(), rpc::Deadline::kReceiver});
}

void AppServices::OnExecutorHealth(const ExecutorPtr& e, const std::string& unhealthy) {
  if (unhealthy.empty()) return;
  absl::MutexLock lock(&mu_);
  for (auto& [id, r] : receivers_) {
    if (r.executor == e) {
      r.move = unhealthy;
      keeper_wake_ = true;
    }
  }
}

void AppServices::MoveReceivers() {
  struct Move {
    int stream_id;
    int64_t incarnation;
    ExecutorPtr from;
    std::string why;
  };
  std::vector<Move> moves;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, r] : receivers_) {
      if (r.move.empty()) continue;
      if (r.executor != nullptr) moves.push_back({id, r.incarnation, r.executor, r.move});
      r.move.clear();
    }
  }
  for (const auto& m : moves) {
    std::string message = "executor " + m.from->id + " (" + m.from->address +
                          ") cannot store blocks: " + m.why + "; the receiver moves";
    LOG(WARNING) << "app " << options_.app_id << ": stream " << m.stream_id << ": " << message;
    // Stopped first, under its incarnation: its last block, reported while it stops, counts.
    grpc::Status s = StopReceiverOn(m.from, m.stream_id, m.incarnation, message);
    if (!s.ok()) VLOG(1) << "stopping receiver " << m.stream_id << ": " << s.error_message();
    absl::MutexLock lock(&mu_);
    Receiver& r = receivers_[m.stream_id];
    if (r.incarnation != m.incarnation || r.executor != m.from) continue;
    options_.executors->ReleaseReceiver(r.executor);
    r.executor = nullptr;
    r.next_try = absl::Now();
    if (tracker_ != nullptr)
      tracker_->OnEvent(m.stream_id, proto::RECEIVER_ERROR, message, m.from->id);
  }
}

int64_t AppServices::OnBlock(const proto::ReportBlockRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(request.block().stream_id());
  if (tracker_ == nullptr || it == receivers_.end() ||
      it->second.incarnation != request.incarnation()) {
    return 0;  // a stale receiver (its executor was declared lost) or a stopped stream
  }
  ReceivedBlock b;
  b.stream_id = request.block().stream_id();
  b.block_id = request.block().block_id();
  b.records = request.block().records();
  b.time = Time(request.block().time_ms());
  for (const auto& where : request.block().locations()) b.locations.push_back(where);
  b.wal_path = request.block().wal_path();
  return tracker_->OnBlock(b);
}

void AppServices::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(request.stream_id());
  if (tracker_ == nullptr || it == receivers_.end() ||
      it->second.incarnation != request.incarnation()) {
    return;
  }
  std::string message = request.message();
  if (!request.executor_id().empty() && request.event() != proto::RECEIVER_STARTED) {
    message += " [on executor " + request.executor_id() + "]";
  }
  tracker_->OnEvent(request.stream_id(), request.event(), message, request.executor_id());
  Receiver& r = it->second;
  if (request.process_died() && r.executor != nullptr) {
    // Its task process died with it: placed again (the executor starts a new process) after
    // the restart delay, as a receiver that asked for a restart.
    tracker_->OnEvent(request.stream_id(), proto::RECEIVER_STOPPED, message, request.executor_id());
    options_.executors->ReleaseReceiver(r.executor);
    r.executor = nullptr;
    r.next_try = absl::Now() + FromMs(settings_.restart_delay_ms);
    keeper_wake_ = true;
  }
}

void AppServices::StopReceivers() {
  std::vector<std::pair<int, Receiver>> placed;
  {
    absl::MutexLock lock(&mu_);
    if (!receivers_running_ && !keeper_.joinable()) return;
    receivers_running_ = false;
    for (const auto& [id, r] : receivers_) {
      if (r.executor != nullptr) placed.emplace_back(id, r);
    }
  }
  if (keeper_.joinable()) keeper_.join();
  // Their last blocks come back through OnBlock while these calls wait.
  for (auto& [id, r] : placed) {
    grpc::Status s = StopReceiverOn(r.executor, id, r.incarnation, "streaming context stopped");
    if (!s.ok()) {
      LOG(WARNING) << "app " << options_.app_id << ": stopping receiver " << id << " on "
                   << r.executor->id << ": " << s.error_message();
    }
    options_.executors->ReleaseReceiver(r.executor);
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, r] : receivers_) r.executor = nullptr;
  tracker_ = nullptr;
}

bool AppServices::ContextActive() {
  absl::MutexLock lock(&ctx_mu_);
  return ctx_ != nullptr && ctx_->state() == StreamingContextState::ACTIVE;
}

// ------------------------------------------------------------------------- job control

void AppServices::StopContext(bool graceful) {
  // A graceful stop still runs batches: their tasks must not give up waiting for slots.
  if (!graceful) stopping_ = true;
  absl::MutexLock lock(&ctx_mu_);
  stop_requested_ = true;
  stop_graceful_ = graceful;
  if (ctx_ != nullptr) ctx_->Stop(graceful);
}

}  // namespace internal
}  // namespace ember
