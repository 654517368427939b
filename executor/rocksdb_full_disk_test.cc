// The block store on a disk that another writer fills behind its back: a tmpfs this test
// mounts, with the store's own free-space check off (min_free_bytes = 0), so that RocksDB
// itself meets the full disk. The process must not abort (Debian's RocksDB 7.8, built with
// assertions, aborts on the next use of a log whose write failed): the store fails, keeps
// serving what it holds, and after space returns a Reopen takes writes again with every block
// stored before still there.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "executor/rocksdb_block_store.h"
#include "tests/process.h"
#include "tests/tmpfs.h"

namespace ember {
namespace internal {
namespace {

// Fills a 48 MB tmpfs behind a store (4 MB memtable) until `leave` bytes are free, then puts
// blocks of `block_bytes` until one fails; checks the store failed without an abort, kept
// what it held, and takes writes again after the space returns and a Reopen.
void FillBehindTheStore(uint64_t leave, size_t block_bytes) {
  std::string dir = testing::MakeTempDir("full-disk");
  ASSERT_FALSE(dir.empty());
  testing::Tmpfs tmpfs(dir + "/disk", 48);
  ASSERT_EQ(tmpfs.error(), "");
  RocksDbBlockStore::Options options;
  options.path = dir + "/disk/blocks";
  options.sync_writes = false;
  options.write_buffer_bytes = 4 << 20;
  options.min_free_bytes = 0;  // no check: as if another writer took the space after it
  auto store = RocksDbBlockStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();

  ASSERT_GT(testing::FillUntil(dir + "/disk/ballast", leave), 0);
  const std::string block(block_bytes, 'x');
  int stored = 0;
  absl::Status failed;
  for (int i = 0; i < 400 && failed.ok(); ++i) {
    failed = (*store)->Put("b" + std::to_string(i), block);
    if (failed.ok()) ++stored;
  }
  ASSERT_FALSE(failed.ok()) << "the disk never filled";
  EXPECT_GT(stored, 0);
  EXPECT_FALSE((*store)->failure().ok());
  // Refused from now on, without reaching RocksDB; what it holds is still read.
  EXPECT_FALSE((*store)->Put("later", "y").ok());
  auto first = (*store)->Get("b0");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(**first, block);

  // Space returns: reopened, every block stored before is there and writes are taken.
  std::filesystem::remove(dir + "/disk/ballast");
  ASSERT_TRUE((*store)->Reopen().ok()) << (*store)->failure();
  EXPECT_EQ((*store)->size(), static_cast<size_t>(stored));
  for (int i = 0; i < stored; ++i) {
    auto b = (*store)->Get("b" + std::to_string(i));
    ASSERT_TRUE(b.ok()) << i << ": " << b.status();
  }
  EXPECT_TRUE((*store)->Put("after", "z").ok());
  store->reset();  // closed before the mount goes
}

// The memtable's flush meets the full disk (RocksDB then writes an error to its info log,
// which Debian's build aborted on when the log was a file on the same disk).
TEST(RocksDbFullDiskTest, AFlushMeetingAFullDiskFailsTheStoreWithoutAnAbort) {
  FillBehindTheStore(6 << 20, 256 << 10);
}

// The next write-ahead log cannot be had: RocksDB's own preallocation would ignore that, and
// the first append past it would fail the log.
TEST(RocksDbFullDiskTest, ALogThatCannotBePreallocatedFailsTheStoreWithoutAnAbort) {
  FillBehindTheStore(512 << 10, 1 << 20);
}

}  // namespace
}  // namespace internal
}  // namespace ember
