// The full-disk drill, with real processes: the executor running a reliable receiver has its
// data directory on a small tmpfs this test mounts, and the test fills it while the receiver
// stores. The executor must not abort: its block store fails into a health state the driver
// logs and shows, the receiver moves to the other executor (its blocks going to that peer
// meanwhile), no acknowledged record is lost, and once space returns the executor stores
// blocks again. The mount is removed by its guard, also when the test fails.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"
#include "tests/tmpfs.h"

namespace ember {
namespace clustertest {
namespace {

using testing::FillUntil;
using testing::Tmpfs;

TEST(DiskFullTest, AFullDiskMovesTheReceiverLosesNothingAndHeals) {
  std::string dir = MakeTempDir("disk-full");
  // 128 MB: room for the block store (which keeps 32 MB free) and the plugin, then filled.
  Tmpfs tmpfs(dir + "/exec0", 128);
  ASSERT_EQ(tmpfs.error(), "");
  // exec-1 (on the tmpfs) registers first, so the receiver goes there.
  Cluster cluster(dir, 1);
  ASSERT_TRUE(cluster.WaitForExecutors(1)) << cluster.driver().Stderr();
  cluster.AddExecutor();
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();

  constexpr int64_t kNumbers = 30000;
  {
    std::ofstream numbers(dir + "/numbers.txt");
    for (int64_t i = 1; i <= kNumbers; ++i) numbers << i << "\n";
  }
  Subprocess job(
      cluster.Submit({"--name", "acked", "tests/jobs/libacked_file.so", "--", dir + "/numbers.txt",
                      dir + "/acks", dir + "/out", "2000", "500", "120000"}),
      dir, "submit");
  std::string app;
  ASSERT_TRUE(Eventually([&] { return !(app = AppIdIn(job.Stderr())).empty(); }, 30s))
      << job.Stderr();
  auto receiver_on = [&] { return cluster.ReceiverExecutor(app); };
  ASSERT_TRUE(Eventually([&] { return receiver_on() == "exec-1"; }, 30s))
      << receiver_on() << cluster.driver().Stderr();
  ASSERT_TRUE(Eventually([&] { return SavedNumbers(dir, "out").size() >= 2000; }, 30s))
      << cluster.driver().Stderr();

  // The disk fills up to 16 MB free: the next block is refused before RocksDB writes it (the
  // store keeps 32 MB free).
  int64_t filled = FillUntil(dir + "/exec0/ballast", 16 << 20);
  ASSERT_GT(filled, 0);
  auto health = [&](const std::string& id) {
    for (const auto& [address, info] : cluster.LiveExecutors()) {
      if (info.executor_id() == id) return info.unhealthy();
    }
    return std::string("(not live)");
  };
  ASSERT_TRUE(Eventually([&] { return !health("exec-1").empty(); }, 30s))
      << cluster.driver().Stderr();
  EXPECT_NE(health("exec-1").find("No space left on device"), std::string::npos)
      << health("exec-1");
  // The receiver moves to exec-2 and goes on there.
  ASSERT_TRUE(Eventually([&] { return receiver_on() == "exec-2"; }, 30s))
      << cluster.driver().Stderr();
  EXPECT_NE(cluster.driver().Stderr().find("cannot store blocks"), std::string::npos);
  size_t moved = SavedNumbers(dir, "out").size();
  ASSERT_TRUE(Eventually([&] { return SavedNumbers(dir, "out").size() >= moved + 2000; }, 30s));

  // Space returns: the executor reopens its store and is healthy again; it never aborted.
  std::filesystem::remove(dir + "/exec0/ballast");
  ASSERT_TRUE(Eventually([&] { return health("exec-1").empty(); }, 30s))
      << cluster.driver().Stderr();
  EXPECT_NE(cluster.driver().Stderr().find("stores blocks again"), std::string::npos);
  EXPECT_EQ(cluster.LiveExecutors().size(), 2u);

  // Every number the source holds arrives: none lost (one acknowledged late may come twice).
  ASSERT_TRUE(Eventually(
      [&] {
        auto saved = SavedNumbers(dir, "out");
        return std::set<int64_t>(saved.begin(), saved.end()).size() ==
               static_cast<size_t>(kNumbers);
      },
      60s))
      << SavedNumbers(dir, "out").size() << " numbers saved\n"
      << cluster.driver().Stderr();
  auto saved = SavedNumbers(dir, "out");
  EXPECT_EQ(*saved.begin(), 1);
  EXPECT_EQ(*saved.rbegin(), kNumbers);
  EXPECT_LE(saved.size(), static_cast<size_t>(kNumbers) + 100);  // at most a chunk twice
  EXPECT_TRUE(cluster.Kill(app).ok());
  EXPECT_EQ(job.Wait(60s), 1) << job.Stderr();
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
