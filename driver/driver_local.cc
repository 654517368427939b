#include "driver/driver_local.h"

#include <deque>

#include "rpc/rpc.h"

namespace ember {
namespace internal {

void DriverLocalService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

grpc::Status DriverLocalService::WatchExecutors(grpc::ServerContext* context,
                                                const proto::WatchExecutorsRequest*,
                                                grpc::ServerWriter<proto::ExecutorEvent>* writer) {
  if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
  struct Queue {
    absl::Mutex mu;
    std::deque<proto::ExecutorEvent> events ABSL_GUARDED_BY(mu);
  };
  auto queue = std::make_shared<Queue>();
  // Listening first, then the snapshot: an executor added in between comes twice, which a
  // mirror takes once (Adopt ignores an executor it knows).
  int added = executors_->AddAddListener([queue](const ExecutorPtr& e) {
    proto::ExecutorEvent event;
    auto* info = event.add_added();
    info->set_executor_id(e->id);
    info->set_address(e->address);
    info->set_slots(e->slots);
    absl::MutexLock lock(&queue->mu);
    queue->events.push_back(std::move(event));
  });
  int lost = executors_->AddLossListener([queue](const ExecutorPtr& e, const std::string& why) {
    proto::ExecutorEvent event;
    event.add_lost(e->id);
    event.set_reason(why);
    absl::MutexLock lock(&queue->mu);
    queue->events.push_back(std::move(event));
  });
  int health =
      executors_->AddHealthListener([queue](const ExecutorPtr& e, const std::string& unhealthy) {
        proto::ExecutorEvent event;
        auto* info = event.add_health();
        info->set_executor_id(e->id);
        info->set_unhealthy(unhealthy);
        absl::MutexLock lock(&queue->mu);
        queue->events.push_back(std::move(event));
      });
  proto::ExecutorEvent snapshot;
  for (const auto& e : executors_->Alive()) {
    auto* info = snapshot.add_added();
    info->set_executor_id(e->id);
    info->set_address(e->address);
    info->set_slots(e->slots);
  }
  for (const auto& info : executors_->Infos()) {
    if (!info.alive() || info.unhealthy().empty()) continue;
    auto* health_info = snapshot.add_health();
    health_info->set_executor_id(info.executor_id());
    health_info->set_unhealthy(info.unhealthy());
  }
  bool open = writer->Write(snapshot);
  while (open && !context->IsCancelled()) {
    std::deque<proto::ExecutorEvent> events;
    {
      absl::MutexLock lock(&queue->mu);
      auto ready = [&queue]()
                       ABSL_SHARED_LOCKS_REQUIRED(queue->mu) { return !queue->events.empty(); };
      queue->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
      events.swap(queue->events);
    }
    for (const auto& e : events) open = open && writer->Write(e);
    absl::MutexLock lock(&mu_);
    if (shutdown_) break;
  }
  executors_->RemoveAddListener(added);
  executors_->RemoveLossListener(lost);
  executors_->RemoveHealthListener(health);
  return grpc::Status::OK;
}

grpc::Status DriverLocalService::ExecutorUnreachable(
    grpc::ServerContext* context, const proto::ExecutorUnreachableRequest* request,
    proto::ExecutorUnreachableReply*) {
  if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
  executors_->MarkLost(request->executor_id(), request->reason());
  return grpc::Status::OK;
}

grpc::Status DriverLocalService::ReportApp(grpc::ServerContext* context,
                                           const proto::ReportAppRequest* request,
                                           proto::ReportAppReply*) {
  if (auto s = rpc::CheckSecret(context, token_); !s.ok()) return s;
  jobs_->OnReport(*request);
  return grpc::Status::OK;
}

}  // namespace internal
}  // namespace ember
