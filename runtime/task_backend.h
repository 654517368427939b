#pragma once
// Where the driver's task scheduler sends tasks. Local mode runs them on in-process slots;
// the cluster backend sends them to executors over gRPC. Both run the same task runner.

#include <vector>

#include "absl/status/statusor.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

class TaskBackend {
 public:
  virtual ~TaskBackend() = default;
  // Runs every task (in parallel, up to the free slots) and returns each one's outcome in
  // order. Blocks until all are done.
  virtual std::vector<absl::StatusOr<proto::TaskResult>> RunTasks(
      const std::vector<proto::TaskSpec>& tasks) = 0;
  // Slots available to tasks.
  virtual int TaskSlots() const = 0;
};

}  // namespace internal
}  // namespace ember
