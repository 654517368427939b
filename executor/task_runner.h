#pragma once
// Runs one task: evaluates its tree of operators (proto::ComputeNode) into a partition, then
// writes shuffle buckets or computes the result bytes. A user function that throws fails the
// task with its message; nothing a task spec contains can crash the process.

#include "absl/status/statusor.h"
#include "common/op_registry.h"
#include "executor/block_store.h"
#include "proto/task.pb.h"

namespace ember {
namespace internal {

struct TaskEnv {
  const OpResolver* ops = nullptr;
  BlockStore* blocks = nullptr;
  ShuffleStore* shuffles = nullptr;
  PartitionCache* cache = nullptr;
};

absl::StatusOr<proto::TaskResult> RunTask(const proto::TaskSpec& spec, const TaskEnv& env);

// Reads a text file as lines (\n, \r\n), or fixed-length binary records, as Hadoop's
// TextInputFormat and FixedLengthInputFormat do.
absl::StatusOr<std::vector<std::string>> ReadFileRecords(const proto::FileInput& file);

}  // namespace internal
}  // namespace ember
