// ExecutorRegistry in-process, with no executor behind the addresses (a stub's channel
// connects lazily and no call is made). The registry reads the real clock, so losses by
// timeout use a short heartbeat timeout and waits on conditions with deadlines.

#include "driver/executor_registry.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "driver/fake_executor.h"

namespace ember {
namespace internal {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(30);

proto::HeartbeatRequest HeartbeatOf(const std::string& id, int64_t blocks = 0) {
  proto::HeartbeatRequest request;
  request.set_executor_id(id);
  request.set_blocks(blocks);
  return request;
}

std::vector<std::string> Ids(const std::vector<ExecutorPtr>& executors) {
  std::vector<std::string> ids;
  for (const auto& e : executors) ids.push_back(e->id);
  return ids;
}

// Records the losses a registry reports: "<id>: <reason>", in order.
class LossLog {
 public:
  ExecutorRegistry::LossListener Listener() {
    return [this](const ExecutorPtr& e, const std::string& reason) {
      absl::MutexLock lock(&mu_);
      losses_.push_back(e->id + ": " + reason);
    };
  }
  bool WaitForLosses(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return losses_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<std::string> losses() const {
    absl::MutexLock lock(&mu_);
    return losses_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> losses_ ABSL_GUARDED_BY(mu_);
};

TEST(ExecutorRegistryTest, RegisteredExecutorsAreAliveWithTheirSlots) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());

  EXPECT_EQ(registry.Register("host-a:7001", 2), "exec-1");
  EXPECT_EQ(registry.Register("host-b:7001", 0), "exec-2");  // at least one slot

  EXPECT_EQ(Ids(registry.Alive()), (std::vector<std::string>{"exec-1", "exec-2"}));
  EXPECT_EQ(registry.TotalSlots(), 3);
  ExecutorPtr b = registry.Find("exec-2");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->address, "host-b:7001");
  EXPECT_EQ(b->slots, 1);
  EXPECT_TRUE(registry.IsAlive(b));
  EXPECT_EQ(registry.Find("exec-3"), nullptr);
  auto infos = registry.Infos();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].executor_id(), "exec-1");
  EXPECT_EQ(infos[0].address(), "host-a:7001");
  EXPECT_EQ(infos[0].slots(), 2);
  EXPECT_TRUE(infos[0].alive());
}

TEST(ExecutorRegistryTest, AHeartbeatIsAcceptedWithItsStatsAndListsTheLivePeers) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  registry.Register("host-b:7001", 1);
  registry.Register("host-c:7001", 1);
  registry.MarkLost("exec-3", "test");

  proto::HeartbeatReply reply;
  EXPECT_TRUE(registry.Heartbeat(HeartbeatOf("exec-1", 7), &reply));

  EXPECT_FALSE(reply.reregister());
  ASSERT_EQ(reply.peers_size(), 1);
  EXPECT_EQ(reply.peers(0).executor_id(), "exec-2");
  EXPECT_EQ(reply.peers(0).address(), "host-b:7001");
  EXPECT_EQ(registry.Infos()[0].blocks(), 7);
}

TEST(ExecutorRegistryTest, AHeartbeatFromAnUnknownExecutorAsksItToRegister) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  proto::HeartbeatReply reply;

  EXPECT_FALSE(registry.Heartbeat(HeartbeatOf("exec-9"), &reply));

  EXPECT_TRUE(reply.reregister());
}

TEST(ExecutorRegistryTest, AnExecutorThatStopsHeartbeatingIsLostAfterTheTimeout) {
  ExecutorRegistry::Options options;
  options.heartbeat_timeout = absl::Seconds(1);
  ExecutorRegistry registry(options);
  LossLog log;
  registry.AddLossListener(log.Listener());
  registry.Register("host-a:7001", 2);
  registry.Register("host-b:7001", 3);

  // exec-1 keeps heartbeating, far more often than the timeout; exec-2 never does.
  absl::Time deadline = absl::Now() + kDeadline;
  proto::HeartbeatReply reply;
  while (!log.WaitForLosses(1, absl::Milliseconds(20))) {
    ASSERT_TRUE(registry.Heartbeat(HeartbeatOf("exec-1"), &reply));
    ASSERT_LT(absl::Now(), deadline) << "exec-2 was never declared lost";
  }

  EXPECT_EQ(log.losses(), std::vector<std::string>{"exec-2: no heartbeat for 1s"});
  EXPECT_EQ(Ids(registry.Alive()), std::vector<std::string>{"exec-1"});
  EXPECT_EQ(registry.TotalSlots(), 2);
  EXPECT_FALSE(registry.Heartbeat(HeartbeatOf("exec-2"), &reply));
  EXPECT_TRUE(reply.reregister());
}

TEST(ExecutorRegistryTest, AnExecutorIsLostOnceAndEveryCurrentListenerIsTold) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  LossLog first, second, removed;
  registry.AddLossListener(first.Listener());
  registry.AddLossListener(second.Listener());
  registry.RemoveLossListener(registry.AddLossListener(removed.Listener()));
  registry.Register("host-a:7001", 1);
  ExecutorPtr a = registry.Find("exec-1");

  registry.MarkLost("exec-1", "fetch failed: connection reset");
  registry.MarkLost("exec-1", "again");
  registry.MarkLost("exec-7", "never registered");

  EXPECT_EQ(first.losses(), std::vector<std::string>{"exec-1: fetch failed: connection reset"});
  EXPECT_EQ(second.losses(), first.losses());
  EXPECT_TRUE(removed.losses().empty());
  EXPECT_FALSE(registry.IsAlive(a));
  EXPECT_FALSE(registry.Infos()[0].alive());
  grpc::ClientContext call;
  EXPECT_FALSE(registry.BeginCall(a, &call)) << "a lost executor takes no call";
}

TEST(ExecutorRegistryTest, RegisteringAgainFromTheSameAddressLosesTheOldRecord) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  LossLog log;
  registry.AddLossListener(log.Listener());
  registry.Register("host-a:7001", 2);
  registry.Register("host-b:7001", 1);

  EXPECT_EQ(registry.Register("host-a:7001", 4), "exec-3");

  EXPECT_EQ(log.losses(), std::vector<std::string>{"exec-1: it registered again"});
  EXPECT_EQ(Ids(registry.Alive()), (std::vector<std::string>{"exec-2", "exec-3"}));
  EXPECT_EQ(registry.TotalSlots(), 5);
  proto::HeartbeatReply reply;
  EXPECT_FALSE(registry.Heartbeat(HeartbeatOf("exec-1"), &reply));
  EXPECT_TRUE(reply.reregister());
  EXPECT_TRUE(registry.Heartbeat(HeartbeatOf("exec-3"), &reply));
}

TEST(ExecutorRegistryTest, AcquireSlotTakesAPreferredExecutorFirstThenTheLeastBusy) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  registry.Register("host-b:7001", 2);
  registry.Register("host-c:7001", 2);

  std::vector<std::string> taken;
  for (int i = 0; i < 4; ++i) {
    ExecutorPtr e = registry.AcquireSlot({"host-x:1", "host-b:7001"}, absl::ZeroDuration(), {});
    ASSERT_NE(e, nullptr) << "slot " << i;
    taken.push_back(e->id);
  }

  // host-b's two slots, then the least busy: the idle host-a (first in order), then host-c.
  EXPECT_EQ(taken, (std::vector<std::string>{"exec-2", "exec-2", "exec-1", "exec-3"}));
  EXPECT_EQ(registry.Infos()[1].running_tasks(), 2);
}

TEST(ExecutorRegistryTest, WithoutAPreferenceTheLeastLoadedExecutorIsChosen) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 4);
  registry.Register("host-b:7001", 1);

  std::vector<std::string> taken;
  for (int i = 0; i < 5; ++i) {
    ExecutorPtr e = registry.AcquireSlot({}, absl::ZeroDuration(), {});
    ASSERT_NE(e, nullptr) << "slot " << i;
    taken.push_back(e->id);
  }

  EXPECT_EQ(taken, (std::vector<std::string>{"exec-1", "exec-2", "exec-1", "exec-1", "exec-1"}));
  EXPECT_EQ(registry.AcquireSlot({}, absl::ZeroDuration(), {}), nullptr) << "every slot is taken";
}

TEST(ExecutorRegistryTest, AReleasedSlotCanBeAcquiredAgain) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  ExecutorPtr a = registry.AcquireSlot({}, absl::ZeroDuration(), {});
  ASSERT_NE(a, nullptr);

  std::thread release([&registry, a] { registry.ReleaseSlot(a); });
  ExecutorPtr again = registry.AcquireSlot({}, kDeadline, {});
  release.join();

  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->id, "exec-1");
  EXPECT_EQ(registry.Infos()[0].running_tasks(), 1);
}

TEST(ExecutorRegistryTest, OnlyPreferredWaitsForASlotThereAndNeverTakesOneElsewhere) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  registry.Register("host-b:7001", 4);
  ExecutorPtr a = registry.AcquireSlot({"host-a:7001"}, absl::ZeroDuration(), {});
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->id, "exec-1");

  std::thread release([&registry, a] { registry.ReleaseSlot(a); });
  ExecutorPtr e = registry.AcquireSlot({"host-a:7001"}, kDeadline, {}, /*only_preferred=*/true);
  release.join();

  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->id, "exec-1");
  EXPECT_EQ(registry.Infos()[1].running_tasks(), 0);
}

TEST(ExecutorRegistryTest, OnlyPreferredGivesUpAtOnceWhenNoPreferredExecutorIsAlive) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  registry.Register("host-b:7001", 1);
  registry.MarkLost("exec-1", "test");

  absl::Time start = absl::Now();
  ExecutorPtr e = registry.AcquireSlot({"host-a:7001", "host-z:1"}, absl::Hours(1), {},
                                       /*only_preferred=*/true);

  EXPECT_EQ(e, nullptr);
  EXPECT_LT(absl::Now() - start, kDeadline);
}

TEST(ExecutorRegistryTest, AWaitingAcquireIsServedByAnExecutorThatRegisters) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());

  std::thread join([&registry] { registry.Register("host-a:7001", 1); });
  ExecutorPtr e = registry.AcquireSlot({}, kDeadline, {});
  join.join();

  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->id, "exec-1");
}

TEST(ExecutorRegistryTest, AcquireSlotReturnsNullAtItsDeadlineOrOnceCancelled) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  ASSERT_NE(registry.AcquireSlot({}, absl::ZeroDuration(), {}), nullptr);

  absl::Time start = absl::Now();
  EXPECT_EQ(registry.AcquireSlot({}, absl::Milliseconds(50), {}), nullptr);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));

  absl::Notification cancel;
  std::thread canceller([&cancel] { cancel.Notify(); });
  EXPECT_EQ(
      registry.AcquireSlot({}, absl::Hours(1), [&cancel] { return cancel.HasBeenNotified(); }),
      nullptr);
  canceller.join();
}

TEST(ExecutorRegistryTest, ALostExecutorGetsNoTasksOrReceivers) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 2);
  registry.MarkLost("exec-1", "test");

  EXPECT_EQ(registry.AcquireSlot({"host-a:7001"}, absl::ZeroDuration(), {}), nullptr);
  EXPECT_EQ(registry.PlaceReceiver(""), nullptr);
  EXPECT_EQ(registry.TotalSlots(), 0);
  EXPECT_TRUE(registry.Alive().empty());
}

TEST(ExecutorRegistryTest, ReceiversGoToTheExecutorWithFewestAvoidingTheOneNamed) {
  ExecutorRegistry registry(testing::NoHeartbeatTimeout());
  registry.Register("host-a:7001", 1);
  registry.Register("host-b:7001", 1);

  std::vector<std::string> placed;
  for (const char* avoid : {"", "", "exec-1", ""}) {
    ExecutorPtr e = registry.PlaceReceiver(avoid);
    ASSERT_NE(e, nullptr);
    placed.push_back(e->id);
  }

  EXPECT_EQ(placed, (std::vector<std::string>{"exec-1", "exec-2", "exec-2", "exec-1"}));
  registry.ReleaseReceiver(registry.Find("exec-2"));
  EXPECT_EQ(registry.Infos()[1].receivers(), 1);
  // The only live executor takes the receiver even when it is the one to avoid.
  registry.MarkLost("exec-2", "test");
  ExecutorPtr e = registry.PlaceReceiver("exec-1");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->id, "exec-1");
}

}  // namespace
}  // namespace internal
}  // namespace ember
