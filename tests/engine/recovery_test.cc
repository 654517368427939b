// Driver recovery from the metadata checkpoint, in one process on a manual clock: a context
// destroyed mid-run (the driver's crash) and a new one built by the same code on the same
// checkpoint directory (the restarted driver). Batches the crash left pending and those
// missed while it was down run; completed ones only bring the state forward; outputs are
// the files they would have been; the receivers' write-ahead log keeps received blocks; a
// changed graph is refused naming the operator.

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "engine_test_util.h"
#include "runtime/checkpoint_store.h"

namespace ember {
namespace enginetest {
namespace {

// Manual clock times (file mtimes must be real ones). State checkpoints every 3 s fall on
// batches 3, 6, ... after it.
constexpr int64_t kStart = 1700000001000;

using Counts = std::map<std::string, int64_t>;
using testing::MoveIn;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text files of one saveAsTextFiles batch directory, concatenated in part order.
std::string BatchOutput(const std::string& prefix, int64_t t) {
  std::string dir = prefix + "-" + std::to_string(t);
  std::vector<std::string> parts;
  for (const auto& name : ListDir(dir)) {
    if (name.rfind("part-", 0) == 0) parts.push_back(name);
  }
  std::sort(parts.begin(), parts.end());
  std::string all;
  for (const auto& p : parts) all += ReadAll(dir + "/" + p);
  return all;
}

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::string SortedLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

// The job: words of new files; each batch's counts saved as text files, and a running total
// per word (updateStateByKey, checkpointed every 3 batches).
struct WordJob {
  WordJob(const std::string& checkpoint, const std::string& input, const std::string& output,
          int64_t start_ms, bool with_window = false)
      : env(Seconds(1), "local[2]", testing::ManualConf(), start_ms) {
    env.ssc().checkpoint(checkpoint);
    auto pairs = env.ssc().textFileStream(input).flatMap(Words).map(
        [](const std::string& w) { return std::make_pair(w, int64_t{1}); });
    auto per_batch = pairs.reduceByKey([](int64_t a, int64_t b) { return a + b; }, 1);
    if (with_window) per_batch = per_batch.window(Seconds(2));
    per_batch.saveAsTextFiles(output);
    auto totals =
        pairs.updateStateByKey([](const std::vector<int64_t>& vs,
                                  const std::optional<int64_t>& s) -> std::optional<int64_t> {
          int64_t n = s.value_or(0);
          for (int64_t v : vs) n += v;
          return n;
        });
    totals.checkpoint(Seconds(3));
    out.Attach(totals);
  }
  Counts TotalsAt(int64_t t) const {
    Counts c;
    for (const auto& [w, n] : out.At(Time(t))) c[w] = n;
    return c;
  }
  ManualStreams env;
  Collector<std::pair<std::string, int64_t>> out;
};

TEST(RecoveryTest, PendingAndMissedBatchesRunAndStateContinues) {
  std::string checkpoint = MakeTempDir("recovery-cp");
  std::string root = MakeTempDir("recovery-files");
  std::string input = root + "/in";
  ASSERT_EQ(mkdir(input.c_str(), 0755), 0);
  std::string output = root + "/out/counts";
  std::map<int64_t, std::string> batch_output;  // what the first run wrote
  {
    WordJob job(checkpoint, input, output, kStart);
    job.env.ssc().start();
    const char* words[] = {"a b", "b c c", "a", "d d d"};
    for (int i = 0; i < 4; ++i) {
      MoveIn(input, "f" + std::to_string(i), words[i], kStart + 1000 * i + 500);
      job.env.RunBatches(1);
    }
    EXPECT_EQ(job.TotalsAt(kStart + 4000), (Counts{{"a", 2}, {"b", 2}, {"c", 2}, {"d", 3}}));
    for (int64_t t = kStart + 1000; t <= kStart + 4000; t += 1000) {
      batch_output[t] = BatchOutput(output, t);
    }
    // The driver dies here (the context goes without a graceful stop).
  }
  // While it is down, files arrive: two in batch 5, one in batch 8.
  MoveIn(input, "g1", "e", kStart + 4200);
  MoveIn(input, "g2", "a e", kStart + 4900);
  MoveIn(input, "g3", "b", kStart + 7100);
  struct stat before;
  ASSERT_EQ(stat((output + "-" + std::to_string(kStart + 4000)).c_str(), &before), 0);

  WordJob job(checkpoint, input, output, kStart + 8000);
  ASSERT_TRUE(job.env.ssc().hasCheckpoint());
  job.env.ssc().start();
  // The missed batches 5..8 run at once; then the clock goes on.
  ASSERT_TRUE(job.env.ssc().core()->WaitForBatch(Time(kStart + 8000), absl::Seconds(30)));
  MoveIn(input, "h", "c", kStart + 8500);
  job.env.RunBatches(1);

  // The batch that completed before the crash (4) recomputed state only: no output again.
  EXPECT_TRUE(job.out.At(Time(kStart + 4000)).empty());
  struct stat after;
  ASSERT_EQ(stat((output + "-" + std::to_string(kStart + 4000)).c_str(), &after), 0);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  for (const auto& [t, text] : batch_output) EXPECT_EQ(BatchOutput(output, t), text) << t;
  EXPECT_EQ(SortedLines(BatchOutput(output, kStart + 5000)), "(a,1)\n(e,2)\n");
  EXPECT_EQ(BatchOutput(output, kStart + 6000), "");
  EXPECT_EQ(BatchOutput(output, kStart + 8000), "(b,1)\n");
  // Every file counted once, across the crash.
  EXPECT_EQ(job.TotalsAt(kStart + 5000),
            (Counts{{"a", 3}, {"b", 2}, {"c", 2}, {"d", 3}, {"e", 2}}));
  EXPECT_EQ(job.TotalsAt(kStart + 9000),
            (Counts{{"a", 3}, {"b", 3}, {"c", 3}, {"d", 3}, {"e", 2}}));
  job.env.ssc().stop();
}

TEST(RecoveryTest, ABatchRunAgainWritesTheSameFiles) {
  // Crash after batch 2 was generated but before its outputs: the metadata checkpoint lists
  // it as pending, and the recovered run writes it from the same input.
  std::string checkpoint = MakeTempDir("recovery-pending-cp");
  std::string root = MakeTempDir("recovery-pending");
  std::string input = root + "/in";
  ASSERT_EQ(mkdir(input.c_str(), 0755), 0);
  std::string output = root + "/counts";
  MoveIn(input, "f1", "x y x", kStart + 500);
  MoveIn(input, "f2", "y z", kStart + 1500);
  std::string first_run;
  {
    WordJob job(checkpoint, input, output, kStart);
    job.env.ssc().start();
    job.env.RunBatches(2);
    first_run = BatchOutput(output, kStart + 2000);
  }
  EXPECT_EQ(SortedLines(first_run), "(y,1)\n(z,1)\n");
  // Make batch 2 look pending, as if the crash came before it completed: rewind the
  // checkpoint's completed time and delete its output.
  auto cp = internal::ReadLatestMetadataCheckpoint(checkpoint);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->completed_ms(), kStart + 2000);
  cp->set_completed_ms(kStart + 1000);
  ASSERT_TRUE(internal::WriteMetadataCheckpoint(checkpoint, *cp).ok());
  std::filesystem::remove_all(output + "-" + std::to_string(kStart + 2000));

  WordJob job(checkpoint, input, output, kStart + 2000);
  job.env.ssc().start();
  job.env.RunBatches(1);
  EXPECT_EQ(BatchOutput(output, kStart + 2000), first_run);
  EXPECT_EQ(job.TotalsAt(kStart + 3000), (Counts{{"x", 2}, {"y", 2}, {"z", 1}}));
  job.env.ssc().stop();
}

TEST(RecoveryTest, ACorruptNewestMetadataCheckpointFallsBack) {
  std::string checkpoint = MakeTempDir("recovery-corrupt-cp");
  std::string root = MakeTempDir("recovery-corrupt");
  std::string input = root + "/in";
  ASSERT_EQ(mkdir(input.c_str(), 0755), 0);
  {
    WordJob job(checkpoint, input, root + "/out", kStart);
    job.env.ssc().start();
    MoveIn(input, "f1", "a", kStart + 500);
    job.env.RunBatches(3);
  }
  std::vector<std::string> files = ListDir(checkpoint + "/metadata");
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  ASSERT_EQ(files.size(), 3u) << "the newest three are kept";
  {
    std::fstream f(checkpoint + "/metadata/" + files.back(), std::ios::in | std::ios::out);
    f.seekp(30);
    f << "garbage";
  }
  auto cp = internal::ReadLatestMetadataCheckpoint(checkpoint);
  ASSERT_TRUE(cp.has_value());
  WordJob job(checkpoint, input, root + "/out", kStart + 3000);
  job.env.ssc().start();
  job.env.RunBatches(1);
  EXPECT_EQ(job.TotalsAt(kStart + 4000), (Counts{{"a", 1}}));
  job.env.ssc().stop();
}

TEST(RecoveryTest, AChangedGraphIsRefusedNamingTheOperator) {
  std::string checkpoint = MakeTempDir("recovery-shape-cp");
  std::string root = MakeTempDir("recovery-shape");
  std::string input = root + "/in";
  ASSERT_EQ(mkdir(input.c_str(), 0755), 0);
  {
    WordJob job(checkpoint, input, root + "/out", kStart);
    job.env.ssc().start();
    job.env.RunBatches(1);
  }
  WordJob changed(checkpoint, input, root + "/out", kStart + 1000, /*with_window=*/true);
  try {
    changed.env.ssc().start();
    FAIL() << "a changed graph recovered";
  } catch (const EmberError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("window(2000 ms, 1000 ms)"), std::string::npos) << what;
    EXPECT_NE(what.find("new checkpoint directory"), std::string::npos) << what;
  }
  // The same operators with other function bodies recover.
  auto ssc = StreamingContext::getOrCreate(checkpoint, [&] {
    auto c = std::make_unique<StreamingContext>(testing::ManualConf(), Seconds(1),
                                                std::make_shared<ManualClock>(kStart + 1000));
    auto pairs = c->textFileStream(input).flatMap(Words).map(
        [](const std::string& w) { return std::make_pair(w + "!", int64_t{2}); });
    pairs.reduceByKey([](int64_t a, int64_t b) { return a * b; }, 1).saveAsTextFiles(root + "/out");
    pairs
        .updateStateByKey([](const std::vector<int64_t>& vs,
                             const std::optional<int64_t>& s) -> std::optional<int64_t> {
          return s.value_or(0) + static_cast<int64_t>(vs.size());
        })
        .checkpoint(Seconds(3))
        .foreachRDD([](const Rdd<std::pair<std::string, int64_t>>&) {});
    return c;
  });
  EXPECT_TRUE(ssc->hasCheckpoint());
  EXPECT_EQ(ssc->checkpointDirectory(), checkpoint);
  ssc->start();
  ssc->stop();
}

// A reliable receiver: each record is stored with storeReliably and counted as acknowledged
// only once that returns true.
std::atomic<int> acked{0};
class ReliableCounter : public Receiver<std::string> {
 public:
  explicit ReliableCounter(int n) : n_(n) {}
  void onStart() override {
    thread_ = std::thread([this] {
      for (int i = 0; i < n_ && !isStopped(); ++i) {
        if (storeReliably({"r" + std::to_string(i)})) acked.fetch_add(1);
      }
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int n_;
  std::thread thread_;
};

TEST(RecoveryTest, TheWriteAheadLogKeepsBlocksTheDriverLost) {
  for (bool wal : {false, true}) {
    SCOPED_TRACE(wal ? "with the write-ahead log" : "without it");
    std::string checkpoint = MakeTempDir("recovery-wal-cp");
    Conf conf = testing::ManualConf().set("ember.streaming.receiver.writeAheadLog.enable",
                                          wal ? "true" : "false");
    acked = 0;
    {
      ManualStreams env(Seconds(1), "local[2]", conf, kStart);
      env.ssc().checkpoint(checkpoint);
      Collector<std::string> out;
      out.Attach(env.ssc().receiverStream<ReliableCounter>(50));
      env.ssc().start();
      // Stored and acknowledged, but no batch has taken them when the driver dies.
      absl::Time deadline = absl::Now() + absl::Seconds(20);
      while (acked.load() < 50 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
      ASSERT_EQ(acked.load(), 50);
    }
    ManualStreams env(Seconds(1), "local[2]", conf, kStart + 1000);
    env.ssc().checkpoint(checkpoint);
    Collector<std::string> out;
    out.Attach(env.ssc().receiverStream<ReliableCounter>(0));
    env.ssc().start();
    env.RunBatches(2);
    std::vector<std::string> got;
    for (int64_t t = kStart + 1000; t <= kStart + 3000; t += 1000) {
      for (auto& r : out.At(Time(t))) got.push_back(r);
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got.size(), wal ? 50u : 0u);
    EXPECT_TRUE(std::unique(got.begin(), got.end()) == got.end()) << "a record twice";
    env.ssc().stop();
    // The log of blocks whose batches completed is deleted.
    EXPECT_TRUE(ListDir(checkpoint + "/receivedData").empty());
  }
}

TEST(RecoveryTest, TheWriteAheadLogNeedsACheckpointDirectory) {
  ManualStreams env(
      Seconds(1), "local[2]",
      testing::ManualConf().set("ember.streaming.receiver.writeAheadLog.enable", "true"), kStart);
  Collector<std::string> out;
  out.Attach(env.ssc().receiverStream<ReliableCounter>(1));
  try {
    env.ssc().start();
    FAIL() << "started without a checkpoint directory";
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("ssc.checkpoint"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace enginetest
}  // namespace ember
