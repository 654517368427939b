#include "runtime/local_backend.h"

#include <regex>

#include "absl/synchronization/blocking_counter.h"

namespace ember {
namespace internal {

LocalBackend::LocalBackend(int slots, TaskEnv env) : env_(env) {
  for (int i = 0; i < std::max(1, slots); ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

LocalBackend::~LocalBackend() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  for (auto& w : workers_) w.join();
}

void LocalBackend::WorkerLoop() {
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return shutdown_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

std::vector<absl::StatusOr<proto::TaskResult>> LocalBackend::RunTasks(
    const std::vector<proto::TaskSpec>& tasks) {
  std::vector<absl::StatusOr<proto::TaskResult>> results(tasks.size(),
                                                         absl::UnknownError("not run"));
  absl::BlockingCounter done(static_cast<int>(tasks.size()));
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < tasks.size(); ++i) {
      queue_.push_back([this, &tasks, &results, &done, i] {
        results[i] = RunTask(tasks[i], env_);
        done.DecrementCount();
      });
    }
  }
  done.Wait();
  return results;
}

bool ParseLocalMaster(const std::string& master, int* slots, int* max_failures) {
  static const std::regex kLocal(R"(local(\[(\*|[0-9]+)(,([0-9]+))?\])?)");
  std::smatch m;
  if (!std::regex_match(master, m, kLocal)) return false;
  *max_failures = 1;  // as Spark: local mode does not retry unless told local[N,F]
  if (!m[1].matched) {
    *slots = 1;
  } else if (m[2] == "*") {
    *slots = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  } else {
    *slots = std::stoi(m[2]);
  }
  if (m[4].matched) *max_failures = std::stoi(m[4]);
  return *slots > 0 && *max_failures > 0;
}

}  // namespace internal
}  // namespace ember
