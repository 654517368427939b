#pragma once
// Delivers a context's StreamingListener events, in order, on a thread of its own: the job
// never waits for a listener, and an exception a listener throws is logged and dropped.
// Thread-safe.

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/listener.h"

namespace ember {
namespace internal {

class ListenerBus {
 public:
  ListenerBus();
  // Delivers what was posted, then joins the thread.
  ~ListenerBus();

  void Add(std::shared_ptr<StreamingListener> listener);
  void Post(std::function<void(StreamingListener&)> event);
  // Waits (real time) until every event posted so far was delivered; false on timeout.
  bool WaitUntilEmpty(absl::Duration timeout);

 private:
  void Loop();

  absl::Mutex mu_;
  std::vector<std::shared_ptr<StreamingListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void(StreamingListener&)>> queue_ ABSL_GUARDED_BY(mu_);
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace internal
}  // namespace ember
