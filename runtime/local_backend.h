#pragma once
// local[N]: N task slots as threads in this process, running the executor's task runner
// against in-process stores. Thread-safe; owns its worker threads.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runtime/task_backend.h"
#include "runtime/task_runner.h"

namespace ember {
namespace internal {

class LocalBackend : public TaskBackend {
 public:
  LocalBackend(int slots, TaskEnv env);
  ~LocalBackend() override;

  std::vector<absl::StatusOr<proto::TaskResult>> RunTasks(
      const std::vector<proto::TaskSpec>& tasks) override;
  int TaskSlots() const override { return static_cast<int>(workers_.size()); }

 private:
  void WorkerLoop();

  TaskEnv env_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

// Parses a local master: "local" (1 slot), "local[N]", "local[*]" (one per core),
// "local[N,F]" (F attempts per task). Returns false when `master` is not a local master.
bool ParseLocalMaster(const std::string& master, int* slots, int* max_failures);

}  // namespace internal
}  // namespace ember
