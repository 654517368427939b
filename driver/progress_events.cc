#include "driver/progress_events.h"

#include <algorithm>

namespace ember {
namespace internal {

namespace {

proto::OutputOperationProto ToProto(const OutputOperationInfo& op) {
  proto::OutputOperationProto p;
  p.set_batch_time_ms(op.batchTime.milliseconds());
  p.set_id(op.id);
  p.set_name(op.name);
  p.set_description(op.description);
  p.set_start_time(op.startTime);
  p.set_end_time(op.endTime);
  p.set_failure_reason(op.failureReason);
  return p;
}

OutputOperationInfo FromProto(const proto::OutputOperationProto& p) {
  OutputOperationInfo op;
  op.batchTime = Time(p.batch_time_ms());
  op.id = p.id();
  op.name = p.name();
  op.description = p.description();
  op.startTime = p.start_time();
  op.endTime = p.end_time();
  op.failureReason = p.failure_reason();
  return op;
}

proto::BatchInfoProto ToProto(const ember::BatchInfo& b) {
  proto::BatchInfoProto p;
  p.set_batch_time_ms(b.batchTime.milliseconds());
  p.set_num_records(b.numRecords);
  p.set_submission_time(b.submissionTime);
  p.set_processing_start_time(b.processingStartTime);
  p.set_processing_end_time(b.processingEndTime);
  for (const auto& [id, op] : b.outputOperationInfos) *p.add_operations() = ToProto(op);
  for (const auto& [id, in] : b.streamIdToInputInfo) {
    proto::StreamInputProto* out = p.add_inputs();
    out->set_stream_id(in.inputStreamId);
    out->set_num_records(in.numRecords);
    out->set_rate_limit(in.rateLimit);
  }
  return p;
}

ember::BatchInfo FromProto(const proto::BatchInfoProto& p) {
  ember::BatchInfo b;
  b.batchTime = Time(p.batch_time_ms());
  b.numRecords = p.num_records();
  b.submissionTime = p.submission_time();
  b.processingStartTime = p.processing_start_time();
  b.processingEndTime = p.processing_end_time();
  for (const auto& op : p.operations()) b.outputOperationInfos[op.id()] = FromProto(op);
  for (const auto& in : p.inputs()) {
    StreamInputInfo& info = b.streamIdToInputInfo[in.stream_id()];
    info.inputStreamId = in.stream_id();
    info.numRecords = in.num_records();
    info.rateLimit = in.rate_limit();
  }
  return b;
}

proto::ReceiverInfoProto ToProto(const ReceiverInfo& r) {
  proto::ReceiverInfoProto p;
  p.set_stream_id(r.streamId);
  p.set_name(r.name);
  p.set_active(r.active);
  p.set_executor_id(r.executorId);
  p.set_location(r.location);
  p.set_last_error_message(r.lastErrorMessage);
  p.set_last_error(r.lastError);
  p.set_last_error_time(r.lastErrorTime);
  return p;
}

ReceiverInfo FromProto(const proto::ReceiverInfoProto& p) {
  ReceiverInfo r;
  r.streamId = p.stream_id();
  r.name = p.name();
  r.active = p.active();
  r.executorId = p.executor_id();
  r.location = p.location();
  r.lastErrorMessage = p.last_error_message();
  r.lastError = p.last_error();
  r.lastErrorTime = p.last_error_time();
  return r;
}

}  // namespace

ProgressForwarder::ProgressForwarder(const std::string& name, int64_t batch_interval_ms,
                                     int64_t retained_batches, Send send)
    : send_(std::move(send)) {
  proto::ProgressEvent e;
  e.set_kind(proto::ProgressEvent::CONTEXT_CREATED);
  e.set_name(name);
  e.set_batch_interval_ms(batch_interval_ms);
  e.set_retained_batches(retained_batches);
  send_(e);
}

void ProgressForwarder::Batch(proto::ProgressEvent::Kind kind, const ember::BatchInfo& batch) {
  proto::ProgressEvent e;
  e.set_kind(kind);
  *e.mutable_batch() = ToProto(batch);
  send_(e);
}

void ProgressForwarder::Operation(proto::ProgressEvent::Kind kind, const OutputOperationInfo& op) {
  proto::ProgressEvent e;
  e.set_kind(kind);
  *e.mutable_operation() = ToProto(op);
  send_(e);
}

void ProgressForwarder::Receiver(proto::ProgressEvent::Kind kind, const ReceiverInfo& receiver) {
  proto::ProgressEvent e;
  e.set_kind(kind);
  *e.mutable_receiver() = ToProto(receiver);
  send_(e);
}

void ProgressForwarder::onStreamingStarted(int64_t time) {
  proto::ProgressEvent e;
  e.set_kind(proto::ProgressEvent::STREAMING_STARTED);
  e.set_time_ms(time);
  send_(e);
}

void ProgressForwarder::onContextEnded(int64_t time) {
  proto::ProgressEvent e;
  e.set_kind(proto::ProgressEvent::CONTEXT_ENDED);
  e.set_time_ms(time);
  send_(e);
}

void ProgressForwarder::onDashboard(const DashboardUpdate& u) {
  proto::ProgressEvent e;
  e.set_kind(proto::ProgressEvent::DASHBOARD);
  proto::DashboardProto* d = e.mutable_dashboard();
  d->set_name(u.name);
  d->set_chart(u.chart);
  d->set_top(u.top);
  d->set_window(u.window);
  d->set_keyed(u.keyed);
  d->set_batch_time_ms(u.batch_ms);
  for (const auto& [key, value] : u.points) {
    d->add_keys(key);
    d->add_values(value);
  }
  send_(e);
}

void ProgressForwarder::onBatchSubmitted(const ember::BatchInfo& b) {
  Batch(proto::ProgressEvent::BATCH_SUBMITTED, b);
}
void ProgressForwarder::onBatchStarted(const ember::BatchInfo& b) {
  Batch(proto::ProgressEvent::BATCH_STARTED, b);
}
void ProgressForwarder::onBatchCompleted(const ember::BatchInfo& b) {
  Batch(proto::ProgressEvent::BATCH_COMPLETED, b);
}
void ProgressForwarder::onOutputOperationStarted(const OutputOperationInfo& op) {
  Operation(proto::ProgressEvent::OUTPUT_OPERATION_STARTED, op);
}
void ProgressForwarder::onOutputOperationCompleted(const OutputOperationInfo& op) {
  Operation(proto::ProgressEvent::OUTPUT_OPERATION_COMPLETED, op);
}
void ProgressForwarder::onReceiverStarted(const ReceiverInfo& r) {
  Receiver(proto::ProgressEvent::RECEIVER_STARTED, r);
}
void ProgressForwarder::onReceiverError(const ReceiverInfo& r) {
  Receiver(proto::ProgressEvent::RECEIVER_ERROR, r);
}
void ProgressForwarder::onReceiverStopped(const ReceiverInfo& r) {
  Receiver(proto::ProgressEvent::RECEIVER_STOPPED, r);
}

void ApplyProgressEvent(const std::string& app_id, const proto::ProgressEvent& e,
                        std::shared_ptr<StreamingProgress>* progress) {
  if (e.kind() == proto::ProgressEvent::CONTEXT_CREATED) {
    *progress = std::make_shared<StreamingProgress>(app_id, e.name(), e.batch_interval_ms(),
                                                    static_cast<size_t>(e.retained_batches()));
    return;
  }
  StreamingProgress* p = progress->get();
  if (p == nullptr) return;
  switch (e.kind()) {
    case proto::ProgressEvent::STREAMING_STARTED:
      p->onStreamingStarted(e.time_ms());
      break;
    case proto::ProgressEvent::BATCH_SUBMITTED:
      p->onBatchSubmitted(FromProto(e.batch()));
      break;
    case proto::ProgressEvent::BATCH_STARTED:
      p->onBatchStarted(FromProto(e.batch()));
      break;
    case proto::ProgressEvent::BATCH_COMPLETED:
      p->onBatchCompleted(FromProto(e.batch()));
      break;
    case proto::ProgressEvent::OUTPUT_OPERATION_STARTED:
      p->onOutputOperationStarted(FromProto(e.operation()));
      break;
    case proto::ProgressEvent::OUTPUT_OPERATION_COMPLETED:
      p->onOutputOperationCompleted(FromProto(e.operation()));
      break;
    case proto::ProgressEvent::RECEIVER_STARTED:
      p->onReceiverStarted(FromProto(e.receiver()));
      break;
    case proto::ProgressEvent::RECEIVER_ERROR:
      p->onReceiverError(FromProto(e.receiver()));
      break;
    case proto::ProgressEvent::RECEIVER_STOPPED:
      p->onReceiverStopped(FromProto(e.receiver()));
      break;
    case proto::ProgressEvent::CONTEXT_ENDED:
      p->SetEnded(e.time_ms());
      break;
    case proto::ProgressEvent::DASHBOARD: {
      const proto::DashboardProto& d = e.dashboard();
      DashboardUpdate u;
      u.name = d.name();
      u.chart = d.chart();
      u.top = d.top();
      u.window = d.window();
      u.keyed = d.keyed();
      u.batch_ms = d.batch_time_ms();
      const int n = std::min(d.keys_size(), d.values_size());
      for (int i = 0; i < n && i < u.top; ++i) u.points.emplace_back(d.keys(i), d.values(i));
      p->AddDashboard(u);
      break;
    }
    default:
      break;
  }
}

}  // namespace internal
}  // namespace ember
