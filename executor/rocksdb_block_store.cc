#include "executor/rocksdb_block_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
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

// A full disk must never reach a file RocksDB appends to again after a failed write: Debian's
// RocksDB 7.8, built with assertions, aborts the process on such a file's next use. Two files
// are kept from it:
//
// RocksDB's info log goes to glog instead of a LOG file in the directory (warnings and errors
// as warnings; the rest at verbosity 2).
class GlogLogger : public rocksdb::Logger {
 public:
  explicit GlogLogger(std::string path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), path_(std::move(path)) {}
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    bool warning =
        level >= rocksdb::InfoLogLevel::WARN_LEVEL && level != rocksdb::InfoLogLevel::HEADER_LEVEL;
    if (!warning && !VLOG_IS_ON(2)) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    if (warning) {
      LOG(WARNING) << "rocksdb " << path_ << ": " << line;
    } else {
      VLOG(2) << "rocksdb " << path_ << ": " << line;
    }
  }

 private:
  const std::string path_;
};

// Each write-ahead log gets its whole preallocation (what a memtable writes to it) when it is
// made, or is not made: RocksDB's own preallocation ignores a failure, and an append past it
// onto a full disk would fail the log. A log that cannot be had fails the write that needed
// it (RocksDB's memtable switch), cleanly; the store then refuses writes until Reopen.
class PreallocatingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  PreallocatingFileSystem(std::shared_ptr<rocksdb::FileSystem> base, uint64_t log_bytes)
      : rocksdb::FileSystemWrapper(std::move(base)), log_bytes_(log_bytes) {}
  static const char* kClassName() { return "EmberPreallocatingFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, result, dbg);
    if (!s.ok() || !absl::EndsWith(name, ".log")) return s;
    s = (*result)->Allocate(0, log_bytes_, rocksdb::IOOptions(), dbg);
    // Only a full disk counts: a filesystem without fallocate goes on as RocksDB would.
    if (s.ok() || !s.IsNoSpace()) return rocksdb::IOStatus::OK();
    result->reset();
    target()->DeleteFile(name, rocksdb::IOOptions(), dbg).PermitUncheckedError();
    return rocksdb::IOStatus::NoSpace("cannot preallocate the write-ahead log " + name,
                                      s.ToString());
  }

 private:
  const uint64_t log_bytes_;
};

// One Env per log size, for the life of the process (a DB must not outlive its Env).
rocksdb::Env* PreallocatingEnv(uint64_t log_bytes) {
  static std::mutex mu;
  static auto* envs = new std::map<uint64_t, std::unique_ptr<rocksdb::Env>>;
  std::lock_guard<std::mutex> lock(mu);
  auto& env = (*envs)[log_bytes];
  if (env == nullptr) {
    env = rocksdb::NewCompositeEnv(
        std::make_shared<PreallocatingFileSystem>(rocksdb::FileSystem::Default(), log_bytes));
  }
  return env.get();
}

}  // namespace

absl::StatusOr<std::unique_ptr<rocksdb::DB>> RocksDbBlockStore::OpenDb(
    const Options& options, absl::flat_hash_set<std::string>* ids_out) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("block store: Options.path is empty");
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.info_log = std::make_shared<GlogLogger>(options.path);
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.env = PreallocatingEnv(options.write_buffer_bytes + options.write_buffer_bytes / 10);

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
  *ids_out = std::move(ids);
  return db;
}

absl::StatusOr<std::unique_ptr<RocksDbBlockStore>> RocksDbBlockStore::Open(const Options& options) {
  absl::flat_hash_set<std::string> ids;
  auto db = OpenDb(options, &ids);
  if (!db.ok()) return db.status();
  return std::unique_ptr<RocksDbBlockStore>(
      new RocksDbBlockStore(options, std::move(*db), std::move(ids)));
}

RocksDbBlockStore::RocksDbBlockStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
                                     absl::flat_hash_set<std::string> ids)
    : options_(options), db_(std::move(db)), ids_(std::move(ids)) {}

RocksDbBlockStore::~RocksDbBlockStore() {
  // No SyncWAL() for sync_writes = false: after a failed log write, Debian's RocksDB 7.8 (built
  // with assertions on) aborts the process in SyncWAL/FlushWAL. Close() is safe either way.
  absl::MutexLock lock(&db_mu_);
  if (db_ == nullptr) return;  // a Reopen that failed
  rocksdb::Status s = db_->Close();
  if (!s.ok()) LOG(WARNING) << FromRocksDb(s, options_.path, "close");
}

absl::Status RocksDbBlockStore::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

absl::Status RocksDbBlockStore::Fail(const absl::Status& s) {
  absl::MutexLock lock(&mu_);
  if (failure_.ok()) {
    failure_ = s;
    LOG(ERROR) << "block store " << options_.path << " failed; it takes no more writes until it is "
               << "reopened: " << s;
  }
  return s;
}

absl::Status RocksDbBlockStore::Refused() const {
  absl::MutexLock lock(&mu_);
  if (failure_.ok()) return absl::OkStatus();
  return absl::Status(failure_.code() == absl::StatusCode::kResourceExhausted
                          ? absl::StatusCode::kResourceExhausted
                          : absl::StatusCode::kUnavailable,
                      absl::StrCat("block store ", options_.path,
                                   " takes no writes since a write failed: ", failure_.message()));
}

absl::Status RocksDbBlockStore::Reopen() {
  absl::MutexLock write_lock(&write_mu_);
  absl::MutexLock lock(&db_mu_);
  if (db_ != nullptr) {
    rocksdb::Status closed = db_->Close();
    if (!closed.ok()) LOG(WARNING) << FromRocksDb(closed, options_.path, "close");
    db_.reset();
  }
  absl::flat_hash_set<std::string> ids;
  auto db = OpenDb(options_, &ids);
  if (!db.ok()) {
    // Whatever could not be opened, the directory is still there: the next Reopen tries again.
    absl::MutexLock ids_lock(&mu_);
    failure_ = db.status();
    return db.status();
  }
  db_ = std::move(*db);
  absl::MutexLock ids_lock(&mu_);
  ids_ = std::move(ids);
  failure_ = absl::OkStatus();
  LOG(INFO) << "block store " << options_.path << " reopened: it takes writes again";
  return absl::OkStatus();
}

uint64_t RocksDbBlockStore::free_bytes() const {
  struct statvfs fs;
  if (statvfs(options_.path.c_str(), &fs) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

absl::Status RocksDbBlockStore::Put(const std::string& id, std::string bytes) {
  if (bytes.size() > options_.max_block_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("block store ", options_.path, ": put block ", id, ": ", bytes.size(),
                     " bytes is over max_block_bytes (", options_.max_block_bytes, ")"));
  }
  if (options_.min_free_bytes > 0) {
    uint64_t free = free_bytes();
    if (free < options_.min_free_bytes + bytes.size()) {
      return Fail(absl::ResourceExhaustedError(
          absl::StrCat("block store ", options_.path, ": put block ", id,
                       ": No space left on device (", free >> 20, " MB free; the store keeps ",
                       options_.min_free_bytes >> 20, " MB free for RocksDB)")));
    }
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
  if (absl::Status refused = Refused(); !refused.ok()) return refused;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    s = db_->Write(write_options, &batch);
  }
  // A failed write applied nothing (RocksDB inserts into the memtable only after the log
  // write succeeds), so ids_ stays as it was; no write reaches RocksDB again until Reopen.
  if (!s.ok()) return Fail(FromRocksDb(s, options_.path, absl::StrCat("put block ", id)));
  absl::MutexLock lock(&mu_);
  ids_.insert(id);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> RocksDbBlockStore::Get(
    const std::string& id) const {
  // Shared: RocksDB reads are thread-safe, and a Get racing a Remove may see either state.
  std::string value;
  rocksdb::Status s;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    if (db_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("block store ", options_.path, " is closed: it could not be reopened"));
    }
    s = db_->Get(rocksdb::ReadOptions(), Key(kDataTag, id), &value);
  }
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
  if (absl::Status refused = Refused(); !refused.ok()) return refused;

  rocksdb::WriteBatch batch;
  for (const auto& id : doomed) {
    rocksdb::Status s = batch.Delete(Key(kDataTag, id));
    if (s.ok()) s = batch.Delete(Key(kIndexTag, id));
    if (!s.ok()) return FromRocksDb(s, options_.path, absl::StrCat("remove block ", id));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  rocksdb::Status s;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    s = db_->Write(write_options, &batch);
  }
  if (!s.ok()) {
    return Fail(FromRocksDb(s, options_.path, absl::StrCat("remove ", doomed.size(), " blocks")));
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
