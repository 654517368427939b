#include "executor/rocksdb_block_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/status.h"
#include "rocksdb/write_batch.h"

namespace ember {
namespace internal {
namespace {

// Each block is two keys written and deleted in one batch: the bytes under 'b'+id and an empty
// index entry under 'i'+id. Open counts blocks by scanning the index keys alone, which sort
// together away from the bytes, so a restart reads a few KB instead of every stored block.
constexpr char kDataTag = 'b';
constexpr char kIndexTag = 'i';

std::string Key(char tag, const std::string& id) {
  std::string key;
  key.reserve(id.size() + 1);
  key.push_back(tag);
  key.append(id);
  return key;
}

absl::StatusCode CodeOf(const rocksdb::Status& s) {
  // The subcodes first: they refine kIOError into what a caller can act on.
  if (s.IsNoSpace()) return absl::StatusCode::kResourceExhausted;
  if (s.IsPathNotFound()) return absl::StatusCode::kNotFound;
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::StatusCode::kNotFound;
    case rocksdb::Status::kCorruption:
      return absl::StatusCode::kDataLoss;
    case rocksdb::Status::kNotSupported:
      return absl::StatusCode::kUnimplemented;
    case rocksdb::Status::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case rocksdb::Status::kAborted:
      return absl::StatusCode::kAborted;
    // The device or filesystem failed, or the DB is busy or closing: the request was sound,
    // the store could not serve it now.
    case rocksdb::Status::kIOError:
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kIncomplete:
    case rocksdb::Status::kShutdownInProgress:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

// RocksDB's own message often names only a file inside the directory, and never what the
// store was doing; an operator reading the executor's log needs both.
absl::Status FromRocksDb(const rocksdb::Status& s, const std::string& path, absl::string_view op,
                         absl::StatusCode io_error_code = absl::StatusCode::kUnavailable) {
  absl::StatusCode code = CodeOf(s);
  if (code == absl::StatusCode::kUnavailable && s.IsIOError()) code = io_error_code;
  return absl::Status(code, absl::StrCat("block store ", path, ": ", op, ": ", s.ToString()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbBlockStore>> RocksDbBlockStore::Open(const Options& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("block store: Options.path is empty");
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  // Every Open starts a new info LOG and RocksDB keeps 1000 old ones by default; an executor
  // restarted often would fill its data directory with them.
  db_options.keep_log_file_num = 5;

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
  // An I/O error here nearly always means the directory is unusable as configured (a file,
  // not writable, locked by another store), which retrying will not change.
  if (!s.ok()) {
    return FromRocksDb(s, options.path, "open", absl::StatusCode::kFailedPrecondition);
  }
  std::unique_ptr<rocksdb::DB> db(raw);

  absl::flat_hash_set<std::string> ids;
  {
    const std::string lower(1, kIndexTag);
    const std::string upper(1, kIndexTag + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &upper_slice;
    read_options.fill_cache = false;  // a one-off scan; keep the cache for block reads
    // Scoped so that it is destroyed before db (on every return), as RocksDB requires.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      rocksdb::Slice key = it->key();
      key.remove_prefix(1);
      ids.insert(key.ToString());
    }
    if (!it->status().ok()) return FromRocksDb(it->status(), options.path, "scan block index");
  }
  LOG(INFO) << "Block store " << options.path << " opened holding " << ids.size() << " blocks";
  return std::unique_ptr<RocksDbBlockStore>(
      new RocksDbBlockStore(options, std::move(db), std::move(ids)));
}

RocksDbBlockStore::RocksDbBlockStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
                                     absl::flat_hash_set<std::string> ids)
    : options_(options), db_(std::move(db)), ids_(std::move(ids)) {}

RocksDbBlockStore::~RocksDbBlockStore() {
  // No SyncWAL() for sync_writes = false: after a failed log write, Debian's RocksDB 7.8 (built
  // with assertions on) aborts the process in SyncWAL/FlushWAL. Close() is safe either way.
  rocksdb::Status s = db_->Close();
  if (!s.ok()) LOG(WARNING) << FromRocksDb(s, options_.path, "close");
}

absl::Status RocksDbBlockStore::Put(const std::string& id, std::string bytes) {
  if (bytes.size() > options_.max_block_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("block store ", options_.path, ": put block ", id, ": ", bytes.size(),
                     " bytes is over max_block_bytes (", options_.max_block_bytes, ")"));
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Put(Key(kDataTag, id), bytes);
  if (s.ok()) s = batch.Put(Key(kIndexTag, id), rocksdb::Slice());
  if (!s.ok()) return FromRocksDb(s, options_.path, absl::StrCat("put block ", id));
  // The batch holds its own copy: free the caller's before the (possibly long) write.
  std::string().swap(bytes);

  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  absl::MutexLock write_lock(&write_mu_);
  s = db_->Write(write_options, &batch);
  // A failed write applied nothing (RocksDB inserts into the memtable only after the log
  // write succeeds), so ids_ stays as it was.
  if (!s.ok()) return FromRocksDb(s, options_.path, absl::StrCat("put block ", id));
  absl::MutexLock lock(&mu_);
  ids_.insert(id);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> RocksDbBlockStore::Get(
    const std::string& id) const {
  // No lock: RocksDB reads are thread-safe, and a Get racing a Remove may see either state.
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kDataTag, id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("block ", id, " is not stored in block store ", options_.path));
  }
  if (!s.ok()) return FromRocksDb(s, options_.path, absl::StrCat("get block ", id));
  return std::make_shared<const std::string>(std::move(value));
}

void RocksDbBlockStore::Remove(const std::vector<std::string>& ids) {
  absl::Status s = TryRemove(ids);
  if (!s.ok()) LOG(ERROR) << s;
}

absl::Status RocksDbBlockStore::TryRemove(const std::vector<std::string>& ids) {
  absl::MutexLock write_lock(&write_mu_);
  // Only stored ids, once each: deleting an absent key would still write a tombstone.
  absl::flat_hash_set<std::string> doomed;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& id : ids) {
      if (ids_.contains(id)) doomed.insert(id);
    }
  }
  if (doomed.empty()) return absl::OkStatus();

  rocksdb::WriteBatch batch;
  for (const auto& id : doomed) {
    rocksdb::Status s = batch.Delete(Key(kDataTag, id));
    if (s.ok()) s = batch.Delete(Key(kIndexTag, id));
    if (!s.ok()) return FromRocksDb(s, options_.path, absl::StrCat("remove block ", id));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  rocksdb::Status s = db_->Write(write_options, &batch);
  if (!s.ok()) {
    return FromRocksDb(s, options_.path, absl::StrCat("remove ", doomed.size(), " blocks"));
  }
  absl::MutexLock lock(&mu_);
  for (const auto& id : doomed) ids_.erase(id);
  return absl::OkStatus();
}

size_t RocksDbBlockStore::size() const {
  absl::MutexLock lock(&mu_);
  return ids_.size();
}

std::vector<std::string> RocksDbBlockStore::ListBlockIds(const std::string& prefix) const {
  // From the in-memory index rather than a RocksDB scan: it matches RocksDB exactly (see
  // write_mu_) and, unlike a scan, cannot fail half-way with an I/O error.
  std::vector<std::string> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& id : ids_) {
      if (absl::StartsWith(id, prefix)) out.push_back(id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace internal
}  // namespace ember
