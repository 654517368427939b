// ReceiverTracker in local mode with no receivers of its own: the test reports blocks and
// receiver events the way supervisors do, on a manual clock, and checks what each batch gets.

#include "runtime/receiver_tracker.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "util/clock.h"

namespace ember {
namespace internal {
namespace {

ReceivedBlock Block(int stream, const std::string& id, int64_t records, int64_t time_ms) {
  ReceivedBlock b;
  b.stream_id = stream;
  b.block_id = id;
  b.records = records;
  b.time = Time(time_ms);
  return b;
}

// What a supervisor reports at a block interval's end when nothing arrived.
ReceivedBlock Watermark(int stream, int64_t time_ms) { return Block(stream, "", 0, time_ms); }

std::vector<std::string> Ids(const std::vector<ReceivedBlock>& blocks) {
  std::vector<std::string> ids;
  for (const auto& b : blocks) ids.push_back(b.block_id);
  return ids;
}

class ReceiverTrackerTest : public ::testing::Test {
 protected:
  ReceiverTracker::Options Options(absl::Duration watermark_wait = absl::Seconds(60)) {
    ReceiverTracker::Options o;
    o.clock = &clock_;
    o.watermark_wait = watermark_wait;
    o.on_event = [this](const ReceiverStatus& s, proto::ReceiverEvent event) {
      events_.push_back(proto::ReceiverEvent_Name(event) + " " + std::to_string(s.stream_id));
    };
    return o;
  }

  ManualClock clock_{1000};
  std::vector<std::string> events_;
};

TEST_F(ReceiverTrackerTest, ABatchTakesEveryBlockReportedForAnIntervalEndingByItsTime) {
  ReceiverTracker tracker(Options());
  tracker.OnBlock(Block(0, "input-0-800", 5, 800));
  tracker.OnBlock(Block(1, "input-1-1000", 3, 1000));
  tracker.OnBlock(Block(0, "input-0-1200", 7, 1200));
  tracker.OnBlock(Watermark(1, 1200));

  tracker.AllocateBatch(Time(1000));

  EXPECT_EQ(tracker.RecordsOfBatch(Time(1000)), 8);
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(0, Time(1000))), std::vector<std::string>{"input-0-800"});
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(1, Time(1000))), std::vector<std::string>{"input-1-1000"});
  EXPECT_TRUE(tracker.HasUnallocatedBlocks());  // input-0-1200 waits for the next batch

  tracker.OnBlock(Watermark(0, 2000));
  tracker.OnBlock(Watermark(1, 2000));
  tracker.AllocateBatch(Time(2000));

  EXPECT_EQ(tracker.RecordsOfBatch(Time(2000)), 7);
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(0, Time(2000))), std::vector<std::string>{"input-0-1200"});
  EXPECT_TRUE(tracker.BlocksOfBatch(1, Time(2000)).empty());
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());
}

TEST_F(ReceiverTrackerTest, ABlockReportedAfterItsBatchWasAllocatedGoesToTheNextBatch) {
  ReceiverTracker tracker(Options());
  tracker.OnBlock(Block(0, "a", 2, 1000));
  tracker.AllocateBatch(Time(1000));

  tracker.OnBlock(Block(0, "late", 4, 900));
  tracker.AllocateBatch(Time(1000));  // allocated already: keeps what it had
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(0, Time(1000))), std::vector<std::string>{"a"});
  EXPECT_TRUE(tracker.HasUnallocatedBlocks());

  tracker.OnBlock(Watermark(0, 2000));
  tracker.AllocateBatch(Time(2000));
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(0, Time(2000))), std::vector<std::string>{"late"});
  EXPECT_EQ(tracker.RecordsOfBatch(Time(1000)), 2);
  EXPECT_EQ(tracker.RecordsOfBatch(Time(2000)), 4);
}

// An executor that lost the reply to a block report sends it again: the block counts once,
// before and after its batch was allocated and released.
TEST_F(ReceiverTrackerTest, ABlockReportedTwiceIsTakenOnce) {
  ReceiverTracker tracker(Options());
  tracker.OnBlock(Block(0, "input-0-800", 5, 800));
  tracker.OnBlock(Block(0, "input-0-800", 5, 800));
  tracker.AllocateBatch(Time(1000));
  EXPECT_EQ(tracker.RecordsOfBatch(Time(1000)), 5);
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());

  tracker.OnBlock(Block(0, "input-0-800", 5, 800));  // after allocation
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());
  EXPECT_EQ(tracker.ReleaseThrough(Time(1000)), std::vector<std::string>{"input-0-800"});
  tracker.OnBlock(Block(0, "input-0-800", 5, 800));  // after release
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());

  // Long after its batch was released, the id is forgotten (no report repeats that late).
  tracker.AllocateBatch(Time(10 * 60 * 1000));
  tracker.ReleaseThrough(Time(10 * 60 * 1000));
  tracker.OnBlock(Block(0, "input-0-800", 5, 800));
  EXPECT_TRUE(tracker.HasUnallocatedBlocks());
}

TEST_F(ReceiverTrackerTest, ABlockWithoutRecordsIsAWatermarkAndNeverUnallocated) {
  ReceiverTracker tracker(Options());
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());

  tracker.OnBlock(Watermark(0, 1000));
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());

  tracker.OnBlock(Block(0, "b", 1, 1200));
  EXPECT_TRUE(tracker.HasUnallocatedBlocks());

  tracker.OnBlock(Watermark(0, 2000));
  tracker.AllocateBatch(Time(2000));
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());
  EXPECT_EQ(Ids(tracker.BlocksOfBatch(0, Time(2000))), std::vector<std::string>{"b"});
}

TEST_F(ReceiverTrackerTest, ABatchNeverAllocatedHasNoRecordsOrBlocks) {
  ReceiverTracker tracker(Options());
  tracker.OnBlock(Block(0, "b", 9, 1000));

  EXPECT_EQ(tracker.RecordsOfBatch(Time(1000)), 0);
  EXPECT_TRUE(tracker.BlocksOfBatch(0, Time(1000)).empty());
}

TEST_F(ReceiverTrackerTest, ReleaseThroughForgetsTheBatchesAtOrBeforeItAndReturnsTheirBlocks) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  const std::string wal = std::string(tmp) + "/input-0-1000";
  std::ofstream(wal) << "logged";
  ReceiverTracker tracker(Options());
  ReceivedBlock logged = Block(0, "input-0-1000", 1, 1000);
  logged.wal_path = wal;
  tracker.OnBlock(logged);
  tracker.OnBlock(Block(1, "input-1-1000", 2, 1000));
  tracker.AllocateBatch(Time(1000));
  tracker.OnBlock(Block(0, "input-0-2000", 3, 2000));
  tracker.OnBlock(Watermark(1, 2000));
  tracker.AllocateBatch(Time(2000));
  tracker.OnBlock(Block(0, "input-0-3000", 4, 3000));
  tracker.OnBlock(Watermark(1, 3000));
  tracker.AllocateBatch(Time(3000));

  EXPECT_EQ(tracker.ReleaseThrough(Time(2000)),
            (std::vector<std::string>{"input-0-1000", "input-1-1000", "input-0-2000"}));

  EXPECT_EQ(tracker.RecordsOfBatch(Time(1000)), 0);
  EXPECT_EQ(tracker.RecordsOfBatch(Time(2000)), 0);
  EXPECT_EQ(tracker.RecordsOfBatch(Time(3000)), 4);
  EXPECT_FALSE(std::ifstream(wal).good()) << "a released block's log copy is deleted";
  proto::MetadataCheckpoint cp;
  tracker.Snapshot(&cp);
  EXPECT_EQ(cp.released_ms(), 2000);
  ASSERT_EQ(cp.batches_size(), 1);
  EXPECT_EQ(cp.batches(0).time_ms(), 3000);
  // Released already: nothing more to return.
  EXPECT_TRUE(tracker.ReleaseThrough(Time(2000)).empty());
}

TEST_F(ReceiverTrackerTest, ABatchWaitsUntilARunningReceiverHasCutItsBlocksUpToItsTime) {
  ReceiverTracker tracker(Options(absl::Seconds(60)));
  ASSERT_TRUE(tracker.StartAll().ok());
  tracker.OnEvent(0, proto::RECEIVER_STARTED, "");  // batches wait for it from now (1000 ms) on
  clock_.SetTime(2000);

  std::thread allocate([&tracker] { tracker.AllocateBatch(Time(2000)); });
  // Had the batch not waited for the block, it would have been allocated without it.
  tracker.OnBlock(Block(0, "input-0-2000", 4, 2000));
  allocate.join();

  EXPECT_EQ(tracker.RecordsOfBatch(Time(2000)), 4);
  EXPECT_FALSE(tracker.HasUnallocatedBlocks());
}

TEST_F(ReceiverTrackerTest, ABatchTakesWhatArrivedWhenAReceiverLagsPastTheWatermarkWait) {
  ReceiverTracker tracker(Options(absl::Milliseconds(50)));
  ASSERT_TRUE(tracker.StartAll().ok());
  tracker.OnEvent(0, proto::RECEIVER_STARTED, "");
  tracker.OnBlock(Block(0, "input-0-1200", 6, 1200));

  absl::Time start = absl::Now();
  tracker.AllocateBatch(Time(2000));

  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(tracker.RecordsOfBatch(Time(2000)), 6);
}

TEST_F(ReceiverTrackerTest, AStoppedReceiverIsNotWaitedFor) {
  ReceiverTracker tracker(Options(absl::Seconds(60)));
  ASSERT_TRUE(tracker.StartAll().ok());
  tracker.OnEvent(0, proto::RECEIVER_STARTED, "");
  tracker.OnBlock(Block(0, "input-0-1200", 6, 1200));
  tracker.OnEvent(0, proto::RECEIVER_STOPPED, "receiver finished");

  absl::Time start = absl::Now();
  tracker.AllocateBatch(Time(5000));

  // Far below the 60 s it would wait for a running receiver.
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(tracker.RecordsOfBatch(Time(5000)), 6);
}

TEST_F(ReceiverTrackerTest, ALateBlockOfAStoppedReceiverDoesNotMakeBatchesWait) {
  ReceiverTracker tracker(Options(absl::Seconds(60)));
  ASSERT_TRUE(tracker.StartAll().ok());
  tracker.OnEvent(0, proto::RECEIVER_STARTED, "");
  tracker.OnEvent(0, proto::RECEIVER_STOPPED, "receiver finished");
  tracker.OnBlock(Block(0, "input-0-1200", 6, 1200));  // reported after the stop

  absl::Time start = absl::Now();
  tracker.AllocateBatch(Time(5000));

  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(tracker.RecordsOfBatch(Time(5000)), 6);  // its records still count
}

TEST_F(ReceiverTrackerTest, ReceiverEventsUpdateItsStatusAndReachTheListener) {
  ReceiverTracker tracker(Options());
  tracker.OnEvent(0, proto::RECEIVER_STARTED, "", "exec-2");
  clock_.SetTime(4321);
  tracker.OnEvent(0, proto::RECEIVER_ERROR, "connection refused", "exec-2");

  auto statuses = tracker.Statuses();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].stream_id, 0);
  EXPECT_TRUE(statuses[0].active);
  EXPECT_EQ(statuses[0].executor_id, "exec-2");
  EXPECT_EQ(statuses[0].last_error, "connection refused");
  EXPECT_EQ(statuses[0].last_error_time_ms, 4321);

  tracker.OnEvent(0, proto::RECEIVER_STOPPED, "done");
  EXPECT_FALSE(tracker.Statuses()[0].active);
  EXPECT_EQ(events_, (std::vector<std::string>{"RECEIVER_STARTED 0", "RECEIVER_ERROR 0",
                                               "RECEIVER_STOPPED 0"}));
}

TEST_F(ReceiverTrackerTest, ARestoredBatchKeepsItsBlocksAndOnlyLoggedBlocksSurviveTheDriver) {
  ReceiverTracker before(Options());
  before.OnBlock(Block(0, "kept-in-memory", 5, 1000));
  before.AllocateBatch(Time(1000));
  ReceivedBlock logged = Block(0, "logged", 2, 1800);
  logged.wal_path = "/nonexistent/logged";
  before.OnBlock(logged);
  proto::MetadataCheckpoint cp;
  before.Snapshot(&cp);

  ReceiverTracker lost(Options());
  EXPECT_EQ(lost.Restore(cp, /*blocks_survive=*/false), 5);
  lost.AllocateBatch(Time(1000));  // restored: not allocated again
  EXPECT_EQ(lost.RecordsOfBatch(Time(1000)), 0);
  EXPECT_TRUE(lost.HasUnallocatedBlocks());

  ReceiverTracker survived(Options());
  EXPECT_EQ(survived.Restore(cp, /*blocks_survive=*/true), 0);
  EXPECT_EQ(Ids(survived.BlocksOfBatch(0, Time(1000))), std::vector<std::string>{"kept-in-memory"});
  survived.OnBlock(Watermark(0, 2000));
  survived.AllocateBatch(Time(2000));
  EXPECT_EQ(Ids(survived.BlocksOfBatch(0, Time(2000))), std::vector<std::string>{"logged"});
}

}  // namespace
}  // namespace internal
}  // namespace ember
