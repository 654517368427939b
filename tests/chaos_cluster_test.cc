// Fault injection in the RPC layer (rpc/chaos.h) on a real cluster: every call of the driver,
// its application processes, the executors and their task processes fails at random, its
// request or its reply; the shuffle and state jobs still give exact results.

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

std::vector<std::string> Lines(const std::string& out, const std::string& prefix, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; lines.size() < n && std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

TEST(ChaosClusterTest, ShuffleAndStateJobsStayExactWhenCallsFailAtRandom) {
  std::string dir = MakeTempDir("chaos");
  // The state job's reference, in local mode without faults.
  Subprocess local({"tools/ember-submit", "--master", "local[2]", "--conf", "ember.ui.port=0",
                    "tests/jobs/libstate_count.so", "--", "8", "250", "3000", dir + "/cp-local"},
                   dir, "local");
  ASSERT_EQ(local.Wait(60s), 0) << local.Stderr();

  // 3% of requests and 3% of replies lost, on every method.
  Cluster cluster(dir, 3, {}, "", {}, {"EMBER_TESTING_RPC_CHAOS=*=0.03:0.03"});
  ASSERT_TRUE(cluster.WaitForExecutors(3)) << cluster.driver().Stderr();
  constexpr int kBatches = 20;
  constexpr int64_t kN = 20000;
  Subprocess shuffle(cluster.Submit({"--name", "shuffle", "tests/jobs/libshuffle_sum.so", "--",
                                     std::to_string(kBatches), std::to_string(kN), "300", "15000"}),
                     dir, "shuffle");
  // The state job's 8 batches of data come first; its 20 s leave room for retries.
  Subprocess state(cluster.Submit({"--name", "state", "tests/jobs/libstate_count.so", "--", "8",
                                   "250", "20000", dir + "/cp-cluster"}),
                   dir, "state");
  ASSERT_EQ(shuffle.Wait(120s), 0) << shuffle.Stderr() << cluster.driver().Stderr();
  ASSERT_EQ(state.Wait(120s), 0) << state.Stderr() << cluster.driver().Stderr();

  std::set<std::string> expected;
  for (int i = 0; i < kBatches; ++i) {
    Expected e = ShuffleSum(i, kN);
    expected.insert("result total=" + std::to_string(e.total) +
                    " groups=7 digest=" + std::to_string(e.digest));
  }
  std::vector<std::string> got = Lines(shuffle.Stdout(), "result ", 1000);
  EXPECT_EQ(got.size(), static_cast<size_t>(kBatches)) << shuffle.Stdout();
  std::set<std::string> seen;
  for (const auto& line : got) {
    EXPECT_TRUE(expected.count(line)) << "wrong result: " << line;
    EXPECT_TRUE(seen.insert(line).second) << "batch output twice: " << line;
  }
  EXPECT_EQ(Lines(state.Stdout(), "state batch=", 8), Lines(local.Stdout(), "state batch=", 8));

  // Faults were injected (the executors log their failed heartbeats and reports), and
  // retried.
  EXPECT_NE(cluster.driver().Stderr().find("EMBER_TESTING_RPC_CHAOS is set"), std::string::npos);
  std::string logs;
  for (const auto& [address, info] : cluster.LiveExecutors()) {
    logs += cluster.ExecutorAt(address)->Stderr();
  }
  EXPECT_NE(logs.find("rpc chaos: the "), std::string::npos) << logs;
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
