#pragma once
// Local mode's ContextServices: the executor side in this process. Tasks run on `slots`
// threads (LocalBackend) against in-process stores; receivers run under the same supervisor
// the executors use, their blocks in memory. Thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runtime/block_store.h"
#include "runtime/context_services.h"
#include "runtime/local_backend.h"
#include "runtime/receiver_supervisor.h"
#include "util/clock.h"
#include "util/op_registry.h"

namespace ember {
namespace internal {

using OutputSink = std::function<void(const std::string&)>;

class LocalServices final : public ContextServices {
 public:
  struct Options {
    std::string master;  // for messages
    int slots = 1;
    const OpResolver* ops = nullptr;  // the job's operators (tasks, receiver factories)
    Clock* clock = nullptr;           // the context's (receivers cut blocks by it)
    OutputSink sink;
  };
  explicit LocalServices(Options options);
  ~LocalServices() override;

  TaskBackend* backend() override { return backend_.get(); }
  int TotalSlots() override { return options_.slots; }
  void ReserveSlotsForReceivers(int receivers) override;
  void UpdateReceiverRate(int stream_id, double rate) override;
  absl::Status StartReceivers(const std::vector<proto::OpSpec>& factories, ReceiverTracker* tracker,
                              const ReceiverSettings& settings) override;
  void StopReceivers() override;
  void RemoveBlocks(std::vector<std::string> ids) override { blocks_.Remove(ids); }
  void ReleaseShuffle(int shuffle_id) override { shuffles_.RemoveShuffle(shuffle_id); }
  void EndBatchCleanup(const std::string&, int64_t) override { cache_.Clear(); }
  void Emit(const std::string& text) override { options_.sink(text); }
  bool BlocksOutliveTheDriver() const override { return false; }
  void Attach() override {}
  void Detach() override { StopReceivers(); }

  // For tests and benchmarks: what this process's "executor" holds.
  const BlockStore& block_store() const { return blocks_; }
  const ShuffleStore& shuffle_store() const { return shuffles_; }
  StateStore& state_store() { return states_; }

 private:
  void BuildBackend(int slots);

  const Options options_;
  MemoryBlockStore blocks_;
  ShuffleStore shuffles_;
  PartitionCache cache_;
  StateStore states_;
  std::unique_ptr<LocalBackend> backend_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<ReceiverSupervisor>> supervisors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
