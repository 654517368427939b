#pragma once
// The executor's persistent BlockStore (DESIGN.md decision 6): blocks live in one RocksDB
// database per executor data directory, so that an executor restarted on the same directory
// still holds its blocks and can re-report them to the driver (ListBlockIds).
//
// Thread-safety: every method may be called from any thread; mutations are serialized
// internally so that the block count always matches what RocksDB holds.
//
// Errors (decision 9): no RocksDB failure aborts the process. Each one becomes an absl::Status
// whose message names the directory and the operation. A failed write stores nothing, and every
// block stored before it stays readable (RocksDB keeps serving reads after a write error).
// But RocksDB 7.8 refuses every later write once a log write has failed (disk full, I/O
// error), and its Resume() does not clear that: writes work again only after the store is
// destroyed and reopened, which the owner does once the cause is fixed.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/block_store.h"

// Forward-declared so that code including this header needs no RocksDB headers.
namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace ember {
namespace internal {

class RocksDbBlockStore : public BlockStore {
 public:
  struct Options {
    // The database directory, created if missing. The store owns it alone: RocksDB locks it,
    // so a second Open of the same directory (in any process) fails until the first closes.
    std::string path;
    // true: Put/Remove return only after the write-ahead log is fsynced, so a block reported
    // to the driver survives a machine crash. false: it survives a process crash only.
    bool sync_writes = true;
    // Larger blocks are refused (InvalidArgument); RocksDB holds a value in memory whole.
    size_t max_block_bytes = 256 << 20;
  };

  // Opens (or creates) the store at options.path and counts the blocks already there.
  static absl::StatusOr<std::unique_ptr<RocksDbBlockStore>> Open(const Options& options);

  ~RocksDbBlockStore() override;
  RocksDbBlockStore(const RocksDbBlockStore&) = delete;
  RocksDbBlockStore& operator=(const RocksDbBlockStore&) = delete;

  // Stores (or replaces) a block. InvalidArgument if over max_block_bytes; a RocksDB error
  // (disk full: ResourceExhausted) otherwise. Nothing is stored when it fails.
  absl::Status Put(const std::string& id, std::string bytes) override;
  // NotFound if the block is not stored; DataLoss if RocksDB finds it corrupted.
  absl::StatusOr<std::shared_ptr<const std::string>> Get(const std::string& id) const override;
  // BlockStore's Remove returns nothing, so a failure is logged; callers that must know use
  // TryRemove. Unknown ids are ignored.
  void Remove(const std::vector<std::string>& ids) override;
  // Deletes the stored blocks among `ids` in one atomic write: all of them or none.
  absl::Status TryRemove(const std::vector<std::string>& ids);
  // The number of blocks stored.
  size_t size() const override;

  // Ids of the stored blocks that start with `prefix` ("" for all), sorted.
  std::vector<std::string> ListBlockIds(const std::string& prefix) const;

  const std::string& path() const { return options_.path; }

 private:
  RocksDbBlockStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
                    absl::flat_hash_set<std::string> ids);

  const Options options_;
  const std::unique_ptr<rocksdb::DB> db_;

  // Held across each RocksDB write and the index update after it: two writers racing on one id
  // (a Put and a Remove) could otherwise apply in one order in RocksDB and the other in ids_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Guards ids_ only, briefly, so size() and ListBlockIds never wait on a write's fsync.
  mutable absl::Mutex mu_;
  // The ids RocksDB holds: rebuilt at Open from the index keys, kept in step by every write.
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
