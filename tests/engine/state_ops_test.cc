// updateStateByKey and mapWithState against a brute-force recomputation: seeded random batch
// plans (empty batches, RDDs with no records, 1..5 partitions, local[1..4]), with and without
// an initial state and a partition count; the state function removes keys and sees keys with
// no new values; mapWithState's state is also lost once and rebuilt.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "tests/engine/engine_test_util.h"

namespace ember {
namespace enginetest {
namespace {

constexpr int kSeeds = 12;

// The state: (sum of every value seen, batches seen without new values). A key is removed
// when its sum becomes a multiple of 7 or it went 2 batches without values.
using SumState = std::pair<int64_t, int32_t>;

std::optional<SumState> Update(const std::vector<int64_t>& values,
                               const std::optional<SumState>& s) {
  SumState next = s.value_or(SumState(0, 0));
  if (values.empty()) {
    ++next.second;
  } else {
    next.second = 0;
    for (int64_t v : values) next.first += v;
  }
  if (next.first % 7 == 0 || next.second >= 2) return std::nullopt;
  return next;
}

TEST(StateOpsTest, UpdateStateByKeyMatchesBruteForce) {
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed);
    std::string master = Master(rng);
    ManualStreams env(Seconds(1), master);
    env.ssc().checkpoint(MakeTempDir("state-cp"));
    auto plan = RandomPlan(rng, 8, 12, 40);
    auto q = std::make_shared<RddQueue<KV>>();
    DStream<KV> s = env.ssc().queueStream(q);
    auto values = s.map([](const KV& kv) { return std::make_pair(kv.first, kv.second); });
    bool with_initial = seed % 2 == 0;
    int partitions = static_cast<int>(rng() % 4);  // 0: the default
    std::vector<std::pair<int32_t, SumState>> initial = {{1, {3, 0}}, {2, {5, 0}}, {100, {1, 0}}};
    Collector<std::pair<int32_t, SumState>> out, windowed;
    auto fn = [](const std::vector<int64_t>& vs, const std::optional<SumState>& st) {
      return Update(vs, st);
    };
    auto states = with_initial
                      ? values.updateStateByKey(fn, partitions, env.ssc().parallelize(initial, 2))
                      : values.updateStateByKey(fn, partitions);
    // The executors keep the versions a window over the state reads.
    out.Attach(states.checkpoint(Seconds(3)));
    windowed.Attach(states.window(Seconds(2)));
    // Odd seeds lose the executors' state before one batch; it is rebuilt (see mapWithState).
    size_t lose_before = seed % 2 == 1 ? 1 + rng() % 7 : plan.size();
    internal::ContextCore* core = env.ssc().core();
    auto times = RunPlans<KV>(env, {{q.get(), &plan}}, [core, lose_before](size_t i) {
      if (i == lose_before) core->local_services()->state_store().Clear();
    });

    std::map<int32_t, SumState> state;
    if (with_initial) {
      for (const auto& [k, st] : initial) state[k] = st;
    }
    std::vector<std::pair<int32_t, SumState>> previous;
    for (size_t i = 0; i < times.size(); ++i) {
      std::map<int32_t, std::vector<int64_t>> batch;
      for (const auto& kv : plan[i].records) batch[kv.first].push_back(kv.second);
      std::map<int32_t, SumState> next;
      std::map<int32_t, bool> keys;
      for (const auto& [k, st] : state) keys[k] = true;
      for (const auto& [k, vs] : batch) keys[k] = true;
      for (const auto& [k, unused] : keys) {
        std::optional<SumState> prev;
        if (auto it = state.find(k); it != state.end()) prev = it->second;
        auto it = batch.find(k);
        // Values within a batch reach the function in no set order: the sum does not care.
        auto r = Update(it == batch.end() ? std::vector<int64_t>{} : it->second, prev);
        if (r) next[k] = *r;
      }
      state = next;
      std::vector<std::pair<int32_t, SumState>> expected(state.begin(), state.end());
      EXPECT_EQ(Sorted(out.At(times[i])), expected)
          << "seed " << seed << " batch " << i << " master " << master
          << " state lost before batch " << lose_before;
      std::vector<std::pair<int32_t, SumState>> window = previous;
      window.insert(window.end(), expected.begin(), expected.end());
      EXPECT_EQ(Sorted(windowed.At(times[i])), Sorted(window)) << "seed " << seed << " batch " << i;
      previous = expected;
    }
    ExpectNoFailures(env, times.size());
  }
}

TEST(StateOpsTest, StateOfAKeyWithNoValuesIsStillUpdated) {
  ManualStreams env(Seconds(1), "local[2]");
  env.ssc().checkpoint(MakeTempDir("state-cp"));
  auto q = std::make_shared<RddQueue<std::pair<std::string, int>>>();
  Collector<std::pair<std::string, int>> out;
  // Counts down from the first value; gone at zero.
  out.Attach(env.ssc().queueStream(q).updateStateByKey(
      [](const std::vector<int>& vs, const std::optional<int>& st) -> std::optional<int> {
        int n = st ? *st - 1 : 0;
        for (int v : vs) n += v;
        if (n <= 0) return std::nullopt;
        return n;
      }));
  env.ssc().start();
  q->push(env.ssc().parallelize(std::vector<std::pair<std::string, int>>{{"a", 2}}, 1));
  auto times = env.RunBatches(4);
  using P = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(out.At(times[0]), (P{{"a", 2}}));
  EXPECT_EQ(out.At(times[1]), (P{{"a", 1}}));
  EXPECT_EQ(out.At(times[2]), P{});
  EXPECT_EQ(out.At(times[3]), P{});
  ExpectNoFailures(env, 4);
}

TEST(StateOpsTest, MapWithStateMatchesBruteForce) {
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed + 100);
    std::string master = Master(rng);
    ManualStreams env(Seconds(1), master);
    env.ssc().checkpoint(MakeTempDir("state-cp"));
    auto plan = RandomPlan(rng, 10, 10, 30);
    auto q = std::make_shared<RddQueue<KV>>();
    int64_t timeout_batches = 1 + static_cast<int64_t>(rng() % 3);
    bool with_initial = seed % 3 == 0;
    std::vector<std::pair<int32_t, int64_t>> initial = {{3, 10}, {200, 1}};
    // Emits the key's running count after each record; a key timing out emits -count.
    auto spec = StateSpec::function([](const int32_t& key, const std::optional<int64_t>& value,
                                       ember::State<int64_t>& state) {
                  if (state.isTimingOut()) return std::make_pair(key, -state.get());
                  int64_t n = state.getOption().value_or(0) + 1;
                  state.update(n);
                  (void)value;
                  return std::make_pair(key, n);
                })
                    .numPartitions(static_cast<int>(rng() % 4))
                    .timeout(Seconds(timeout_batches));
    if (with_initial) spec.initialState(env.ssc().parallelize(initial, 2));
    auto mapped = env.ssc().queueStream(q).mapWithState(spec);
    // Odd seeds lose the executors' state before one batch (as a lost executor would): it is
    // rebuilt from the newest checkpoint (every 3 batches) or the initial state, and the
    // batches since are applied again.
    size_t lose_before = seed % 2 == 1 ? 1 + rng() % 9 : plan.size();
    mapped.checkpoint(Seconds(3));
    Collector<std::pair<int32_t, int64_t>> out, snapshots;
    out.Attach(mapped);
    snapshots.Attach(mapped.stateSnapshots());
    internal::ContextCore* core = env.ssc().core();
    auto times = RunPlans<KV>(env, {{q.get(), &plan}}, [core, lose_before](size_t i) {
      if (i == lose_before) core->local_services()->state_store().Clear();
    });

    std::map<int32_t, std::pair<int64_t, int64_t>> state;  // key -> (count, last active ms)
    if (with_initial) {
      for (const auto& [k, c] : initial) state[k] = {c, times[0].milliseconds()};
    }
    for (size_t i = 0; i < times.size(); ++i) {
      int64_t now = times[i].milliseconds();
      std::map<int32_t, int64_t> counts;
      for (const auto& kv : plan[i].records) ++counts[kv.first];
      std::vector<std::pair<int32_t, int64_t>> expected;
      for (const auto& [k, n] : counts) {
        auto& st = state[k];
        for (int64_t j = 1; j <= n; ++j) expected.emplace_back(k, st.first + j);
        st = {st.first + n, now};
      }
      for (auto it = state.begin(); it != state.end();) {
        if (!counts.count(it->first) && now - it->second.second > timeout_batches * 1000) {
          expected.emplace_back(it->first, -it->second.first);
          it = state.erase(it);
        } else {
          ++it;
        }
      }
      std::vector<std::pair<int32_t, int64_t>> snapshot;
      for (const auto& [k, st] : state) snapshot.emplace_back(k, st.first);
      EXPECT_EQ(Sorted(out.At(times[i])), Sorted(expected))
          << "seed " << seed << " batch " << i << " timeout " << timeout_batches
          << " state lost before batch " << lose_before;
      EXPECT_EQ(Sorted(snapshots.At(times[i])), snapshot) << "seed " << seed << " batch " << i;
    }
    ExpectNoFailures(env, times.size());
  }
}

// The executors keep one version of mapWithState's state: a window over its snapshots reads
// an earlier batch's, and fails saying so.
TEST(StateOpsTest, SnapshotsAreReadInTheirOwnBatch) {
  ManualStreams env(Seconds(1), "local[2]");
  env.ssc().checkpoint(MakeTempDir("state-cp"));
  auto q = std::make_shared<RddQueue<KV>>();
  auto spec = StateSpec::function(
      [](const int32_t& key, const std::optional<int64_t>& value, ember::State<int64_t>& state) {
        state.update(state.getOption().value_or(0) + value.value_or(0));
        return key;
      });
  auto mapped = env.ssc().queueStream(q).mapWithState(spec);
  Collector<std::pair<int32_t, int64_t>> windowed;
  windowed.Attach(mapped.stateSnapshots().window(Seconds(2)));
  env.ssc().start();
  q->push(env.ssc().parallelize(std::vector<KV>{{1, 5}}, 1));
  auto times = env.RunBatches(2);
  using P = std::vector<std::pair<int32_t, int64_t>>;
  EXPECT_EQ(windowed.At(times[0]), (P{{1, 5}}));
  auto done = env.ssc().core()->CompletedBatches();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_NE(done[1].failure.find("stateSnapshots() are read in their own batch"), std::string::npos)
      << done[1].failure;
  EXPECT_THROW(env.ssc().awaitTerminationOrTimeout(1), EmberError);
}

// Brute force over the raw batches: sums of (positive) values per key in (t - length, t].
std::map<int32_t, int64_t> WindowSums(const std::vector<KVBatch>& plan, size_t end, int len) {
  std::map<int32_t, int64_t> sums;
  for (size_t j = end + 1 > static_cast<size_t>(len) ? end + 1 - len : 0; j <= end; ++j) {
    for (const auto& kv : plan[j].records) sums[kv.first] += std::abs(kv.second) + 1;
  }
  return sums;
}

TEST(StateOpsTest, InverseWindowsMatchBruteForce) {
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed + 200);
    std::string master = Master(rng);
    ManualStreams env(Seconds(1), master);
    env.ssc().checkpoint(MakeTempDir("state-cp"));
    int slide = 1 + static_cast<int>(rng() % 3);
    int len = slide * (1 + static_cast<int>(rng() % 4));
    int n = static_cast<int>(rng() % 4);
    auto plan = RandomPlan(rng, 14, 9, 25);
    auto q = std::make_shared<RddQueue<KV>>();
    auto positive = env.ssc().queueStream(q).map(
        [](const KV& kv) { return std::make_pair(kv.first, std::abs(kv.second) + 1); });
    auto plus = [](int64_t a, int64_t b) { return a + b; };
    auto minus = [](int64_t a, int64_t b) { return a - b; };
    Collector<std::pair<int32_t, int64_t>> filtered, unfiltered, counts, hiding;
    Collector<int64_t> total;
    filtered.Attach(positive.reduceByKeyAndWindow(
        plus, minus, Seconds(len), Seconds(slide), n,
        [](const std::pair<int32_t, int64_t>& kv) { return kv.second > 0; }));
    unfiltered.Attach(positive.reduceByKeyAndWindow(plus, minus, Seconds(len), Seconds(slide)));
    // A filter that hides keys whose window still holds their records: when those leave,
    // the sums must still be exact (Spark fails the batch or gives a wrong sum).
    hiding.Attach(positive.reduceByKeyAndWindow(
        plus, minus, Seconds(len), Seconds(slide), n,
        [](const std::pair<int32_t, int64_t>& kv) { return kv.second >= 10; }));
    counts.Attach(positive.map([](const std::pair<int32_t, int64_t>& kv) { return kv.first; })
                      .countByValueAndWindow(Seconds(len), Seconds(slide)));
    total.Attach(positive.map([](const std::pair<int32_t, int64_t>& kv) { return kv.second; })
                     .reduceByWindow(plus, minus, Seconds(len), Seconds(slide)));
    auto times = RunPlans<KV>(env, {{q.get(), &plan}});
    std::map<int32_t, int64_t> seen;  // every key since the first window, for `unfiltered`
    bool first = true;
    for (size_t i = 0; i < times.size(); ++i) {
      if ((i + 1) % static_cast<size_t>(slide) != 0) {
        EXPECT_TRUE(filtered.At(times[i]).empty());
        continue;
      }
      auto sums = WindowSums(plan, i, len);
      std::vector<std::pair<int32_t, int64_t>> expected(sums.begin(), sums.end());
      EXPECT_EQ(Sorted(filtered.At(times[i])), expected)
          << "seed " << seed << " batch " << i << " len " << len << " slide " << slide;
      std::vector<std::pair<int32_t, int64_t>> shown;
      for (const auto& kv : expected) {
        if (kv.second >= 10) shown.push_back(kv);
      }
      EXPECT_EQ(Sorted(hiding.At(times[i])), shown)
          << "seed " << seed << " batch " << i << " len " << len << " slide " << slide;
      // Without a filter, keys stay (at zero) once seen.
      if (first) seen.clear();
      first = false;
      for (auto& [k, v] : seen) v = 0;
      for (const auto& [k, v] : sums) seen[k] = v;
      std::vector<std::pair<int32_t, int64_t>> kept(seen.begin(), seen.end());
      EXPECT_EQ(Sorted(unfiltered.At(times[i])), kept) << "seed " << seed << " batch " << i;
      std::map<int32_t, int64_t> c;
      for (size_t j = i + 1 > static_cast<size_t>(len) ? i + 1 - len : 0; j <= i; ++j) {
        for (const auto& kv : plan[j].records) ++c[kv.first];
      }
      EXPECT_EQ(Sorted(counts.At(times[i])),
                (std::vector<std::pair<int32_t, int64_t>>(c.begin(), c.end())))
          << "seed " << seed << " batch " << i;
      int64_t sum = 0;
      for (const auto& [k, v] : sums) sum += v;
      auto got = total.At(times[i]);
      if (sum == 0) {
        // A window that never had a record has no value; one that emptied holds 0.
        EXPECT_LE(got.size(), 1u);
        if (!got.empty()) {
          EXPECT_EQ(got[0], 0);
        }
      } else {
        EXPECT_EQ(got, std::vector<int64_t>{sum}) << "seed " << seed << " batch " << i;
      }
    }
    ExpectNoFailures(env, times.size());
  }
}

TEST(StateOpsTest, InverseWindowDurationsMustBeMultiples) {
  ManualStreams env(Seconds(1), "local[2]");
  auto q = std::make_shared<RddQueue<KV>>();
  auto s = env.ssc().queueStream(q);
  auto plus = [](int64_t a, int64_t b) { return a + b; };
  EXPECT_THROW(s.reduceByKeyAndWindow(plus, plus, Milliseconds(2500), Seconds(1)), EmberError);
  EXPECT_THROW(s.reduceByKeyAndWindow(plus, plus, Seconds(2), Milliseconds(1500)), EmberError);
}

// A running count per key; `first` values 1..n pushed per batch for keys 0..2.
struct CheckpointedCount {
  // Each run starts its (manual) clock later, as a restarted driver's clock is.
  explicit CheckpointedCount(const std::string& dir, int64_t start_ms = 0, bool set_dir = true)
      : env(Seconds(1), "local[2]", testing::ManualConf(), start_ms) {
    if (set_dir) env.ssc().checkpoint(dir);
    q = std::make_shared<RddQueue<std::pair<int, int64_t>>>();
    auto counts = env.ssc().queueStream(q).updateStateByKey(
        [](const std::vector<int64_t>& vs,
           const std::optional<int64_t>& s) -> std::optional<int64_t> {
          int64_t n = s.value_or(0);
          for (int64_t v : vs) n += v;
          return n;
        });
    counts.checkpoint(Seconds(1));  // every batch
    out.Attach(counts);
  }
  std::vector<std::pair<int, int64_t>> Run(int batches) {
    env.ssc().start();
    std::vector<std::pair<int, int64_t>> last;
    for (int b = 0; b < batches; ++b) {
      q->push(
          env.ssc().parallelize(std::vector<std::pair<int, int64_t>>{{0, 1}, {1, 2}, {2, 3}}, 2));
      last = Sorted(out.At(env.RunBatches(1)[0]));
    }
    env.ssc().stop();
    return last;
  }
  ManualStreams env;
  std::shared_ptr<RddQueue<std::pair<int, int64_t>>> q;
  Collector<std::pair<int, int64_t>> out;
};

TEST(StateOpsTest, StateContinuesFromItsCheckpointInANewContext) {
  std::string dir = MakeTempDir("state-restore");
  using P = std::vector<std::pair<int, int64_t>>;
  EXPECT_EQ(CheckpointedCount(dir).Run(3), (P{{0, 3}, {1, 6}, {2, 9}}));
  // The same graph on the same directory (a restarted driver): the counts go on.
  EXPECT_EQ(CheckpointedCount(dir, 10000).Run(2), (P{{0, 5}, {1, 10}, {2, 15}}));

  // A corrupt newest checkpoint: the one before is used, with a warning.
  std::vector<std::string> times = ListDir(dir + "/state-0");
  ASSERT_EQ(times.size(), 2u);  // the newest two are kept
  std::sort(times.begin(), times.end());
  {
    std::ofstream corrupt(dir + "/state-0/" + times[1] + "/part-00000", std::ios::trunc);
    corrupt << "garbage";
  }
  EXPECT_EQ(CheckpointedCount(dir, 20000).Run(1), (P{{0, 5}, {1, 10}, {2, 15}}));
}

TEST(StateOpsTest, StatefulStreamsRequireACheckpointDirectory) {
  CheckpointedCount no_dir("", 0, /*set_dir=*/false);
  try {
    no_dir.env.ssc().start();
    FAIL() << "started without a checkpoint directory";
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("ssc.checkpoint(directory)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(no_dir.env.ssc().checkpoint("/proc/no/such/dir"), EmberError);
}

}  // namespace
}  // namespace enginetest
}  // namespace ember
