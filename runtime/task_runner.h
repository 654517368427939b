#pragma once
// Runs one task: evaluates its tree of operators (proto::ComputeNode) into a partition, then
// writes shuffle buckets or computes the result bytes. A user function that throws fails the
// task with its message; nothing a task spec contains can crash the process.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/task.pb.h"
#include "runtime/block_store.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

struct TaskEnv {
  const OpResolver* ops = nullptr;
  BlockStore* blocks = nullptr;
  ShuffleStore* shuffles = nullptr;
  PartitionCache* cache = nullptr;
  StateStore* states = nullptr;
  // Cluster executors only. A block this executor does not hold is fetched from the block's
  // locations; a reduce task's buckets come from the executors that ran the maps.
  std::function<absl::StatusOr<std::shared_ptr<const std::string>>(const proto::BlockInput&)>
      fetch_block;
  // One bucket (this reducer's) per map of `ref`, in map order; NotFound names a lost output.
  std::function<absl::StatusOr<std::vector<std::string>>(const proto::ShuffleRef& ref,
                                                         int reduce_id)>
      fetch_shuffle;
};

absl::StatusOr<proto::TaskResult> RunTask(const proto::TaskSpec& spec, const TaskEnv& env);

// Reads a text file as lines (\n, \r\n), or fixed-length binary records, as Hadoop's
// TextInputFormat and FixedLengthInputFormat do.
absl::StatusOr<std::vector<std::string>> ReadFileRecords(const proto::FileInput& file);
// A file stream's input file, whole (NOT_FOUND naming it when it cannot be read).
absl::StatusOr<std::string> ReadInputFile(const std::string& path);

}  // namespace internal
}  // namespace ember
