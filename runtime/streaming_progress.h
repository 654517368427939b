#pragma once
// What the web UI, the REST API and /metrics show of one streaming application: a
// StreamingListener (Spark's StreamingJobProgressListener) that keeps the waiting, running and
// retained completed batches, the receivers and running totals, and renders them as JSON
// shaped like Spark's /api/v1/applications/{app}/streaming/... responses.
//
// Monitor is the process's list of applications the UI serves (local mode: the contexts of
// this process; the driver daemon: every submitted job). Thread-safe.

#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/engine_api.h"
#include "common/listener.h"

namespace ember {
namespace internal {

class StreamingProgress : public StreamingListener {
 public:
  StreamingProgress(std::string app_id, std::string name, int64_t batch_interval_ms,
                    size_t retained_batches);

  const std::string& app_id() const { return app_id_; }
  const std::string& name() const { return name_; }

  void onStreamingStarted(int64_t time) override;
  void onBatchSubmitted(const ember::BatchInfo& batch) override;
  void onBatchStarted(const ember::BatchInfo& batch) override;
  void onBatchCompleted(const ember::BatchInfo& batch) override;
  void onOutputOperationStarted(const OutputOperationInfo& op) override;
  void onOutputOperationCompleted(const OutputOperationInfo& op) override;
  void onReceiverStarted(const ReceiverInfo& receiver) override;
  void onReceiverError(const ReceiverInfo& receiver) override;
  void onReceiverStopped(const ReceiverInfo& receiver) override;

  // The application ended (its context stopped): shown as such, kept for the UI.
  void SetEnded(int64_t time);
  // A dashboard's batch: replaces an earlier update of the same batch (a batch run again);
  // the oldest batches beyond its window are dropped.
  void AddDashboard(const DashboardUpdate& update);

  nlohmann::json Application() const;  // /api/v1/applications entry
  nlohmann::json Statistics() const;
  nlohmann::json Receivers() const;
  nlohmann::json Batches() const;  // running and waiting first, then completed, newest first
  std::optional<nlohmann::json> Batch(int64_t batch_time_ms) const;
  std::optional<nlohmann::json> Operations(int64_t batch_time_ms) const;
  // /api/v1/applications/APP/dashboards[/NAME]
  nlohmann::json Dashboards() const;
  std::optional<nlohmann::json> Dashboard(const std::string& name) const;
  // Prometheus text exposition lines for this application.
  void AppendMetrics(std::string* out) const;

  // The figures `ember-submit --status` shows.
  struct Summary {
    int64_t batch_interval_ms = 0;
    int64_t completed_batches = 0;
    int64_t last_batch_ms = 0;
    int64_t records = 0;
    double avg_processing_ms = 0;   // over the retained completed batches
    double avg_total_delay_ms = 0;
    std::vector<ReceiverInfo> receivers;
  };
  Summary Summarize() const;

 private:
  struct Histogram {
    std::vector<double> bounds;  // seconds
    std::vector<int64_t> counts;
    double sum = 0;
    int64_t count = 0;
    void Add(double seconds);
  };
  nlohmann::json BatchJson(const ember::BatchInfo& b, const char* status) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  const ember::BatchInfo* FindBatch(int64_t t) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  struct DashboardData {
    DashboardUpdate spec;  // its options; no points
    std::map<int64_t, std::vector<std::pair<std::string, double>>> batches;
  };

  const std::string app_id_;
  const std::string name_;
  const int64_t batch_interval_ms_;
  const size_t retained_;
  mutable absl::Mutex mu_;
  int64_t start_time_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t end_time_ ABSL_GUARDED_BY(mu_) = -1;
  std::map<int64_t, ember::BatchInfo> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, ember::BatchInfo> running_ ABSL_GUARDED_BY(mu_);
  std::deque<ember::BatchInfo> completed_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::map<int, ReceiverInfo> receivers_ ABSL_GUARDED_BY(mu_);
  std::map<int, int> receiver_starts_ ABSL_GUARDED_BY(mu_);
  int64_t total_completed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_failed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_records_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_received_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t receiver_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, DashboardData> dashboards_ ABSL_GUARDED_BY(mu_);
  Histogram scheduling_ ABSL_GUARDED_BY(mu_);
  Histogram processing_ ABSL_GUARDED_BY(mu_);
  Histogram total_delay_ ABSL_GUARDED_BY(mu_);
};

class Monitor {
 public:
  static Monitor& Global();
  void Add(std::shared_ptr<StreamingProgress> app);
  std::shared_ptr<StreamingProgress> Find(const std::string& app_id) const;
  std::vector<std::shared_ptr<StreamingProgress>> All() const;
  // Counters the engine bumps (tasks, executor losses) for /metrics.
  void CountTasks(int64_t tasks, int64_t failed);
  void CountExecutorLoss();
  // The tasks and failed tasks counted so far.
  void TaskCounts(int64_t* tasks, int64_t* failed) const;
  void AppendMetrics(std::string* out) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<StreamingProgress>> apps_ ABSL_GUARDED_BY(mu_);
  int64_t tasks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t executor_losses_ ABSL_GUARDED_BY(mu_) = 0;
};

// Prometheus label value escaping (backslash, quote, newline).
std::string PromEscape(const std::string& s);
// ISO-8601 UTC with milliseconds, as Spark's REST API ("2026-11-24T01:02:03.456GMT").
std::string IsoTime(int64_t ms);

}  // namespace internal
}  // namespace ember
