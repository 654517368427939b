#pragma once
// A StreamingContext's listener events on the wire (proto::ProgressEvent): an application's
// driver process forwards them (ProgressForwarder) and ember-driver applies them to its copy
// of the application's StreamingProgress (ApplyProgressEvent), which its UI, REST API and
// /metrics serve.

#include <functional>
#include <memory>
#include <string>

#include "proto/isolation.pb.h"
#include "runtime/runtime_hooks.h"
#include "runtime/streaming_progress.h"

namespace ember {
namespace internal {

// Sends each event through `send`, in order, on the context's listener thread.
class ProgressForwarder : public ProgressObserver {
 public:
  using Send = std::function<void(const proto::ProgressEvent&)>;
  // Sends CONTEXT_CREATED first.
  ProgressForwarder(const std::string& name, int64_t batch_interval_ms, int64_t retained_batches,
                    Send send);

  void onStreamingStarted(int64_t time) override;
  void onBatchSubmitted(const ember::BatchInfo& batch) override;
  void onBatchStarted(const ember::BatchInfo& batch) override;
  void onBatchCompleted(const ember::BatchInfo& batch) override;
  void onOutputOperationStarted(const OutputOperationInfo& op) override;
  void onOutputOperationCompleted(const OutputOperationInfo& op) override;
  void onReceiverStarted(const ReceiverInfo& receiver) override;
  void onReceiverError(const ReceiverInfo& receiver) override;
  void onReceiverStopped(const ReceiverInfo& receiver) override;
  void onContextEnded(int64_t time) override;
  void onDashboard(const DashboardUpdate& update) override;

 private:
  void Batch(proto::ProgressEvent::Kind kind, const ember::BatchInfo& batch);
  void Operation(proto::ProgressEvent::Kind kind, const OutputOperationInfo& op);
  void Receiver(proto::ProgressEvent::Kind kind, const ReceiverInfo& receiver);
  const Send send_;
};

// Applies `event` to `*progress`; CONTEXT_CREATED replaces it with a new one for `app_id`.
void ApplyProgressEvent(const std::string& app_id, const proto::ProgressEvent& event,
                        std::shared_ptr<StreamingProgress>* progress);

}  // namespace internal
}  // namespace ember
