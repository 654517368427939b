// Input sources in local mode on a manual clock: file streams (Spark's selection rules),
// custom receivers (store, restart, errors) and the socket receiver against a real server.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/testing.h"
#include "tests/wait.h"

namespace ember {
namespace {

using testing::Collector;
using testing::ManualStreams;
using testing::MoveIn;
using testing::Sorted;

// Batches at multiples of 1 s from here; files get modification times relative to it.
constexpr int64_t kStart = 1700000000000;

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/ember-src-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

TEST(FileStreamTest, EachFileGoesToTheBatchHoldingItsModificationTime) {
  std::string dir = MakeTempDir();
  MoveIn(dir, "old.txt", "old\n", kStart - 5000);  // before the start: never read
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  Collector<std::string> out;
  out.Attach(env.ssc().textFileStream(dir));
  env.ssc().start();
  MoveIn(dir, "a.txt", "a1\na2\r\n", kStart + 500);
  MoveIn(dir, ".hidden", "hidden\n", kStart + 600);
  MoveIn(dir, "b.txt", "b1", kStart + 1500);
  auto times = env.RunBatches(3);
  EXPECT_EQ(Sorted(out.At(times[0])), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(out.At(times[1]), (std::vector<std::string>{"b1"}));
  EXPECT_TRUE(out.At(times[2]).empty());  // each file is read once
}

TEST(FileStreamTest, FilterAndExistingFiles) {
  std::string dir = MakeTempDir();
  MoveIn(dir, "early.txt", "early\n", kStart - 500);
  MoveIn(dir, "early.log", "log\n", kStart - 400);
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  Collector<std::string> out;
  out.Attach(env.ssc().fileStream(
      dir,
      [](const std::string& path) {
        return path.size() > 4 && path.substr(path.size() - 4) == ".txt";
      },
      /*newFilesOnly=*/false));
  env.ssc().start();
  auto times = env.RunBatches(1);
  EXPECT_EQ(out.At(times[0]), (std::vector<std::string>{"early"}));
}

TEST(FileStreamTest, BinaryRecords) {
  std::string dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  Collector<std::string> out;
  out.Attach(env.ssc().binaryRecordsStream(dir, 4));
  env.ssc().start();
  MoveIn(dir, "r.bin", std::string("abcd\0\1\2\3wxyz", 12), kStart + 100);
  auto times = env.RunBatches(1);
  EXPECT_EQ(out.At(times[0]),
            (std::vector<std::string>{"abcd", std::string("\0\1\2\3", 4), "wxyz"}));
}

TEST(FileStreamTest, VanishedDirectoryFailsTheBatchNotTheProcess) {
  std::string dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  env.ssc().textFileStream(dir).print();
  env.ssc().start();
  env.RunBatches(1);
  ASSERT_EQ(rmdir(dir.c_str()), 0);
  env.RunBatches(1);
  try {
    env.ssc().awaitTerminationOrTimeout(1);
    FAIL() << "expected the stream's error";
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be listed"), std::string::npos) << e.what();
  }
}

// Stores `count` records named prefix-i when it starts.
class CountingReceiver : public Receiver<std::string> {
 public:
  CountingReceiver(std::string prefix, int count) : prefix_(std::move(prefix)), count_(count) {}
  void onStart() override {
    std::vector<std::string> records;
    for (int i = 0; i < count_; ++i) records.push_back(prefix_ + "-" + std::to_string(i));
    store(std::move(records));
  }
  void onStop() override {}

 private:
  std::string prefix_;
  int count_;
};

bool WaitFor(const std::function<bool()>& condition) {
  return testing::WaitForCondition(condition, std::chrono::seconds(20),
                                   std::chrono::milliseconds(1));
}

bool ReceiverActive(StreamingContext& ssc, int stream) {
  for (const auto& s : ssc.core()->receiver_tracker().Statuses()) {
    if (s.stream_id == stream && s.active) return true;
  }
  return false;
}

TEST(ReceiverStreamTest, StoredRecordsGoToTheNextBatch) {
  ManualStreams env(Seconds(1), "local[3]");
  Collector<std::string> out;
  out.Attach(env.ssc().receiverStream<CountingReceiver>(std::string("r"), 5));
  env.ssc().start();
  ASSERT_TRUE(WaitFor([&] { return ReceiverActive(env.ssc(), 0); }));
  auto times = env.RunBatches(2);
  EXPECT_EQ(Sorted(out.At(times[0])),
            (std::vector<std::string>{"r-0", "r-1", "r-2", "r-3", "r-4"}));
  EXPECT_TRUE(out.At(times[1]).empty());
  env.ssc().stop();
  // The batches' blocks are deleted once processed.
  EXPECT_EQ(env.ssc().core()->local_services()->block_store().size(), 0u);
}

// Batches shorter than the block interval: blocks are also cut at every batch time, so a
// batch takes what was stored before it at once, never waiting for a block interval to end
// (nor for the tracker's 2 s wait for late blocks, three times over).
TEST(ReceiverStreamTest, ABatchShorterThanTheBlockIntervalDoesNotWaitForTheBlock) {
  Conf conf = testing::ManualConf().set("ember.streaming.blockInterval", "1s");
  ManualStreams env(Milliseconds(100), "local[2]", conf);
  Collector<std::string> out;
  out.Attach(env.ssc().receiverStream<CountingReceiver>(std::string("r"), 3));
  env.ssc().start();
  ASSERT_TRUE(WaitFor([&] { return ReceiverActive(env.ssc(), 0); }));
  auto start = std::chrono::steady_clock::now();
  auto times = env.RunBatches(3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(Sorted(out.At(times[0])), (std::vector<std::string>{"r-0", "r-1", "r-2"}));
  EXPECT_TRUE(out.At(times[1]).empty());
  EXPECT_TRUE(out.At(times[2]).empty());
  env.ssc().stop();
}

std::atomic<int> flaky_starts{0};

// Fails its first start with restart(), then stores one record on each later start.
class FlakyReceiver : public Receiver<int> {
 public:
  FlakyReceiver() = default;
  void onStart() override {
    if (flaky_starts.fetch_add(1) == 0) {
      restart("source not ready", 0);
      return;
    }
    store(42);
  }
  void onStop() override {}
};

TEST(ReceiverStreamTest, RestartReportsTheErrorAndStartsAgain) {
  flaky_starts = 0;
  ManualStreams env(Seconds(1), "local[2]");
  Collector<int> out;
  out.Attach(env.ssc().receiverStream<FlakyReceiver>());
  env.ssc().start();
  ASSERT_TRUE(WaitFor([&] { return flaky_starts.load() >= 2; }));
  auto statuses = env.ssc().core()->receiver_tracker().Statuses();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].last_error, "source not ready");
  auto times = env.RunBatches(1);
  EXPECT_EQ(out.At(times[0]), std::vector<int>{42});
}

// A real TCP server on 127.0.0.1 and an OS-chosen port.
class LineServer {
 public:
  LineServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listener_, 4), 0);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~LineServer() {
    if (client_ >= 0) close(client_);
    close(listener_);
  }
  int port() const { return port_; }
  void AcceptAndSend(const std::string& text) {
    client_ = accept(listener_, nullptr, nullptr);
    ASSERT_GE(client_, 0);
    ASSERT_EQ(send(client_, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  }

 private:
  int listener_ = -1;
  int client_ = -1;
  int port_ = 0;
};

TEST(SocketTextStreamTest, CountsEveryWordSent) {
  LineServer server;
  ManualStreams env(Seconds(1), "local[2]");
  Collector<std::pair<std::string, int>> out;
  out.Attach(env.ssc()
                 .socketTextStream("127.0.0.1", server.port())
                 .flatMap([](const std::string& l) { return Split(l, ' '); })
                 .map([](const std::string& w) { return std::make_pair(w, 1); })
                 .reduceByKey([](int a, int b) { return a + b; }));
  env.ssc().start();
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "to be or not to be\n";
  server.AcceptAndSend(text);
  // Lines arrive when the network delivers them: run batches until every word is counted.
  std::map<std::string, int> total;
  ASSERT_TRUE(WaitFor([&] {
    for (Time t : env.RunBatches(1)) {
      for (const auto& [w, n] : out.At(t)) total[w] += n;
    }
    return total["to"] >= 2000;
  }));
  EXPECT_EQ(total,
            (std::map<std::string, int>{{"to", 2000}, {"be", 2000}, {"or", 1000}, {"not", 1000}}));
}

TEST(SocketTextStreamTest, RefusedConnectionIsAReceiverErrorNotACrash) {
  int port;
  {
    LineServer closed;  // a port nobody listens on once this closes
    port = closed.port();
  }
  ManualStreams env(Seconds(1), "local[2]");
  env.ssc().socketTextStream("127.0.0.1", port).print();
  env.ssc().start();
  ASSERT_TRUE(WaitFor([&] {
    auto s = env.ssc().core()->receiver_tracker().Statuses();
    return !s.empty() && s[0].last_error.find("Error connecting") != std::string::npos;
  }));
  env.RunBatches(1);  // batches go on without the receiver's data
  EXPECT_EQ(env.ssc().getState(), StreamingContextState::ACTIVE);
  env.ssc().stop();
}

}  // namespace
}  // namespace ember
