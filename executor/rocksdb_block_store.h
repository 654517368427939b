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
// error), its Resume() does not clear that, and Debian's build (assertions on) aborts the
// process in a later write or sync of the log that failed. So after a failed write the store
// is failed (failure()): every Put and Remove is refused without reaching RocksDB, reads go
// on, and Reopen() (once the cause is fixed: space freed) closes and opens the database again,
// which clears it. No file whose write failed is written again: RocksDB's info log goes to
// glog, and each write-ahead log is preallocated whole when made, or not made (a memtable
// switch that cannot have its log fails the write); flushes drop their failed files.

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
    // RocksDB's memtable; its write-ahead log preallocates about as much, so that appends to
    // the log never meet a full disk.
    size_t write_buffer_bytes = 16 << 20;
    // A Put that would leave less than this free on the directory's filesystem fails the
    // store (ResourceExhausted) before RocksDB writes: room for a memtable flush and the next
    // log, so that RocksDB itself never runs out of space (Debian's 7.8, built with assertions,
    // aborts the process on the failed write's next use of its log). 0: no check (tests).
    uint64_t min_free_bytes = 2 * (16 << 20);
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

  // OK, or the first write failure since the store was (re)opened: the store takes no writes.
  absl::Status failure() const;
  const Options& options() const { return options_; }
  // Closes and opens the database again (waiting for writes in progress): writes are taken
  // again when it succeeds. The blocks stored stay.
  absl::Status Reopen();

  const std::string& path() const { return options_.path; }
  // The bytes free to this process on the store's filesystem; UINT64_MAX when unknown.
  uint64_t free_bytes() const;

 private:
  RocksDbBlockStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
                    absl::flat_hash_set<std::string> ids);
  static absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenDb(const Options& options,
                                                             absl::flat_hash_set<std::string>* ids);
  // Records the first failure; returns `s`.
  absl::Status Fail(const absl::Status& s);
  // Why a write is refused now; OK when it is not.
  absl::Status Refused() const;

  const Options options_;

  // Held across each RocksDB write and the index update after it: two writers racing on one id
  // (a Put and a Remove) could otherwise apply in one order in RocksDB and the other in ids_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(db_mu_);
  // Shared by every use of db_, exclusive while Reopen replaces it.
  mutable absl::Mutex db_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(db_mu_);
  // Guards ids_ and failure_ only, briefly, so size() and ListBlockIds never wait on a write's
  // fsync.
  mutable absl::Mutex mu_;
  // The ids RocksDB holds: rebuilt at Open from the index keys, kept in step by every write.
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ember
