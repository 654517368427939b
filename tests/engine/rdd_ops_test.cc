// The Rdd API as job code uses it inside transform and foreachRDD, user failures, and the
// closures that ship to executors, on a manual clock over seeded random batches, checked
// against naive references.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "tests/engine/engine_test_util.h"

namespace ember {
namespace enginetest {
namespace {

constexpr int kBatches = 6;

int64_t SortKey(const KV& kv) { return kv.first * 10000 + kv.second; }

// foreachPartition's function: leaves "<records> <sum>" in a new file of `dir`.
struct RecordPartition {
  FixedPath dir;
  void operator()(const std::vector<KV>& p) const {
    int64_t sum = 0;
    for (const auto& kv : p) sum += kv.second;
    WriteMarker(dir, std::to_string(p.size()) + " " + std::to_string(sum));
  }
};

// What one batch's foreachRDD saw, by Rdd operation.
struct Seen {
  std::vector<KV> mapped, filtered, reduced, unioned, asc, desc, distinct_kv, joined_left;
  std::vector<int64_t> flat, distinct_values;
  std::vector<std::string> by_string, by_string_desc;
  std::vector<std::pair<int64_t, int64_t>> parts;
  std::vector<Joined> joined;
  std::vector<std::vector<KV>> takes;
  std::vector<std::string> foreach_files;
  int reduced_n = 0, joined_n = 0, union_n = 0, sort_n = 0, partitions = 0;
  int64_t count = 0, fused_count = 0;
  std::optional<KV> first;
  std::optional<int64_t> sum;
  std::string first_error, reduce_error;
  bool is_empty = false, fused_is_empty = false;
};

std::vector<KV> Lookup() {
  std::vector<KV> v;
  for (int32_t k = 0; k < 30; k += 3) v.emplace_back(k, 100 + k);
  v.emplace_back(3, -1);  // a key with two matches
  return v;
}

void RddCase(const std::vector<KVBatch>& plan, const std::string& master, int n) {
  const int batches = static_cast<int>(plan.size());
  ManualStreams env(Seconds(1), master);
  StreamingContext* ssc = &env.ssc();
  const std::string base = MakeTempDir("foreach");
  auto q = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = ssc->queueStream(q);
  auto seen = std::make_shared<std::map<int64_t, Seen>>();
  s.foreachRDD([ssc, seen, n, base](const Rdd<KV>& rdd, Time t) {
    Seen r;
    r.mapped = rdd.map([](const KV& kv) { return KV(kv.second, kv.first); }).collect();
    r.flat = rdd.flatMap([](const KV& kv) {
                  return std::vector<int64_t>(static_cast<size_t>(Mod(kv.second, 3)), kv.first);
                })
                 .collect();
    r.filtered = rdd.filter([](const KV& kv) { return kv.second < 0; }).collect();
    r.parts = rdd.mapPartitions([](const std::vector<KV>& p) {
                   std::vector<std::pair<int64_t, int64_t>> out;
                   for (const auto& kv : p)
                     out.emplace_back(kv.first, static_cast<int64_t>(p.size()));
                   return out;
                 })
                  .collect();
    auto reduced = rdd.reduceByKey([](int64_t a, int64_t b) { return a + b; }, n);
    r.reduced = reduced.collect();
    r.reduced_n = reduced.getNumPartitions();
    auto lookup = ssc->parallelize(Lookup(), 3);
    auto joined = rdd.join(lookup, n);
    r.joined = joined.collect();
    r.joined_n = joined.getNumPartitions();
    r.joined_left = lookup.map([](const KV& kv) { return kv; }).union_(rdd).collect();
    auto unioned = rdd.union_(rdd.filter([](const KV& kv) { return kv.first % 2 == 0; }));
    r.unioned = unioned.collect();
    r.union_n = unioned.getNumPartitions();
    auto asc = rdd.sortBy([](const KV& kv) { return kv.second; }, true, n);
    r.asc = asc.collect();
    r.sort_n = asc.getNumPartitions();
    r.desc = rdd.sortBy([](const KV& kv) { return SortKey(kv); }, false, n).collect();
    auto strings = rdd.map([](const KV& kv) { return std::to_string(kv.second); });
    r.by_string = strings.sortBy([](const std::string& x) { return x; }, true, n).collect();
    r.by_string_desc = strings.sortBy([](const std::string& x) { return x; }, false, n).collect();
    r.distinct_values =
        rdd.map([](const KV& kv) { return Mod(kv.second, 10); }).distinct().collect();
    r.distinct_kv = rdd.distinct(n).collect();
    r.count = rdd.count();
    r.fused_count = rdd.filter([](const KV& kv) { return kv.second > 0; }).count();
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{3}, r.count, r.count + 5}) {
      r.takes.push_back(rdd.take(k));
    }
    try {
      r.first = rdd.first();
    } catch (const EmberError& e) {
      r.first_error = e.what();
    }
    r.is_empty = rdd.isEmpty();
    r.fused_is_empty = rdd.filter([](const KV& kv) { return kv.second > 0; }).isEmpty();
    r.partitions = rdd.getNumPartitions();
    try {
      r.sum = rdd.map([](const KV& kv) { return kv.second; }).reduce([](int64_t a, int64_t b) {
        return a + b;
      });
    } catch (const EmberError& e) {
      r.reduce_error = e.what();
    }
    std::string dir = base + "/" + std::to_string(t.milliseconds());
    if (mkdir(dir.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + dir);
    rdd.foreachPartition(RecordPartition{FixedPath::Of(dir)});
    for (const auto& name : ListDir(dir)) r.foreach_files.push_back(ReadFile(dir + "/" + name));
    (*seen)[t.milliseconds()] = std::move(r);
  });
  // The same operations through transform, in streams.
  Collector<KV> sorted_desc, distinct_t, joined_t;
  sorted_desc.Attach(s.transform([](const Rdd<KV>& rdd) {
    return rdd.sortBy([](const KV& kv) { return SortKey(kv); }, false);
  }));
  distinct_t.Attach(s.map([](const KV& kv) {
                       return KV(kv.first, Mod(kv.second, 2));
                     }).transform([](const auto& rdd) { return rdd.distinct(); }));
  joined_t.Attach(s.transform([ssc](const Rdd<KV>& rdd) {
    return rdd.join(ssc->parallelize(Lookup(), 2)).map([](const Joined& j) {
      return KV(j.first, j.second.first + j.second.second);
    });
  }));

  auto times = RunPlans<KV>(env, {{q.get(), &plan}});
  ExpectNoFailures(env, batches);
  ASSERT_EQ(seen->size(), static_cast<size_t>(batches));
  for (int i = 0; i < batches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const auto& in = plan[i].records;
    const auto slices = PartsOf(plan[i]);
    const Seen& r = (*seen)[times[i].milliseconds()];
    std::vector<KV> e_mapped, e_filtered, e_unioned = in, e_joined_left = Lookup(), e_dkv;
    std::vector<int64_t> e_flat, e_values;
    std::vector<std::string> e_strings;
    std::set<int64_t> e_distinct;
    int64_t e_sum = 0, positives = 0;
    for (const auto& kv : in) {
      e_mapped.emplace_back(kv.second, kv.first);
      for (int64_t j = 0; j < Mod(kv.second, 3); ++j) e_flat.push_back(kv.first);
      if (kv.second < 0) e_filtered.push_back(kv);
      if (kv.first % 2 == 0) e_unioned.push_back(kv);
      e_joined_left.push_back(kv);
      e_values.push_back(kv.second);
      e_strings.push_back(std::to_string(kv.second));
      e_distinct.insert(Mod(kv.second, 10));
      e_sum += kv.second;
      positives += kv.second > 0;
    }
    std::vector<std::pair<int64_t, int64_t>> e_parts;
    for (const auto& p : slices) {
      for (const auto& kv : p) e_parts.emplace_back(kv.first, static_cast<int64_t>(p.size()));
    }
    EXPECT_EQ(r.mapped, e_mapped);
    EXPECT_EQ(r.flat, e_flat);
    EXPECT_EQ(r.filtered, e_filtered);
    EXPECT_EQ(r.parts, e_parts);
    EXPECT_EQ(Sorted(r.reduced), RefReduceSum(in));
    EXPECT_EQ(r.reduced_n, n);
    EXPECT_EQ(Sorted(r.joined), RefJoin(in, Lookup()).inner);
    EXPECT_EQ(r.joined_n, n);
    EXPECT_EQ(r.joined_left, e_joined_left);
    EXPECT_EQ(r.unioned, e_unioned);
    EXPECT_EQ(r.union_n, 2 * static_cast<int>(slices.size()));
    // sortBy: a total order across all partitions, not only within each.
    std::vector<int64_t> asc_keys, desc_keys, e_desc;
    for (const auto& kv : r.asc) asc_keys.push_back(kv.second);
    for (const auto& kv : r.desc) desc_keys.push_back(SortKey(kv));
    for (const auto& kv : in) e_desc.push_back(SortKey(kv));
    std::sort(e_desc.rbegin(), e_desc.rend());
    EXPECT_EQ(asc_keys, Sorted(e_values));
    EXPECT_EQ(Sorted(r.asc), Sorted(in));
    EXPECT_EQ(desc_keys, e_desc);
    EXPECT_EQ(Sorted(r.desc), Sorted(in));
    EXPECT_EQ(r.by_string, Sorted(e_strings));
    std::sort(e_strings.rbegin(), e_strings.rend());
    EXPECT_EQ(r.by_string_desc, e_strings);
    EXPECT_EQ(r.sort_n, n);
    std::vector<int64_t> t_keys;
    for (const auto& kv : sorted_desc.At(times[i])) t_keys.push_back(SortKey(kv));
    EXPECT_EQ(t_keys, e_desc);
    EXPECT_EQ(Sorted(r.distinct_values),
              std::vector<int64_t>(e_distinct.begin(), e_distinct.end()));
    std::set<KV> dkv(in.begin(), in.end()), d2;
    EXPECT_EQ(Sorted(r.distinct_kv), std::vector<KV>(dkv.begin(), dkv.end()));
    for (const auto& kv : in) d2.insert(KV(kv.first, Mod(kv.second, 2)));
    EXPECT_EQ(Sorted(distinct_t.At(times[i])), std::vector<KV>(d2.begin(), d2.end()));
    std::vector<KV> e_joined_t;
    for (const auto& j : RefJoin(in, Lookup()).inner) {
      e_joined_t.emplace_back(j.first, j.second.first + j.second.second);
    }
    EXPECT_EQ(Sorted(joined_t.At(times[i])), Sorted(e_joined_t));
    // Actions.
    EXPECT_EQ(r.count, static_cast<int64_t>(in.size()));
    EXPECT_EQ(r.fused_count, positives);
    ASSERT_EQ(r.takes.size(), 5u);
    for (size_t k = 0; k < r.takes.size(); ++k) {
      size_t want = std::min(in.size(), std::vector<size_t>{0, 1, 3, in.size(), in.size() + 5}[k]);
      EXPECT_EQ(r.takes[k], std::vector<KV>(in.begin(), in.begin() + want)) << "take #" << k;
    }
    if (in.empty()) {
      EXPECT_FALSE(r.first.has_value());
      EXPECT_EQ(r.first_error, "first: empty collection");
      EXPECT_FALSE(r.sum.has_value());
      EXPECT_EQ(r.reduce_error, "reduce: empty collection");
    } else {
      EXPECT_EQ(r.first, in[0]);
      EXPECT_EQ(r.first_error, "");
      EXPECT_EQ(r.sum, e_sum);
    }
    EXPECT_EQ(r.is_empty, in.empty());
    EXPECT_EQ(r.fused_is_empty, positives == 0);
    EXPECT_EQ(r.partitions, static_cast<int>(slices.size()));
    std::vector<std::string> e_files;
    for (const auto& p : slices)
      e_files.push_back(std::to_string(p.size()) + " " + std::to_string(Sum(p)));
    EXPECT_EQ(Sorted(r.foreach_files), Sorted(e_files));
  }
  env.ssc().stop();
}

TEST(RddOpsTest, OperationsInsideForeachRDDAndTransformMatchReference) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const std::string master = Master(rng);
    const auto plan = RandomPlan(rng, kBatches, std::vector<int>{1, 5, 30}[rng() % 3], 50);
    RddCase(plan, master, 1 + static_cast<int>(rng() % 5));
  }
}

// 200k records of key 3 (which has two matches in the lookup table) between empty batches.
TEST(RddOpsTest, OneHugeKeyMatchesReference) {
  std::mt19937 rng(17);
  std::vector<KVBatch> plan = {RandomKVBatch(rng, 30, 30), KVBatch{},
                               HugeKeyBatch(rng, 3, 200000, 50, 5), KVBatch{}};
  RddCase(plan, "local[4]", 3);
}

// --------------------------------------------------------------------------------- failures

constexpr int32_t kPoison = 13;
void ThrowOnPoison(const KV& kv) {
  if (kv.first == kPoison) throw std::runtime_error("poison record 13");
}

// Batch 1 (at 2000 ms) holds the poison key; batches 0 and 2 do not. `build` adds the output
// that must fail on it. The error surfaces through awaitTerminationOrTimeout with its message
// and batch time, and later batches still run.
void ExpectPoisonFailsBatch(const std::function<void(DStream<KV>&, StreamingContext&)>& build,
                            const std::string& message) {
  SCOPED_TRACE("expecting: " + message);
  ManualStreams env(Seconds(1), "local[2]");
  env.ssc().core()->SetOutputSink([](const std::string&) {});
  auto q = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = env.ssc().queueStream(q);
  build(s, env.ssc());
  Collector<KV> after;
  after.Attach(s);
  const std::vector<std::vector<KV>> batches = {
      {{1, 1}, {2, 2}, {3, 3}}, {{1, 1}, {kPoison, 5}, {2, 2}}, {{4, 4}, {5, 5}}};
  env.ssc().start();
  std::vector<Time> times;
  for (size_t i = 0; i < batches.size(); ++i) {
    q->push(env.ssc().parallelize(batches[i], 2));
    times.push_back(env.RunBatches(1)[0]);
    if (i == 0) {
      EXPECT_FALSE(env.ssc().awaitTerminationOrTimeout(1));
    }
  }
  for (int round = 0; round < 2; ++round) {  // the error stays until the context stops
    try {
      env.ssc().awaitTerminationOrTimeout(1);
      ADD_FAILURE() << "expected the batch's error";
    } catch (const EmberError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(message), std::string::npos) << what;
      EXPECT_NE(what.find("2000 ms"), std::string::npos) << what;
    }
  }
  // Each output is a job of its own: the others of the failed batch ran, as did later batches.
  EXPECT_EQ(after.At(times[1]), batches[1]);
  EXPECT_EQ(after.At(times[2]), batches[2]);
  auto done = env.ssc().core()->CompletedBatches();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].failure, "");
  EXPECT_NE(done[1].failure.find(message), std::string::npos) << done[1].failure;
  EXPECT_EQ(done[2].failure, "");
  env.ssc().stop();
}

TEST(RddOpsTest, UserExceptionsFailTheBatchWithMessageAndTime) {
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.map([](const KV& kv) { return ThrowOnPoison(kv), kv; }).print();
      },
      "poison record 13");
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.map([](const KV& kv) { return KV(0, kv.first); })
            .reduceByKey(
                [](int64_t a, int64_t b) {
                  if (a == kPoison || b == kPoison) throw std::runtime_error("poison in reduce");
                  return a + b;
                },
                3)
            .count()
            .print();
      },
      "poison in reduce");
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.foreachRDD([](const Rdd<KV>& rdd) {
          for (const auto& kv : rdd.collect()) {
            if (kv.first == kPoison) throw std::runtime_error("driver-side poison");
          }
        });
      },
      "driver-side poison");
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.transform([](const Rdd<KV>& rdd) {
           if (!rdd.filter([](const KV& kv) { return kv.first == kPoison; }).isEmpty()) {
             throw std::runtime_error("transform poison");
           }
           return rdd;
         }).print();
      },
      "transform poison");
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.foreachRDD([](const Rdd<KV>& rdd) {
          auto poison = rdd.filter([](const KV& kv) { return kv.first == kPoison; });
          if (!poison.isEmpty()) rdd.filter([](const KV& kv) { return kv.first < 0; }).first();
        });
      },
      "first: empty collection");
  ExpectPoisonFailsBatch(
      [](DStream<KV>& s, StreamingContext&) {
        s.foreachRDD([](const Rdd<KV>& rdd) {
          rdd.foreachPartition([](const std::vector<KV>& p) {
            for (const auto& kv : p) ThrowOnPoison(kv);
          });
        });
      },
      "poison record 13");
}

// ---------------------------------------------------------------------------------- closures

// A function object that is not trivially copyable: it ships through its own codec.
struct Relabel {
  std::string prefix;
  std::vector<int64_t> table;
  void serialize(Writer& w) const {
    Encode(prefix, w);
    Encode(table, w);
  }
  bool deserialize(Reader& r) { return Decode(r, &prefix) && Decode(r, &table); }
  std::pair<std::string, int64_t> operator()(const KV& kv) const {
    return {prefix + std::to_string(kv.first), table[static_cast<size_t>(Mod(kv.second, 4))]};
  }
  int64_t operator()(int64_t a, int64_t b) const { return a + b + table[0]; }
  bool operator()(const std::pair<std::string, int64_t>& x) const { return x.second != table[1]; }
  std::vector<std::pair<std::string, int64_t>> operator()(const std::vector<KV>& p) const {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& kv : p) out.push_back((*this)(kv));
    return out;
  }
};
static_assert(!std::is_trivially_copyable_v<Relabel>, "ships through serialize()");

TEST(RddOpsTest, ClosuresShipByValueCodecAndBroadcast) {
  std::mt19937 rng(99);
  ManualStreams env(Seconds(1), "local[3]");
  StreamingContext& ssc = env.ssc();
  const auto plan = RandomPlan(rng, kBatches, 8, 40);
  auto q = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = ssc.queueStream(q);
  const int32_t mul = 3 + static_cast<int32_t>(rng() % 5);
  const double scale = 0.25 * (1 + rng() % 7);
  const Relabel relabel{"key-", {10, 20, 30, 40}};
  const std::vector<std::string> words = {"zero", "one", "two", "three", "four"};
  Broadcast<std::vector<std::string>> bw = ssc.broadcast(words);

  Collector<std::pair<int64_t, double>> by_value;
  Collector<std::pair<std::string, int64_t>> codec_mapped, codec_reduced, codec_parts;
  Collector<std::string> broadcast_words;
  Collector<int64_t> codec_sum;
  by_value.Attach(s.filter([mul](const KV& kv) {
                     return kv.second % mul != 0;
                   }).map([mul, scale](const KV& kv) {
    return std::make_pair(kv.second * mul, kv.second * scale);
  }));
  auto relabeled = s.map(relabel).filter(relabel);
  codec_mapped.Attach(relabeled);
  codec_reduced.Attach(relabeled.reduceByKey(relabel, 2));
  codec_parts.Attach(s.mapPartitions(relabel));
  StreamingContext* context = &ssc;
  codec_sum.Attach(s.transform([relabel, context](const Rdd<KV>& rdd) {
    std::vector<int64_t> total;
    if (!rdd.isEmpty()) {
      total.push_back(rdd.map([](const KV& kv) { return kv.second; }).reduce(relabel));
    }
    return context->parallelize(total, 1);
  }));
  broadcast_words.Attach(
      s.filter([bw](const KV& kv) {
         return bw.value().size() == 5 && kv.second >= 0;
       }).map([bw](const KV& kv) { return bw.value()[static_cast<size_t>(kv.second % 5)]; }));

  auto times = RunPlans<KV>(env, {{q.get(), &plan}});
  ExpectNoFailures(env, kBatches);
  for (int i = 0; i < kBatches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const Time t = times[i];
    const auto& in = plan[i].records;
    std::vector<std::pair<int64_t, double>> e_by_value;
    std::vector<std::pair<std::string, int64_t>> e_codec, e_parts;
    std::map<std::string, int64_t> e_reduced;
    std::map<std::string, int> e_seen;
    std::vector<std::string> e_words;
    for (const auto& kv : in) {
      if (kv.second % mul != 0) e_by_value.emplace_back(kv.second * mul, kv.second * scale);
      int64_t v = std::vector<int64_t>{10, 20, 30, 40}[static_cast<size_t>(Mod(kv.second, 4))];
      std::string k = "key-" + std::to_string(kv.first);
      e_parts.emplace_back(k, v);
      if (v != 20) {
        e_codec.emplace_back(k, v);
        // Each extra value of a key adds table[0] = 10 once, as relabel(a, b) does.
        e_reduced[k] += v + (e_seen[k]++ > 0 ? 10 : 0);
      }
      if (kv.second >= 0) e_words.push_back(words[static_cast<size_t>(kv.second % 5)]);
    }
    EXPECT_EQ(by_value.At(t), e_by_value);
    EXPECT_EQ(codec_mapped.At(t), e_codec);
    EXPECT_EQ(codec_parts.At(t), e_parts);
    EXPECT_EQ(Sorted(codec_reduced.At(t)),
              (std::vector<std::pair<std::string, int64_t>>(e_reduced.begin(), e_reduced.end())));
    int64_t e_total = 0;
    for (size_t j = 0; j < in.size(); ++j) e_total += in[j].second + (j > 0 ? 10 : 0);
    EXPECT_EQ(codec_sum.At(t), in.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{e_total});
    EXPECT_EQ(broadcast_words.At(t), e_words);
  }
  ssc.stop();
}

// flatMap may return a container it does not give away: a reference to a table that lives on,
// or a view over one. Its elements must be copied, not moved out of it.
std::vector<std::string>& Names() {
  static std::vector<std::string> names = {"alpha-with-a-long-name", "beta-with-a-long-name"};
  return names;
}

TEST(RddOpsTest, FlatMapDoesNotMoveOutOfAContainerItDoesNotOwn) {
  ManualStreams env(Seconds(1), "local[1]");
  auto q = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = env.ssc().queueStream(q);
  const std::vector<std::string> names = Names();
  Collector<std::string> by_ref, by_view;
  by_ref.Attach(s.flatMap([](const KV&) -> std::vector<std::string>& { return Names(); }));
  by_view.Attach(s.flatMap([](const KV&) { return absl::Span<std::string>(Names()); }));
  std::vector<KVBatch> plan(1);
  plan[0] = KVBatch{true, 1, {{1, 1}, {2, 2}}};
  auto times = RunPlans<KV>(env, {{q.get(), &plan}});
  ExpectNoFailures(env, 1);
  std::vector<std::string> twice = names;
  twice.insert(twice.end(), names.begin(), names.end());
  EXPECT_EQ(by_ref.At(times[0]), twice);
  EXPECT_EQ(by_view.At(times[0]), twice);
  EXPECT_EQ(Names(), names);
  env.ssc().stop();
}

// mapValues, flatMapValues and DStream::reduce wrap the user's function in an internal
// function object (ApplyToValue, FlatApplyToValue, ReduceAdapter) that has neither the
// function's codec nor a codec of its own, so a serializable function object passed to them
// does not compile (EMBER_ASSERT_SHIPPABLE), although map, filter, reduceByKey and Rdd::reduce
// accept it. Runs the operations end to end once the wrappers forward the codec.
struct AddTableHead {
  std::vector<int64_t> table;
  void serialize(Writer& w) const { Encode(table, w); }
  bool deserialize(Reader& r) { return Decode(r, &table); }
  int64_t operator()(int64_t v) const { return v + table[0]; }
  int64_t operator()(int64_t a, int64_t b) const { return a + b + table[0]; }
};
struct AlsoTableHead {
  std::vector<int64_t> table;
  void serialize(Writer& w) const { Encode(table, w); }
  bool deserialize(Reader& r) { return Decode(r, &table); }
  std::vector<int64_t> operator()(int64_t v) const { return {v, v + table[0]}; }
};

template <typename F, typename G>
void CheckWrappersShip() {
  using internal::kIsShippable;
  constexpr bool kMapValues = kIsShippable<internal::ApplyToValue<F>>;
  constexpr bool kFlatMapValues = kIsShippable<internal::FlatApplyToValue<G, int32_t, int64_t>>;
  constexpr bool kReduce = kIsShippable<internal::ReduceAdapter<F>>;
  EXPECT_TRUE(kMapValues) << "mapValues(serializable function object) does not compile";
  EXPECT_TRUE(kFlatMapValues) << "flatMapValues(serializable function object) does not compile";
  EXPECT_TRUE(kReduce) << "DStream::reduce(serializable function object) does not compile";
  if constexpr (kMapValues && kFlatMapValues && kReduce) {
    ManualStreams env(Seconds(1), "local[2]");
    auto q = std::make_shared<RddQueue<KV>>();
    DStream<KV> s = env.ssc().queueStream(q);
    const F add{{100}};
    const G twice{{1000}};
    Collector<KV> mapped, flat;
    Collector<int64_t> reduced;
    mapped.Attach(s.mapValues(add));
    flat.Attach(s.flatMapValues(twice));
    reduced.Attach(s.map([](const KV& kv) { return kv.second; }).reduce(add));
    std::vector<KVBatch> plan(1);
    plan[0] = KVBatch{true, 2, {{1, 1}, {2, 2}, {3, 3}}};
    auto times = RunPlans<KV>(env, {{q.get(), &plan}});
    ExpectNoFailures(env, 1);
    EXPECT_EQ(mapped.At(times[0]), (std::vector<KV>{{1, 101}, {2, 102}, {3, 103}}));
    EXPECT_EQ(flat.At(times[0]),
              (std::vector<KV>{{1, 1}, {1, 1001}, {2, 2}, {2, 1002}, {3, 3}, {3, 1003}}));
    EXPECT_EQ(reduced.At(times[0]), std::vector<int64_t>{206});
    env.ssc().stop();
  }
}

TEST(RddOpsTest, ValueAndReduceWrappersShipSerializableFunctionObjects) {
  CheckWrappersShip<AddTableHead, AlsoTableHead>();
}

}  // namespace
}  // namespace enginetest
}  // namespace ember
