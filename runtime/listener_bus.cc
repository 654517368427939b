#include "runtime/listener_bus.h"

#include <glog/logging.h>

#include <exception>

namespace ember {
namespace internal {

ListenerBus::ListenerBus() {
  thread_ = std::thread([this] { Loop(); });
}

ListenerBus::~ListenerBus() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void ListenerBus::Add(std::shared_ptr<StreamingListener> listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void ListenerBus::Post(std::function<void(StreamingListener&)> event) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(event));
}

bool ListenerBus::WaitUntilEmpty(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto empty = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return queue_.empty() && !delivering_; };
  return mu_.AwaitWithTimeout(absl::Condition(&empty), timeout);
}

void ListenerBus::Loop() {
  while (true) {
    std::function<void(StreamingListener&)> event;
    std::vector<std::shared_ptr<StreamingListener>> listeners;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and everything was delivered
      event = std::move(queue_.front());
      queue_.pop_front();
      listeners = listeners_;
      delivering_ = true;
    }
    for (const auto& l : listeners) {
      try {
        event(*l);
      } catch (const std::exception& e) {
        LOG(ERROR) << "a StreamingListener threw (the job goes on): " << e.what();
      } catch (...) {
        LOG(ERROR) << "a StreamingListener threw (the job goes on)";
      }
    }
    absl::MutexLock lock(&mu_);
    delivering_ = false;
  }
}

}  // namespace internal
}  // namespace ember
