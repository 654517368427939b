#include "runtime/streaming_progress.h"

#include <algorithm>
#include <ctime>

#include "absl/strings/str_format.h"

namespace ember {
namespace internal {

namespace {
constexpr size_t kMaxApps = 100;  // ended applications beyond this are forgotten, oldest first
const std::vector<double> kDelayBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,    2.5,   5,    10,  30};
}  // namespace

std::string IsoTime(int64_t ms) {
  if (ms < 0) return "";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrFormat("%s.%03dGMT", buf, static_cast<int>(ms % 1000));
}

std::string PromEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void StreamingProgress::Histogram::Add(double seconds) {
  if (counts.empty()) counts.assign(bounds.size(), 0);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) ++counts[i];
  }
  sum += seconds;
  ++count;
}

StreamingProgress::StreamingProgress(std::string app_id, std::string name,
                                     int64_t batch_interval_ms, size_t retained_batches)
    : app_id_(std::move(app_id)),
      name_(std::move(name)),
      batch_interval_ms_(batch_interval_ms),
      retained_(std::max<size_t>(1, retained_batches)) {
  scheduling_.bounds = processing_.bounds = total_delay_.bounds = kDelayBuckets;
}

void StreamingProgress::onStreamingStarted(int64_t time) {
  absl::MutexLock lock(&mu_);
  start_time_ = time;
}

void StreamingProgress::SetEnded(int64_t time) {
  absl::MutexLock lock(&mu_);
  end_time_ = time;
}

void StreamingProgress::AddDashboard(const DashboardUpdate& update) {
  // The daemon hears these from an application's process: bounded whatever it sends.
  constexpr size_t kMaxDashboards = 100;
  if (update.name.empty() || update.name.size() > 64) return;
  absl::MutexLock lock(&mu_);
  auto it = dashboards_.find(update.name);
  if (it == dashboards_.end()) {
    if (dashboards_.size() >= kMaxDashboards) return;
    it = dashboards_.emplace(update.name, DashboardData{}).first;
    DashboardUpdate& spec = it->second.spec;
    spec.name = update.name;
    spec.chart = update.chart == "bar" ? "bar" : "line";
    spec.top = std::clamp(update.top, 1, 100);
    spec.window = std::clamp(update.window, 1, 1000);
    spec.keyed = update.keyed;
  }
  DashboardData& d = it->second;
  auto& points = d.batches[update.batch_ms];
  points.assign(update.points.begin(),
                update.points.begin() +
                    std::min<size_t>(update.points.size(), static_cast<size_t>(d.spec.top)));
  while (d.batches.size() > static_cast<size_t>(d.spec.window)) d.batches.erase(d.batches.begin());
}

nlohmann::json StreamingProgress::Dashboards() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, d] : dashboards_) {
    out.push_back({{"name", name},
                   {"chart", d.spec.chart},
                   {"top", d.spec.top},
                   {"window", d.spec.window},
                   {"keyed", d.spec.keyed},
                   {"numBatches", d.batches.size()},
                   {"lastBatchTime",
                    d.batches.empty() ? "" : IsoTime(d.batches.rbegin()->first)}});
  }
  return out;
}

std::optional<nlohmann::json> StreamingProgress::Dashboard(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = dashboards_.find(name);
  if (it == dashboards_.end()) return std::nullopt;
  const DashboardData& d = it->second;
  nlohmann::json batches = nlohmann::json::array();
  for (const auto& [ms, points] : d.batches) {
    nlohmann::json b = {{"batchId", ms}, {"batchTime", IsoTime(ms)}};
    if (d.spec.keyed) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [key, value] : points) list.push_back({{"key", key}, {"value", value}});
      b["points"] = std::move(list);
    } else {
      b["value"] = points.empty() ? 0.0 : points[0].second;
    }
    batches.push_back(std::move(b));
  }
  return nlohmann::json{{"name", name},          {"chart", d.spec.chart},
                        {"top", d.spec.top},     {"window", d.spec.window},
                        {"keyed", d.spec.keyed}, {"batches", std::move(batches)}};
}

void StreamingProgress::onBatchSubmitted(const ember::BatchInfo& batch) {
  absl::MutexLock lock(&mu_);
  waiting_[batch.batchTime.milliseconds()] = batch;
  total_received_ += batch.numRecords;
}

void StreamingProgress::onBatchStarted(const ember::BatchInfo& batch) {
  absl::MutexLock lock(&mu_);
  waiting_.erase(batch.batchTime.milliseconds());
  running_[batch.batchTime.milliseconds()] = batch;
}

void StreamingProgress::onBatchCompleted(const ember::BatchInfo& batch) {
  absl::MutexLock lock(&mu_);
  waiting_.erase(batch.batchTime.milliseconds());
  running_.erase(batch.batchTime.milliseconds());
  completed_.push_back(batch);
  while (completed_.size() > retained_) completed_.pop_front();
  ++total_completed_;
  total_records_ += batch.numRecords;
  for (const auto& [id, op] : batch.outputOperationInfos) {
    if (!op.failureReason.empty()) {
      ++total_failed_;
      break;
    }
  }
  scheduling_.Add(static_cast<double>(batch.schedulingDelay()) / 1000.0);
  processing_.Add(static_cast<double>(batch.processingDelay()) / 1000.0);
  total_delay_.Add(static_cast<double>(batch.totalDelay()) / 1000.0);
}

void StreamingProgress::onOutputOperationStarted(const OutputOperationInfo& op) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(op.batchTime.milliseconds());
  if (it != running_.end()) it->second.outputOperationInfos[op.id] = op;
}

void StreamingProgress::onOutputOperationCompleted(const OutputOperationInfo& op) {
  onOutputOperationStarted(op);
}

void StreamingProgress::onReceiverStarted(const ReceiverInfo& receiver) {
  absl::MutexLock lock(&mu_);
  receivers_[receiver.streamId] = receiver;
  ++receiver_starts_[receiver.streamId];
}

void StreamingProgress::onReceiverError(const ReceiverInfo& receiver) {
  absl::MutexLock lock(&mu_);
  receivers_[receiver.streamId] = receiver;
  ++receiver_errors_;
}

void StreamingProgress::onReceiverStopped(const ReceiverInfo& receiver) {
  absl::MutexLock lock(&mu_);
  receivers_[receiver.streamId] = receiver;
}

StreamingProgress::Summary StreamingProgress::Summarize() const {
  absl::MutexLock lock(&mu_);
  Summary s;
  s.batch_interval_ms = batch_interval_ms_;
  s.completed_batches = total_completed_;
  s.records = total_records_;
  double processing = 0, total = 0;
  for (const auto& b : completed_) {
    processing += static_cast<double>(b.processingDelay());
    total += static_cast<double>(b.totalDelay());
  }
  if (!completed_.empty()) {
    s.last_batch_ms = completed_.back().batchTime.milliseconds();
    s.avg_processing_ms = processing / static_cast<double>(completed_.size());
    s.avg_total_delay_ms = total / static_cast<double>(completed_.size());
  }
  for (const auto& [id, r] : receivers_) s.receivers.push_back(r);
  return s;
}

nlohmann::json StreamingProgress::Application() const {
  absl::MutexLock lock(&mu_);
  return {{"id", app_id_},
          {"name", name_},
          {"startTime", IsoTime(start_time_)},
          {"endTime", IsoTime(end_time_)},
          {"completed", end_time_ >= 0},
          {"batchDuration", batch_interval_ms_}};
}

nlohmann::json StreamingProgress::Statistics() const {
  absl::MutexLock lock(&mu_);
  int active = 0;
  for (const auto& [id, r] : receivers_) active += r.active ? 1 : 0;
  auto avg = [this](auto field) -> nlohmann::json {
    double sum = 0;
    int n = 0;
    for (const auto& b : completed_) {
      int64_t v = field(b);
      if (v < 0) continue;
      sum += static_cast<double>(v);
      ++n;
    }
    if (n == 0) return nullptr;
    return sum / n;
  };
  double span_s = static_cast<double>(completed_.size() * batch_interval_ms_) / 1000.0;
  int64_t retained_records = 0;
  for (const auto& b : completed_) retained_records += b.numRecords;
  return {
      {"startTime", IsoTime(start_time_)},
      {"batchDuration", batch_interval_ms_},
      {"numReceivers", static_cast<int>(receivers_.size())},
      {"numActiveReceivers", active},
      {"numInactiveReceivers", static_cast<int>(receivers_.size()) - active},
      {"numTotalCompletedBatches", total_completed_},
      {"numRetainedCompletedBatches", static_cast<int64_t>(completed_.size())},
      {"numActiveBatches", static_cast<int64_t>(waiting_.size() + running_.size())},
      {"numProcessedRecords", total_records_},
      {"numReceivedRecords", total_received_},
      {"avgInputRate",
       span_s > 0 ? nlohmann::json(static_cast<double>(retained_records) / span_s) : nullptr},
      {"avgSchedulingDelay", avg([](const ember::BatchInfo& b) { return b.schedulingDelay(); })},
      {"avgProcessingTime", avg([](const ember::BatchInfo& b) { return b.processingDelay(); })},
      {"avgTotalDelay", avg([](const ember::BatchInfo& b) { return b.totalDelay(); })},
  };
}

nlohmann::json StreamingProgress::Receivers() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, r] : receivers_) {
    nlohmann::json rates = nlohmann::json::array();
    double sum = 0;
    nlohmann::json limit = nullptr;  // the newest batch's, records/s; null when unlimited
    for (const auto& b : completed_) {
      auto in = b.streamIdToInputInfo.find(id);
      const bool known = in != b.streamIdToInputInfo.end();
      double records = known ? static_cast<double>(in->second.numRecords) : 0;
      double rate = records * 1000.0 / static_cast<double>(batch_interval_ms_);
      rates.push_back({b.batchTime.milliseconds(), rate});
      sum += rate;
      if (known) {
        limit = in->second.rateLimit > 0 ? nlohmann::json(in->second.rateLimit)
                                         : nlohmann::json(nullptr);
      }
    }
    out.push_back({{"streamId", id},
                   {"streamName", r.name},
                   {"isActive", r.active},
                   {"executorId", r.executorId},
                   {"executorHost", r.location},
                   {"lastErrorTime", IsoTime(r.lastErrorTime)},
                   {"lastErrorMessage", r.lastErrorMessage},
                   {"lastError", r.lastError},
                   {"avgEventRate", completed_.empty() ? nlohmann::json(nullptr)
                                                       : nlohmann::json(sum / completed_.size())},
                   {"eventRates", rates},
                   {"rateLimit", limit}});
  }
  return out;
}

nlohmann::json StreamingProgress::BatchJson(const ember::BatchInfo& b, const char* status) const {
  int completed = 0, failed = 0;
  std::string first_failure;
  for (const auto& [id, op] : b.outputOperationInfos) {
    if (op.endTime >= 0) ++completed;
    if (!op.failureReason.empty()) {
      ++failed;
      if (first_failure.empty()) first_failure = op.failureReason;
    }
  }
  auto opt = [](int64_t v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  int total = static_cast<int>(b.outputOperationInfos.size());
  return {{"batchId", b.batchTime.milliseconds()},
          {"batchTime", IsoTime(b.batchTime.milliseconds())},
          {"status", status},
          {"batchDuration", batch_interval_ms_},
          {"inputSize", b.numRecords},
          {"schedulingDelay", opt(b.schedulingDelay())},
          {"processingTime", opt(b.processingDelay())},
          {"totalDelay", opt(b.totalDelay())},
          {"numActiveOutputOps", total - completed},
          {"numCompletedOutputOps", completed},
          {"numFailedOutputOps", failed},
          {"numTotalOutputOps", total},
          {"firstFailureReason", first_failure}};
}

nlohmann::json StreamingProgress::Batches() const {
  absl::MutexLock lock(&mu_);
  nlohmann::json out = nlohmann::json::array();
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    out.push_back(BatchJson(it->second, "PROCESSING"));
  }
  for (auto it = waiting_.rbegin(); it != waiting_.rend(); ++it) {
    out.push_back(BatchJson(it->second, "QUEUED"));
  }
  for (auto it = completed_.rbegin(); it != completed_.rend(); ++it) {
    out.push_back(BatchJson(*it, "COMPLETED"));
  }
  return out;
}

const ember::BatchInfo* StreamingProgress::FindBatch(int64_t t) const {
  if (auto it = running_.find(t); it != running_.end()) return &it->second;
  if (auto it = waiting_.find(t); it != waiting_.end()) return &it->second;
  for (const auto& b : completed_) {
    if (b.batchTime.milliseconds() == t) return &b;
  }
  return nullptr;
}

std::optional<nlohmann::json> StreamingProgress::Batch(int64_t t) const {
  absl::MutexLock lock(&mu_);
  const ember::BatchInfo* b = FindBatch(t);
  if (b == nullptr) return std::nullopt;
  const char* status = running_.count(t)   ? "PROCESSING"
                       : waiting_.count(t) ? "QUEUED"
                                           : "COMPLETED";
  return BatchJson(*b, status);
}

std::optional<nlohmann::json> StreamingProgress::Operations(int64_t t) const {
  absl::MutexLock lock(&mu_);
  const ember::BatchInfo* b = FindBatch(t);
  if (b == nullptr) return std::nullopt;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, op] : b->outputOperationInfos) {
    out.push_back(
        {{"outputOpId", id},
         {"name", op.name},
         {"description", op.description},
         {"startTime", IsoTime(op.startTime)},
         {"endTime", IsoTime(op.endTime)},
         {"duration", op.duration() < 0 ? nlohmann::json(nullptr) : nlohmann::json(op.duration())},
         {"failureReason", op.failureReason}});
  }
  return out;
}

void StreamingProgress::AppendMetrics(std::string* out) const {
  absl::MutexLock lock(&mu_);
  std::string app = "app=\"" + PromEscape(app_id_) + "\"";
  absl::StrAppendFormat(out, "ember_streaming_records_total{%s} %d\n", app, total_records_);
  absl::StrAppendFormat(out, "ember_streaming_batches_total{%s} %d\n", app, total_completed_);
  absl::StrAppendFormat(out, "ember_streaming_failed_batches_total{%s} %d\n", app, total_failed_);
  absl::StrAppendFormat(out, "ember_streaming_active_batches{%s} %d\n", app,
                        waiting_.size() + running_.size());
  int restarts = 0;
  for (const auto& [id, n] : receiver_starts_) restarts += std::max(0, n - 1);
  absl::StrAppendFormat(out, "ember_receiver_restarts_total{%s} %d\n", app, restarts);
  absl::StrAppendFormat(out, "ember_receiver_errors_total{%s} %d\n", app, receiver_errors_);
  // Each receiver stream's rate limit in force after the newest batch (0: unlimited).
  if (!completed_.empty()) {
    for (const auto& [id, in] : completed_.back().streamIdToInputInfo) {
      absl::StrAppendFormat(out, "ember_receiver_rate_limit{%s,stream=\"%d\"} %g\n", app, id,
                            in.rateLimit);
    }
  }
  auto histogram = [&](const char* name, const Histogram& h) {
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      absl::StrAppendFormat(out, "%s_bucket{%s,le=\"%g\"} %d\n", name, app, h.bounds[i],
                            h.counts.empty() ? 0 : h.counts[i]);
    }
    absl::StrAppendFormat(out, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, app, h.count);
    absl::StrAppendFormat(out, "%s_sum{%s} %g\n", name, app, h.sum);
    absl::StrAppendFormat(out, "%s_count{%s} %d\n", name, app, h.count);
  };
  histogram("ember_streaming_scheduling_delay_seconds", scheduling_);
  histogram("ember_streaming_processing_time_seconds", processing_);
  histogram("ember_streaming_total_delay_seconds", total_delay_);
}

Monitor& Monitor::Global() {
  static auto* monitor = new Monitor();
  return *monitor;
}

void Monitor::Add(std::shared_ptr<StreamingProgress> app) {
  absl::MutexLock lock(&mu_);
  for (auto& a : apps_) {
    if (a->app_id() == app->app_id()) {
      a = std::move(app);
      return;
    }
  }
  apps_.push_back(std::move(app));
  if (apps_.size() > kMaxApps) apps_.erase(apps_.begin());
}

std::shared_ptr<StreamingProgress> Monitor::Find(const std::string& app_id) const {
  absl::MutexLock lock(&mu_);
  for (const auto& a : apps_) {
    if (a->app_id() == app_id) return a;
  }
  return nullptr;
}

std::vector<std::shared_ptr<StreamingProgress>> Monitor::All() const {
  absl::MutexLock lock(&mu_);
  return apps_;
}

void Monitor::CountTasks(int64_t tasks, int64_t failed) {
  absl::MutexLock lock(&mu_);
  tasks_ += tasks;
  failed_tasks_ += failed;
}

void Monitor::TaskCounts(int64_t* tasks, int64_t* failed) const {
  absl::MutexLock lock(&mu_);
  *tasks = tasks_;
  *failed = failed_tasks_;
}

void Monitor::CountExecutorLoss() {
  absl::MutexLock lock(&mu_);
  ++executor_losses_;
}

void Monitor::AppendMetrics(std::string* out) const {
  std::vector<std::shared_ptr<StreamingProgress>> apps;
  {
    absl::MutexLock lock(&mu_);
    apps = apps_;
    *out += "# TYPE ember_tasks_total counter\n";
    absl::StrAppendFormat(out, "ember_tasks_total %d\n", tasks_);
    *out += "# TYPE ember_task_failures_total counter\n";
    absl::StrAppendFormat(out, "ember_task_failures_total %d\n", failed_tasks_);
    *out += "# TYPE ember_executor_losses_total counter\n";
    absl::StrAppendFormat(out, "ember_executor_losses_total %d\n", executor_losses_);
  }
  *out +=
      "# TYPE ember_streaming_records_total counter\n"
      "# TYPE ember_streaming_batches_total counter\n"
      "# TYPE ember_streaming_failed_batches_total counter\n"
      "# TYPE ember_streaming_active_batches gauge\n"
      "# TYPE ember_receiver_restarts_total counter\n"
      "# TYPE ember_receiver_errors_total counter\n"
      "# TYPE ember_receiver_rate_limit gauge\n"
      "# TYPE ember_streaming_scheduling_delay_seconds histogram\n"
      "# TYPE ember_streaming_processing_time_seconds histogram\n"
      "# TYPE ember_streaming_total_delay_seconds histogram\n";
  // Prometheus wants a metric's lines together: gather them per metric name.
  std::map<std::string, std::string> by_metric;
  for (const auto& a : apps) {
    std::string lines;
    a->AppendMetrics(&lines);
    size_t start = 0;
    while (start < lines.size()) {
      size_t end = lines.find('\n', start);
      std::string line = lines.substr(start, end - start + 1);
      std::string name = line.substr(0, line.find('{'));
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        size_t n = std::string(suffix).size();
        if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0 &&
            name.find("_seconds") != std::string::npos) {
          name.resize(name.size() - n);
        }
      }
      by_metric[name] += line;
      start = end + 1;
    }
  }
  for (const auto& [name, lines] : by_metric) *out += lines;
}

}  // namespace internal
}  // namespace ember
