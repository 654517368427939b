// State checkpoints on real files: written atomically, the newest two kept, a corrupt or
// half-written newest one skipped, and a full disk (RLIMIT_FSIZE) during a write leaves the
// previous checkpoint usable.

#include "runtime/checkpoint_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace ember {
namespace internal {
namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/cp-XXXXXX";
  return mkdtemp(tmpl.data());
}

// Runs `write` with files limited to 64 KB (a full disk, as the writer sees it).
absl::Status WithFilesUpTo64K(const std::function<absl::Status()>& write) {
  signal(SIGXFSZ, SIG_IGN);
  rlimit old;
  if (getrlimit(RLIMIT_FSIZE, &old) != 0) return absl::InternalError("getrlimit");
  rlimit small = old;
  small.rlim_cur = 64 << 10;
  if (setrlimit(RLIMIT_FSIZE, &small) != 0) return absl::InternalError("setrlimit");
  absl::Status s = write();
  setrlimit(RLIMIT_FSIZE, &old);
  return s;
}

TEST(CheckpointStoreTest, NewestValidCheckpointWinsAndTwoAreKept) {
  std::string dir = TempDir();
  EXPECT_FALSE(ReadLatestStateCheckpoint(dir, 0).has_value());
  ASSERT_TRUE(WriteStateCheckpoint(dir, 0, 1000, {"a", "bb"}).ok());
  ASSERT_TRUE(WriteStateCheckpoint(dir, 0, 2000, {"c"}).ok());
  ASSERT_TRUE(WriteStateCheckpoint(dir, 0, 3000, {"d", "", "e"}).ok());
  auto cp = ReadLatestStateCheckpoint(dir, 0);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->time_ms, 3000);
  EXPECT_EQ(cp->parts, (std::vector<std::string>{"d", "", "e"}));
  EXPECT_FALSE(std::filesystem::exists(dir + "/state-0/1000"));
  // Other streams are separate.
  EXPECT_FALSE(ReadLatestStateCheckpoint(dir, 1).has_value());

  // A corrupt part or a missing manifest: the one before.
  { std::ofstream(dir + "/state-0/3000/part-00002", std::ios::trunc) << "x"; }
  cp = ReadLatestStateCheckpoint(dir, 0);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->time_ms, 2000);
  std::filesystem::remove(dir + "/state-0/2000/MANIFEST");
  EXPECT_FALSE(ReadLatestStateCheckpoint(dir, 0).has_value());
}

TEST(CheckpointStoreTest, AFullDiskDuringAWriteLeavesThePreviousCheckpoint) {
  std::string dir = TempDir();
  ASSERT_TRUE(WriteStateCheckpoint(dir, 0, 1000, {std::string(1000, 'a')}).ok());
  // Files may not grow beyond 64 KB now: the next checkpoint's part cannot be written.
  absl::Status s = WithFilesUpTo64K(
      [&] { return WriteStateCheckpoint(dir, 0, 2000, {std::string(1 << 20, 'b')}); });
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_FALSE(std::filesystem::exists(dir + "/state-0/2000.tmp"));
  auto cp = ReadLatestStateCheckpoint(dir, 0);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->time_ms, 1000);
  EXPECT_EQ(cp->parts[0], std::string(1000, 'a'));
}

TEST(CheckpointStoreTest, MetadataCheckpointsKeepThreeAndSurviveAFullDisk) {
  std::string dir = TempDir();
  EXPECT_FALSE(ReadLatestMetadataCheckpoint(dir).has_value());
  for (int64_t t = 1000; t <= 5000; t += 1000) {
    proto::MetadataCheckpoint cp;
    cp.set_time_ms(t);
    cp.set_completed_ms(t);
    ASSERT_TRUE(WriteMetadataCheckpoint(dir, cp).ok());
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/metadata")) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint-3", "checkpoint-4", "checkpoint-5"}));
  // A full disk: the write fails, nothing torn is left, the newest complete one is read.
  proto::MetadataCheckpoint big;
  big.set_time_ms(6000);
  big.add_graph(std::string(1 << 20, 'g'));
  absl::Status s = WithFilesUpTo64K([&] { return WriteMetadataCheckpoint(dir, big); });
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_FALSE(std::filesystem::exists(dir + "/metadata/checkpoint-6.tmp"));
  auto cp = ReadLatestMetadataCheckpoint(dir);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->time_ms(), 5000);
  // A torn newest one (a crash mid-write without the rename) is skipped.
  {
    std::ofstream torn(dir + "/metadata/checkpoint-6", std::ios::binary);
    torn << "EMCP 100 123\nshort";
  }
  cp = ReadLatestMetadataCheckpoint(dir);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->time_ms(), 5000);
}

TEST(CheckpointStoreTest, TheKeptSubmissionIsReadBackOrRefused) {
  std::string dir = TempDir();
  EXPECT_TRUE(absl::IsNotFound(ReadCheckpointSubmission(dir).status()));
  std::string submission(100000, 'p');
  ASSERT_TRUE(WriteCheckpointSubmission(dir, submission).ok());
  auto read = ReadCheckpointSubmission(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, submission);
  // A full disk leaves the previous copy.
  absl::Status s =
      WithFilesUpTo64K([&] { return WriteCheckpointSubmission(dir, std::string(1 << 20, 'q')); });
  EXPECT_FALSE(s.ok());
  read = ReadCheckpointSubmission(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, submission);
  // A damaged one is refused, not half read.
  {
    std::fstream f(dir + "/submission", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('x');
  }
  EXPECT_TRUE(absl::IsDataLoss(ReadCheckpointSubmission(dir).status()));
}

}  // namespace
}  // namespace internal
}  // namespace ember
