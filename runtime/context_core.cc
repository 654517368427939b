#include "runtime/context_core.h"

#include <glog/logging.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/streaming_context.h"
#include "runtime/checkpoint_store.h"
#include "runtime/kafka_stream.h"
#include "runtime/local_backend.h"
#include "runtime/runtime_hooks.h"
#include "util/log_level.h"
#include "util/rate_limiter.h"
#include "util/task_status.h"

namespace ember {
namespace internal {

namespace {

thread_local Time current_batch_time;

absl::Mutex default_sink_mu(absl::kConstInit);
OutputSink& DefaultSink() {
  static auto* sink =
      new OutputSink([](const std::string& text) { std::cout << text << std::flush; });
  return *sink;
}

// Counts a result op's records: the partition's size (no typed code needed).
class PartitionSizeOp : public OpBase<PartitionSizeOp, ResultOp> {
 public:
  std::string Run(const Partition& input, const TaskInfo&) const override {
    return EncodeToString(static_cast<uint64_t>(input.size));
  }
  void SaveClosure(Writer&) const override {}
  static std::unique_ptr<Op> Load(Reader&) { return std::make_unique<PartitionSizeOp>(); }
};

// Every stream reachable from the outputs, each once.
void CollectStreams(const StreamRef& s, std::set<StreamNode*>* seen,
                    std::vector<StreamNode*>* out) {
  if (!seen->insert(s.get()).second) return;
  out->push_back(s.get());
  for (const auto& p : s->parents()) CollectStreams(p, seen, out);
}

}  // namespace

namespace {
thread_local ClusterServicesFactory cluster_services_factory;
absl::Mutex live_mu(absl::kConstInit);
std::set<ContextCore*>& LiveContexts() {
  static auto* live = new std::set<ContextCore*>();
  return *live;
}
}  // namespace

void SetThreadClusterServicesFactory(ClusterServicesFactory factory) {
  cluster_services_factory = std::move(factory);
}
const ClusterServicesFactory& ThreadClusterServicesFactory() { return cluster_services_factory; }

void SetDefaultOutputSink(OutputSink sink) {
  absl::MutexLock lock(&default_sink_mu);
  DefaultSink() = std::move(sink);
}

std::shared_ptr<const ResultOp> CountResultOp() { return std::make_shared<PartitionSizeOp>(); }

int DefaultParallelism(ContextCore* ctx) { return ctx->DefaultParallelism(); }
std::string NewStateKey(ContextCore* ctx) { return ctx->NewStateKey(); }

int DefaultShufflePartitions(const std::vector<RddRef>& parents) {
  int most = 0;
  ContextCore* ctx = nullptr;
  for (const auto& p : parents) {
    if (p == nullptr) continue;
    most = std::max(most, p->num_partitions());
    ctx = p->ctx();
  }
  if (ctx != nullptr && ctx->conf().contains("ember.default.parallelism")) {
    return ctx->DefaultParallelism();
  }
  return std::max(1, most);
}

std::vector<std::string> RunJob(const RddRef& rdd, std::shared_ptr<const ResultOp> op,
                                const std::vector<int>& partitions) {
  return rdd->ctx()->RunJob(rdd, *op, partitions);
}

ContextCore::ContextCore(Conf conf, Duration batch_interval, std::shared_ptr<Clock> clock)
    : conf_(std::move(conf)),
      batch_interval_(batch_interval),
      clock_(clock != nullptr ? std::move(clock) : std::make_shared<SystemClock>()),
      resolver_(CurrentPluginRegistry()),
      run_id_(
          absl::StrCat(absl::Hex(std::random_device()()), absl::Hex(absl::GetCurrentTimeNanos()))) {
  if (batch_interval_.milliseconds() <= 0) {
    throw EmberError("the batch interval must be positive, not " + batch_interval_.toString());
  }
  if (auto level = conf_.getOption("ember.log.level")) {
    absl::Status s = SetLogLevel(*level);
    if (!s.ok()) throw EmberError("ember.log.level: " + std::string(s.message()));
  }
  bool cluster_master = conf_.master().rfind("ember://", 0) == 0;
  int slots = 1;
  if (cluster_master && ThreadClusterServicesFactory()) {
    services_ = ThreadClusterServicesFactory()(this, conf_);
    max_failures_ = static_cast<int>(conf_.getInt("ember.task.maxFailures", 4));
    if (max_failures_ <= 0) throw EmberError("ember.task.maxFailures must be positive");
    slots = std::max(2, services_->TotalSlots());
  } else if (cluster_master) {
    throw EmberError("master '" + conf_.master() +
                     "' is a cluster: submit the job to it with `ember-submit --master " +
                     conf_.master() + " libjob.so`");
  } else if (!ParseLocalMaster(conf_.master(), &slots, &max_failures_)) {
    throw EmberError("master '" + conf_.master() +
                     "' cannot run in this process: use local, local[N], local[*] or "
                     "local[N,F] here, and `ember-submit --master ember://HOST:PORT` for a "
                     "cluster");
  }
  default_parallelism_ = static_cast<int>(conf_.getInt("ember.default.parallelism", slots));
  if (default_parallelism_ <= 0) throw EmberError("ember.default.parallelism must be positive");
  if (services_ == nullptr) {
    LocalServices::Options local;
    local.master = conf_.master();
    local.slots = slots;
    local.ops = &resolver_;
    local.clock = clock_.get();
    {
      absl::MutexLock lock(&default_sink_mu);
      local.sink = DefaultSink();
    }
    services_ = std::make_shared<LocalServices>(std::move(local));
  }
  std::weak_ptr<ContextServices> services = services_;
  sink_ = [services](const std::string& text) {
    if (auto s = services.lock()) s->Emit(text);
  };
  bus_ = std::make_unique<ListenerBus>();
  std::string app_id = conf_.get("ember.app.id", "local-" + std::to_string(clock_->NowMs()));
  progress_ = std::make_shared<StreamingProgress>(
      app_id, conf_.appName(), batch_interval_.milliseconds(),
      static_cast<size_t>(conf_.getInt("ember.streaming.ui.retainedBatches", 1000)));
  bus_->Add(progress_);
  Monitor::Global().Add(progress_);
  if (ProgressObserverFactory observe = GetProgressObserverFactory()) {
    bus_->Add(observe(app_id, conf_.appName(), batch_interval_.milliseconds(),
                      conf_.getInt("ember.streaming.ui.retainedBatches", 1000)));
  }
  ReceiverTracker::Options t;
  t.clock = clock_.get();
  t.block_interval = conf_.getDuration("ember.streaming.blockInterval", Milliseconds(200));
  if (t.block_interval.milliseconds() <= 0) {
    throw EmberError("ember.streaming.blockInterval must be positive");
  }
  t.batch_interval = batch_interval_;
  t.restart_delay_ms =
      conf_.getDuration("ember.streaming.receiverRestartDelay", Seconds(2)).milliseconds();
  t.services = services_.get();
  t.max_rate = conf_.getInt("ember.streaming.receiver.maxRate", 0);
  if (t.max_rate < 0) throw EmberError("ember.streaming.receiver.maxRate must not be negative");
  receiver_max_rate_ = t.max_rate;
  t.max_buffered_bytes =
      conf_.getSizeAsBytes("ember.streaming.receiver.maxBufferedBytes", int64_t{256} << 20);
  if (t.max_buffered_bytes < 0) {
    throw EmberError("ember.streaming.receiver.maxBufferedBytes must not be negative");
  }
  backpressure_ = conf_.getBoolean("ember.streaming.backpressure.enabled", false);
  if (backpressure_) {
    initial_rate_ =
        static_cast<double>(conf_.getInt("ember.streaming.backpressure.initialRate", 0));
    t.initial_rate = initial_rate_;
    rate_options_ = PidRateEstimator::FromConf(conf_, batch_interval_.milliseconds());
  }
  t.on_event = [this](const ReceiverStatus& status, proto::ReceiverEvent event) {
    PostReceiverEvent(status, event);
  };
  tracker_ = std::make_unique<ReceiverTracker>(t);
  dag_ = std::make_unique<DagScheduler>(services_->backend(), max_failures_);
  services_->Attach();
  absl::MutexLock lock(&live_mu);
  static uint64_t created = 0;
  creation_ = ++created;
  LiveContexts().insert(this);
}

ContextCore* NewestLiveContext() {
  absl::MutexLock lock(&live_mu);
  ContextCore* newest = nullptr;
  for (ContextCore* ctx : LiveContexts()) {
    if (newest == nullptr || ctx->creation_ > newest->creation_) newest = ctx;
  }
  return newest;
}

std::shared_ptr<void> ContextCore::Attachment(const std::string& key,
                                              const std::function<std::shared_ptr<void>()>& make) {
  absl::MutexLock lock(&mu_);
  auto& slot = attachments_[key];
  if (slot == nullptr) slot = make();
  return slot;
}

void StopAllContexts(bool graceful) {
  // Holding the lock keeps every context alive while it stops: a destructor unregisters first.
  absl::MutexLock lock(&live_mu);
  for (ContextCore* ctx : LiveContexts()) ctx->Stop(graceful);
}

ContextCore::~ContextCore() {
  {
    absl::MutexLock lock(&live_mu);
    LiveContexts().erase(this);
  }
  Stop(false);
  // Attachments (the SQL session's views) hold RDDs whose release calls into this context.
  std::map<std::string, std::shared_ptr<void>> attachments;
  {
    absl::MutexLock lock(&mu_);
    attachments.swap(attachments_);
  }
  attachments.clear();
  // From here on the services never call into this context.
  services_->Detach();
  // The job thread may still be finishing a batch that stopped the context: join it (and the
  // receivers) while everything it uses is alive; members would be destroyed before it.
  scheduler_.reset();
  tracker_.reset();
  // Outputs hold streams which hold RDDs whose shuffles call back into this object.
  // Listeners hear everything posted before the context goes.
  bus_.reset();
  absl::MutexLock lock(&mu_);
  outputs_.clear();
  file_streams_.clear();
  kafka_streams_.clear();
}

void ContextCore::CheckCanAddStreams() const {
  absl::MutexLock lock(&mu_);
  if (state_ != StreamingContextState::INITIALIZED) {
    throw EmberError(
        "adding new inputs, transformations, and output operations after starting a context "
        "is not supported");
  }
}

void ContextCore::AddOutput(StreamRef stream, std::function<void(const RddRef&, Time)> fn,
                            bool keeps_state) {
  CheckCanAddStreams();
  absl::MutexLock lock(&mu_);
  Output o;
  o.stream = std::move(stream);
  o.fn = std::move(fn);
  o.keeps_state = keeps_state;
  outputs_.push_back(std::move(o));
}

void ContextCore::NameLastOutput(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (!outputs_.empty()) outputs_.back().name = name;
}

void ContextCore::AddStatefulStream(StreamNode* stream, StatefulStream state) {
  CheckCanAddStreams();
  stream->set_label(state.kind + " of " + state.type);
  absl::MutexLock lock(&mu_);
  Duration interval = state.default_interval;
  stateful_.push_back({stream, std::move(state), interval});
}

void ContextCore::SetCheckpointInterval(StreamNode* stream, Duration interval) {
  CheckCanAddStreams();
  if (interval.milliseconds() <= 0 ||
      interval.milliseconds() % stream->slide().milliseconds() != 0) {
    throw EmberError("checkpoint interval " + interval.toString() +
                     " must be a positive multiple of the stream's slide " +
                     stream->slide().toString());
  }
  absl::MutexLock lock(&mu_);
  for (auto& s : stateful_) {
    if (s.stream == stream) s.interval = interval;
  }
}

void ContextCore::AddStreamingListener(std::shared_ptr<StreamingListener> listener) {
  if (listener == nullptr) throw EmberError("addStreamingListener: null listener");
  bus_->Add(std::move(listener));
}

void ContextCore::PostBatchEvent(const BatchInfo& info, BatchEvent event) {
  ember::BatchInfo b;
  b.batchTime = info.batch_time;
  b.numRecords = info.records;
  b.submissionTime = info.submission_ms;
  b.processingStartTime = info.processing_start_ms;
  b.processingEndTime = info.processing_end_ms;
  if (event == BatchEvent::kCompleted) {
    absl::MutexLock lock(&mu_);
    auto it = batch_ops_.find(info.batch_time.milliseconds());
    if (it != batch_ops_.end()) {
      b.outputOperationInfos = std::move(it->second);
      batch_ops_.erase(it);
    }
  }
  switch (event) {
    case BatchEvent::kSubmitted:
      bus_->Post([b](StreamingListener& l) { l.onBatchSubmitted(b); });
      break;
    case BatchEvent::kStarted:
      bus_->Post([b](StreamingListener& l) { l.onBatchStarted(b); });
      break;
    case BatchEvent::kCompleted: {
      tracker_->MarkProcessed(info.batch_time);
      for (int id = 0; id < tracker_->num_streams(); ++id) {
        StreamInputInfo& in = b.streamIdToInputInfo[id];
        in.inputStreamId = id;
        for (const auto& block : tracker_->BlocksOfBatch(id, info.batch_time)) {
          in.numRecords += block.records;
        }
      }
      if (backpressure_) UpdateRates(info, b.streamIdToInputInfo);
      {
        // The limit in force from now on, as the receivers' supervisors combine them.
        absl::MutexLock lock(&rate_mu_);
        for (auto& [id, in] : b.streamIdToInputInfo) {
          auto rate = receiver_rates_.find(id);
          in.rateLimit =
              CombinedRateLimit(static_cast<double>(receiver_max_rate_),
                                rate != receiver_rates_.end() ? rate->second : initial_rate_);
        }
      }
      bus_->Post([b](StreamingListener& l) { l.onBatchCompleted(b); });
      break;
    }
  }
}

void ContextCore::PostReceiverEvent(const ReceiverStatus& status, proto::ReceiverEvent event) {
  ReceiverInfo r;
  r.streamId = status.stream_id;
  r.name = "stream " + std::to_string(status.stream_id);
  r.active = status.active;
  r.executorId = status.executor_id;
  r.location = status.executor_id == "driver" ? "localhost" : status.executor_id;
  r.lastErrorMessage = status.last_error;
  r.lastError = status.last_error;
  r.lastErrorTime = status.last_error.empty() ? -1 : status.last_error_time_ms;
  if (event == proto::RECEIVER_STARTED) {
    bus_->Post([r](StreamingListener& l) { l.onReceiverStarted(r); });
  } else if (event == proto::RECEIVER_STOPPED) {
    bus_->Post([r](StreamingListener& l) { l.onReceiverStopped(r); });
  } else {
    bus_->Post([r](StreamingListener& l) { l.onReceiverError(r); });
  }
}

StreamRef ContextCore::AddReceiverStream(std::shared_ptr<const ReceiverFactoryOp> factory,
                                         std::shared_ptr<const DecoderOp> decoder) {
  CheckCanAddStreams();
  int id = tracker_->AddStream(std::move(factory));
  return std::make_shared<ReceiverInputStream>(this, id, ToSpec(*decoder));
}

StreamRef ContextCore::AddFileStream(FileInputStream::Options options) {
  CheckCanAddStreams();
  auto stream = std::make_shared<FileInputStream>(this, std::move(options));
  absl::MutexLock lock(&mu_);
  file_streams_.push_back(stream);
  return stream;
}

void ContextCore::UpdateRates(const BatchInfo& info,
                              const std::map<int, StreamInputInfo>& receiver_inputs) {
  if (info.processing_start_ms < 0 || info.processing_end_ms < 0) return;
  const int64_t t = info.batch_time.milliseconds();
  const int64_t processing = info.processing_end_ms - info.processing_start_ms;
  const int64_t scheduling = info.processing_start_ms - t;
  std::vector<std::shared_ptr<DirectKafkaStream>> kafka;
  {
    absl::MutexLock lock(&mu_);
    kafka = kafka_streams_;
  }
  absl::MutexLock lock(&rate_mu_);
  auto estimate = [&](const void* stream, int64_t records) -> std::optional<double> {
    auto& e = estimators_[stream];
    if (e == nullptr) e = std::make_unique<PidRateEstimator>(rate_options_);
    return e->Compute(info.processing_end_ms, records, processing, scheduling);
  };
  for (const auto& [id, in] : receiver_inputs) {
    // Keyed by the tracker's stream id (a small integer, never a real address).
    auto rate =
        estimate(reinterpret_cast<const void*>(static_cast<intptr_t>(id + 1)), in.numRecords);
    if (rate) {
      VLOG(1) << "backpressure: receiver stream " << id << " limited to " << *rate << " records/s";
      services_->UpdateReceiverRate(id, *rate);
      receiver_rates_[id] = *rate;
    }
  }
  for (auto& k : kafka) {
    if (auto rate = estimate(k.get(), k->RecordsOf(info.batch_time))) k->SetRate(*rate);
  }
}

StreamRef ContextCore::AddKafkaStream(std::shared_ptr<DirectKafkaStream> stream) {
  CheckCanAddStreams();
  if (backpressure_) stream->SetRate(initial_rate_);
  absl::MutexLock lock(&mu_);
  kafka_streams_.push_back(stream);
  return stream;
}

std::vector<std::string> ContextCore::RunJob(const RddRef& rdd, const ResultOp& op,
                                             const std::vector<int>& partitions) {
  auto results = dag_->RunJob(rdd, op, partitions, current_batch_time);
  if (!results.ok()) {
    std::string message(results.status().message());
    if (IsStateLost(results.status())) throw StateLostError(message);
    throw EmberError(message);
  }
  return std::move(*results);
}

void ContextCore::ReleaseShuffle(int shuffle_id) { services_->ReleaseShuffle(shuffle_id); }

void ContextCore::EmitOutput(const std::string& text) {
  OutputSink sink;
  {
    absl::MutexLock lock(&mu_);
    sink = sink_;
  }
  sink(text);
}

namespace {
// At most `max` bytes of `s`, not cutting a UTF-8 sequence in two.
std::string TruncateUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}
}  // namespace

void ContextCore::RegisterDashboard(const DashboardUpdate& spec) {
  CheckCanAddStreams();
  const std::string& name = spec.name;
  bool name_ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    name_ok = name_ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                          c == '-' || c == '.');
  }
  if (!name_ok) {
    throw EmberError("dashboard: the name \"" + name.substr(0, 80) +
                     "\" is not 1 to 64 letters, digits, '_', '-' or '.'");
  }
  if (spec.top < 1 || spec.top > 100) {
    throw EmberError("dashboard " + name + ": top is " + std::to_string(spec.top) +
                     ", not 1 to 100");
  }
  if (spec.window < 1 || spec.window > 1000) {
    throw EmberError("dashboard " + name + ": window is " + std::to_string(spec.window) +
                     " batches, not 1 to 1000");
  }
  if (spec.chart != "line" && spec.chart != "bar") {
    throw EmberError("dashboard " + name + ": chart is \"" + spec.chart.substr(0, 80) +
                     "\", not \"line\" or \"bar\"");
  }
  absl::MutexLock lock(&mu_);
  if (!dashboards_.insert(name).second) {
    throw EmberError("dashboard " + name + ": this context has a dashboard of that name");
  }
}

void ContextCore::PostDashboard(DashboardUpdate update) {
  // Keys are job data: long ones are cut, so that a batch's update stays small.
  constexpr size_t kMaxKey = 200;
  for (auto& [key, value] : update.points) {
    if (key.size() > kMaxKey) key = TruncateUtf8(key, kMaxKey) + "...";
  }
  auto shared = std::make_shared<const DashboardUpdate>(std::move(update));
  bus_->Post([shared](StreamingListener& l) {
    if (auto* progress = dynamic_cast<StreamingProgress*>(&l)) progress->AddDashboard(*shared);
    if (auto* observer = dynamic_cast<ProgressObserver*>(&l)) observer->onDashboard(*shared);
  });
}

void ContextCore::SetOutputSink(OutputSink sink) {
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

void ContextCore::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == StreamingContextState::ACTIVE) {
      throw EmberError("StreamingContext has already been started");
    }
    if (state_ == StreamingContextState::STOPPED) {
      throw EmberError("StreamingContext has already been stopped");
    }
    if (outputs_.empty()) {
      throw EmberError("No output operations registered, so nothing to execute");
    }
  }
  auto collisions = OpRegistry::Process().Collisions();
  if (!collisions.empty()) {
    throw EmberError("operator registry key " + collisions[0] +
                     " is used by two different operators; rename one enclosing function");
  }
  // A receiver is a thread of its own, not a task slot: local[N] runs N tasks at once beside
  // it, unless Spark's reservation is asked for.
  if (conf_.getBoolean("ember.local.reserveReceiverSlots", false)) {
    services_->ReserveSlotsForReceivers(tracker_->num_streams());
  }
  dag_ = std::make_unique<DagScheduler>(services_->backend(), max_failures_);

  int64_t interval = batch_interval_.milliseconds();
  Time first((clock_->NowMs() / interval + 1) * interval);
  zero_time_ = first - batch_interval_;
  std::string checkpoint_dir;
  {
    absl::MutexLock lock(&mu_);
    checkpoint_dir = checkpoint_dir_;
  }
  if (conf_.getBoolean("ember.streaming.receiver.writeAheadLog.enable", false)) {
    if (checkpoint_dir.empty()) {
      throw EmberError(
          "ember.streaming.receiver.writeAheadLog.enable needs a checkpoint directory, where "
          "the log is kept: call ssc.checkpoint(directory) before start()");
    }
    std::string wal = checkpoint_dir + "/receivedData";
    std::error_code ec;
    std::filesystem::create_directories(wal, ec);
    if (ec) throw EmberError("cannot create the write-ahead log " + wal + ": " + ec.message());
    tracker_->SetWalDir(wal);
  }
  std::vector<std::string> shape = GraphShape();
  {
    absl::MutexLock lock(&mu_);
    graph_shape_ = shape;
  }
  std::optional<proto::MetadataCheckpoint> recovered;
  if (!checkpoint_dir.empty()) {
    recovered = ReadLatestMetadataCheckpoint(checkpoint_dir);
    if (recovered) CheckShape(*recovered, checkpoint_dir);
  }
  {
    absl::MutexLock lock(&mu_);
    if (!recovered) {
      for (auto& f : file_streams_) f->SetStartTime(first - batch_interval_);
    }
    // Each output keeps its RDDs for a slide at least; windows make their parents keep more.
    std::set<StreamNode*> seen;
    std::vector<StreamNode*> streams;
    for (const auto& o : outputs_) {
      o.stream->Remember(o.stream->slide());
      CollectStreams(o.stream, &seen, &streams);
    }
    // A state rebuilt from its checkpoint applies the batches since to it again.
    for (const auto& s : stateful_) {
      if (!s.state.replays_inputs) continue;
      for (const auto& p : s.stream->parents()) p->Remember(s.interval + s.stream->slide());
    }
    input_remember_ = batch_interval_;
    for (StreamNode* s : streams) {
      if (dynamic_cast<ReceiverInputStream*>(s) != nullptr && input_remember_ < s->remember()) {
        input_remember_ = s->remember();
      }
    }
  }
  int64_t state_ms = RestoreState();
  if (recovered) first = Recover(*recovered, state_ms);
  absl::Status s = tracker_->StartAll();
  if (!s.ok()) throw EmberError("cannot start receivers: " + std::string(s.message()));

  JobScheduler::Options o;
  o.clock = clock_.get();
  o.batch_interval = batch_interval_;
  o.allocate = [this](Time t) {
    tracker_->AllocateBatch(t);
    // File streams choose their files now, as Spark's do, so that the checkpoint written
    // next records them and a recovery runs the batch on exactly these files.
    // So do Kafka direct streams their offset ranges.
    std::vector<StreamRef> inputs;
    {
      absl::MutexLock lock(&mu_);
      inputs.assign(file_streams_.begin(), file_streams_.end());
      inputs.insert(inputs.end(), kafka_streams_.begin(), kafka_streams_.end());
    }
    for (auto& input : inputs) {
      try {
        input->GetOrCompute(t);
      } catch (const std::exception&) {
        // Not remembered: the batch computes it again and reports the error.
      }
    }
    WriteMetadata(t);
  };
  o.records = [this](Time t) {
    int64_t records = tracker_->RecordsOfBatch(t);
    std::vector<std::shared_ptr<DirectKafkaStream>> kafka;
    {
      absl::MutexLock lock(&mu_);
      kafka = kafka_streams_;
    }
    for (auto& k : kafka) records += k->RecordsOf(t);
    return records;
  };
  o.run_batch = [this](Time t) { return RunBatch(t); };
  o.cleanup = [this](Time t) { CleanupBatch(t); };
  o.has_pending_input = [this] { return tracker_->HasUnallocatedBlocks(); };
  o.retained_batches =
      static_cast<size_t>(conf_.getInt("ember.streaming.ui.retainedBatches", 1000));
  o.on_batch = [this](const BatchInfo& info, BatchEvent event) { PostBatchEvent(info, event); };
  int64_t started = clock_->NowMs();
  bus_->Post([started](StreamingListener& l) { l.onStreamingStarted(started); });
  scheduler_ = std::make_unique<JobScheduler>(o);
  {
    absl::MutexLock lock(&mu_);
    state_ = StreamingContextState::ACTIVE;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!recovered) completed_ms_ = zero_time_.milliseconds();
  }
  // A job that dies before its first batch recovers too (its zero time, its logged blocks).
  WriteMetadata(first - batch_interval_);
  scheduler_->Start(first);
  LOG(INFO) << "StreamingContext started: batch interval " << interval << " ms, first batch at "
            << first.milliseconds() << " ms, master " << conf_.master();
}

std::string ContextCore::RunBatch(Time t) {
  std::vector<Output> outputs;
  bool replay;
  {
    absl::MutexLock lock(&mu_);
    outputs = outputs_;
    replay = t.milliseconds() <= replay_through_ms_;
  }
  current_batch_time = t;
  std::string failure;
  for (size_t i = 0; i < outputs.size(); ++i) {
    // A batch that completed before a restart runs again only to bring the state forward:
    // the state-keeping outputs alone; the job's own outputs on a state stream already ran.
    if (replay && !outputs[i].keeps_state) continue;
    OutputOperationInfo op;
    op.batchTime = t;
    op.id = static_cast<int>(i);
    op.name = outputs[i].name;
    op.description = op.name + " (output operation " + std::to_string(i) + ")";
    try {
      RddRef rdd = outputs[i].stream->GetOrCompute(t);
      if (rdd == nullptr) continue;  // not a multiple of this output's slide
      op.startTime = clock_->NowMs();
      bus_->Post([op](StreamingListener& l) { l.onOutputOperationStarted(op); });
      outputs[i].fn(rdd, t);
    } catch (const std::exception& e) {
      std::string message = "Error running job streaming job " + std::to_string(t.milliseconds()) +
                            " ms." + std::to_string(i) + ": " + e.what();
      LOG(ERROR) << message;
      if (failure.empty()) failure = message;
      ReportError(message);
      op.failureReason = message;
      if (op.startTime < 0) op.startTime = clock_->NowMs();
    }
    op.endTime = clock_->NowMs();
    bus_->Post([op](StreamingListener& l) { l.onOutputOperationCompleted(op); });
    absl::MutexLock lock(&mu_);
    batch_ops_[t.milliseconds()][op.id] = op;
  }
  return failure;
}

void ContextCore::CleanupBatch(Time t) {
  CheckpointState(t);
  std::vector<StreamNode*> streams;
  Time keep_from = t;
  {
    absl::MutexLock lock(&mu_);
    std::set<StreamNode*> seen;
    for (const auto& o : outputs_) CollectStreams(o.stream, &seen, &streams);
    completed_ms_ = std::max(completed_ms_, t.milliseconds());
    // A recovery recomputes state from its checkpoint: keep the inputs since then.
    if (!stateful_.empty()) {
      keep_from = Time(std::min(t.milliseconds(), std::max(state_ms_, zero_time_.milliseconds())));
    }
  }
  WriteMetadata(t);
  // Dropping RDDs no window needs any more releases their shuffles; their blocks go too.
  for (StreamNode* s : streams) s->ClearOld(t);
  Time release_through = keep_from - input_remember_;
  std::vector<std::string> released = tracker_->ReleaseThrough(release_through);
  if (!released.empty()) services_->RemoveBlocks(std::move(released));
  services_->EndBatchCleanup(run_id_, release_through.milliseconds());
}

void ContextCore::ReportError(const std::string& message) {
  absl::MutexLock lock(&mu_);
  if (error_.empty()) error_ = message;
}

void ContextCore::Stop(bool graceful) {
  // One stop sequence at a time, and STOPPED is published only when it is complete, so that a
  // thread woken by it may destroy the context. A stop requested by an output operation, on
  // the job thread, while another is under way returns at once: that one waits for the thread.
  bool on_job_thread = scheduler_ != nullptr && scheduler_->OnJobThread();
  if (on_job_thread) {
    if (!stop_mu_.TryLock()) return;
  } else {
    stop_mu_.Lock();
  }
  bool was_active;
  {
    absl::MutexLock lock(&mu_);
    was_active = state_ == StreamingContextState::ACTIVE;
    if (!was_active) state_ = StreamingContextState::STOPPED;
  }
  if (was_active) {
    LOG(INFO) << "Stopping StreamingContext" << (graceful ? " gracefully" : "");
    // Receivers first: their last blocks are reported before the generator drains.
    tracker_->StopAll();
    scheduler_->Stop(graceful);
    if (graceful) {
      // Everything received was processed: checkpoint the state as it stands, so that a
      // recovery (an upgraded plugin, say) recomputes nothing.
      int64_t completed;
      {
        absl::MutexLock lock(&mu_);
        completed = completed_ms_;
      }
      if (completed > zero_time_.milliseconds()) {
        CheckpointState(Time(completed), /*force=*/true);
        WriteMetadata(Time(completed));
      }
    }
    const int64_t ended = clock_->NowMs();
    progress_->SetEnded(ended);
    // Through the bus, after every event before it.
    bus_->Post([ended](StreamingListener& l) {
      if (auto* observer = dynamic_cast<ProgressObserver*>(&l)) observer->onContextEnded(ended);
    });
    {
      absl::MutexLock lock(&mu_);
      state_ = StreamingContextState::STOPPED;
    }
    LOG(INFO) << "StreamingContext stopped";
  }
  stop_mu_.Unlock();
}

bool ContextCore::AwaitTermination(int64_t timeout_ms) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !error_.empty() || state_ == StreamingContextState::STOPPED;
  };
  bool finished =
      timeout_ms < 0 ? (mu_.Await(absl::Condition(&done)), true)
                     : mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(timeout_ms));
  if (!error_.empty()) throw EmberError(error_);
  return finished;
}

StreamingContextState ContextCore::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool ContextCore::WaitForBatch(Time t, absl::Duration timeout) {
  if (scheduler_ == nullptr) return false;
  return scheduler_->WaitForBatch(t, timeout);
}

std::vector<BatchInfo> ContextCore::CompletedBatches() const {
  if (scheduler_ == nullptr) return {};
  return scheduler_->CompletedBatches();
}

}  // namespace internal
}  // namespace ember
