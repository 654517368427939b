#pragma once
// Hooks the daemons set on the runtime (not part of the job API).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/engine_api.h"
#include "common/listener.h"

namespace ember {
namespace internal {

// An executor fetches broadcast variables it does not hold from the driver.
using BroadcastFetcher = std::function<absl::StatusOr<std::string>(int64_t id)>;
void SetBroadcastFetcher(BroadcastFetcher fetcher);
// The driver serves its broadcast variables' bytes; false when `id` is unknown here.
bool BroadcastBytes(int64_t id, std::string* out);

// Hears a StreamingContext's events beside its StreamingProgress, and its end: an
// application's driver process forwards them to ember-driver, whose UI and REST API show them.
class ProgressObserver : public StreamingListener {
 public:
  virtual void onContextEnded(int64_t time) = 0;
  // A dashboard's batch (DStream::dashboard).
  virtual void onDashboard(const DashboardUpdate& /*update*/) {}
};
using ProgressObserverFactory = std::function<std::shared_ptr<ProgressObserver>(
    const std::string& app_id, const std::string& name, int64_t batch_interval_ms,
    int64_t retained_batches)>;
// Every StreamingContext made after this call gets an observer from `factory` (null: none).
void SetProgressObserverFactory(ProgressObserverFactory factory);
ProgressObserverFactory GetProgressObserverFactory();

}  // namespace internal
}  // namespace ember
