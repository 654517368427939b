// Every DStream operator, run batch by batch on a manual clock over seeded random input (empty
// batches, RDDs with no records, 1..5 partitions, local[1..4], one huge key), checked against a
// naive reference computed with plain loops on the same input.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/engine/engine_test_util.h"

namespace ember {
namespace enginetest {
namespace {

constexpr int kSeeds = 8;
constexpr int kBatches = 6;

// ------------------------------------------------------------------- narrow and per-batch ops

void NarrowCase(uint32_t seed, const std::vector<KVBatch>& plan, const std::vector<KVBatch>& plan2,
                const std::string& master) {
  std::mt19937 rng(seed);
  ManualStreams env(Seconds(1), master);
  StreamingContext& ssc = env.ssc();
  const int batches = static_cast<int>(plan.size());
  const int rep = 1 + static_cast<int>(rng() % 5);
  auto q = std::make_shared<RddQueue<KV>>();
  auto q2 = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = ssc.queueStream(q);
  DStream<KV> s2 = ssc.queueStream(q2);

  Collector<KV> mapped, filtered, repartitioned, unioned, unioned_with, ssc_union, transformed;
  Collector<int64_t> flat, chain, mid_chain, count, filtered_count, sum, max, tw_time;
  Collector<std::pair<int64_t, int64_t>> parts, fused_parts, by_value, by_value3, t_time;
  Collector<std::vector<KV>> glom, rep_glom;
  Collector<KV> tw;
  PartitionCounter rep_n, union_n, by_value3_n;
  mapped.Attach(s.map([](const KV& kv) { return KV(kv.first + 1, kv.second * 3 - 1); }));
  flat.Attach(s.flatMap([](const KV& kv) {
    return std::vector<int64_t>(static_cast<size_t>(Mod(kv.second, 3)), kv.second);
  }));
  filtered.Attach(s.filter([](const KV& kv) { return kv.second % 2 == 0; }));
  auto fused = s.map([](const KV& kv) { return kv.second; })
                   .filter([](int64_t v) { return v > -500; })
                   .flatMap([](int64_t v) {
                     return std::vector<int64_t>{v, v + 1};
                   })
                   .map([](int64_t v) { return v * 2; });
  static_assert(!std::is_same_v<decltype(fused), DStream<int64_t>>, "the chain stays fused");
  chain.Attach(fused);
  DStream<int64_t> mid =
      s.map([](const KV& kv) { return kv.second; }).filter([](int64_t v) { return v % 3 == 0; });
  mid_chain.Attach(mid.map([](int64_t v) { return v * v; }));
  auto size_and_sum = [](const std::vector<KV>& p) {
    return std::vector<std::pair<int64_t, int64_t>>{{static_cast<int64_t>(p.size()), Sum(p)}};
  };
  parts.Attach(s.mapPartitions(size_and_sum));
  fused_parts.Attach(
      s.filter([](const KV& kv) { return kv.second > 0; }).mapPartitions(size_and_sum));
  glom.Attach(s.glom());
  DStream<KV> r = s.repartition(rep);
  repartitioned.Attach(r);
  rep_glom.Attach(r.glom());
  rep_n.Attach(r);
  auto s2_neg = s2.map([](const KV& kv) { return KV(kv.first, -kv.second); });
  DStream<KV> u = s.union_(s2);
  unioned.Attach(u);
  union_n.Attach(u);
  unioned_with.Attach(s.unionWith(s2_neg));
  ssc_union.Attach(ssc.union_(std::vector<DStream<KV>>{s, s2, s}));
  Collector<KV> self_union;
  self_union.Attach(s.union_(s));
  Collector<std::string> words;
  words.Attach(s.map([](const KV& kv) {
                  return std::to_string(kv.first) + "  " + std::to_string(kv.second) + " ";
                }).flatMap([](const std::string& line) { return Split(line, ' '); }));
  count.Attach(s.count());
  filtered_count.Attach(s.filter([](const KV& kv) { return kv.first % 2 == 0; }).count());
  auto values = s.map([](const KV& kv) { return kv.second; });
  by_value.Attach(s.map([](const KV& kv) { return Mod(kv.second, 7); }).countByValue());
  auto bv3 = s.map([](const KV& kv) { return Mod(kv.second, 7); }).countByValue(3);
  by_value3.Attach(bv3);
  by_value3_n.Attach(bv3);
  sum.Attach(values.reduce([](int64_t a, int64_t b) { return a + b; }));
  max.Attach(values.reduce([](int64_t a, int64_t b) { return std::max(a, b); }));
  transformed.Attach(s.transform([](const Rdd<KV>& rdd) {
    return rdd.filter([](const KV& kv) { return kv.first % 2 == 1; }).map([](const KV& kv) {
      return KV(kv.first, kv.second + 7);
    });
  }));
  t_time.Attach(s.transform([](const Rdd<KV>& rdd, Time t) {
    int64_t ms = t.milliseconds();
    return rdd.map([ms](const KV& kv) { return std::make_pair(ms, kv.second); });
  }));
  tw.Attach(s.transformWith(s2, [](const Rdd<KV>& a, const Rdd<KV>& b) { return b.union_(a); }));
  tw_time.Attach(s.transformWith(s2_neg, [](const Rdd<KV>& a, const auto& b, Time t) {
    int64_t ms = t.milliseconds();
    return a.map([](const KV& kv) { return kv.second; }).union_(b.map([ms](const KV& kv) {
      return kv.second + ms;
    }));
  }));
  // foreachRDD, with and without the time argument.
  auto seen = std::make_shared<std::vector<std::pair<int64_t, int64_t>>>();
  auto calls = std::make_shared<int>(0);
  s.foreachRDD([seen](const Rdd<KV>& rdd, Time t) {
    seen->emplace_back(t.milliseconds(), rdd.count() * 10 + rdd.getNumPartitions());
  });
  s.foreachRDD([calls](const Rdd<KV>&) { ++*calls; });

  auto times = RunPlans<KV>(env, {{q.get(), &plan}, {q2.get(), &plan2}});
  ExpectNoFailures(env, batches);
  EXPECT_EQ(mapped.batches(), static_cast<size_t>(batches));
  EXPECT_EQ(tw_time.batches(), static_cast<size_t>(batches));
  EXPECT_EQ(*calls, batches);
  ASSERT_EQ(seen->size(), static_cast<size_t>(batches));
  for (int i = 0; i < batches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const Time t = times[i];
    const auto& in = plan[i].records;
    const auto& in2 = plan2[i].records;
    const auto slices = PartsOf(plan[i]);
    std::vector<KV> e_map, e_filter, e_transform;
    std::vector<int64_t> e_flat, e_chain, e_mid, e_tw_time;
    std::vector<std::pair<int64_t, int64_t>> e_parts, e_fused_parts, e_t_time;
    std::map<int64_t, int64_t> e_by_value;
    for (const auto& kv : in) {
      e_map.emplace_back(kv.first + 1, kv.second * 3 - 1);
      for (int64_t j = 0; j < Mod(kv.second, 3); ++j) e_flat.push_back(kv.second);
      if (kv.second % 2 == 0) e_filter.push_back(kv);
      if (kv.second > -500) {
        e_chain.push_back(kv.second * 2);
        e_chain.push_back((kv.second + 1) * 2);
      }
      if (kv.second % 3 == 0) e_mid.push_back(kv.second * kv.second);
      e_by_value[Mod(kv.second, 7)]++;
      if (kv.first % 2 == 1) e_transform.emplace_back(kv.first, kv.second + 7);
      e_t_time.emplace_back(t.milliseconds(), kv.second);
      e_tw_time.push_back(kv.second);
    }
    for (const auto& kv : in2) e_tw_time.push_back(-kv.second + t.milliseconds());
    for (const auto& p : slices) {
      e_parts.emplace_back(static_cast<int64_t>(p.size()), Sum(p));
      std::vector<KV> pos;
      for (const auto& kv : p) {
        if (kv.second > 0) pos.push_back(kv);
      }
      e_fused_parts.emplace_back(static_cast<int64_t>(pos.size()), Sum(pos));
    }
    // Narrow operations keep the order of the records.
    EXPECT_EQ(mapped.At(t), e_map);
    EXPECT_EQ(flat.At(t), e_flat);
    EXPECT_EQ(filtered.At(t), e_filter);
    EXPECT_EQ(chain.At(t), e_chain);
    EXPECT_EQ(mid_chain.At(t), e_mid);
    EXPECT_EQ(parts.At(t), e_parts);
    EXPECT_EQ(fused_parts.At(t), e_fused_parts);
    EXPECT_EQ(glom.At(t), slices);
    EXPECT_EQ(transformed.At(t), e_transform);
    EXPECT_EQ(t_time.At(t), e_t_time);
    EXPECT_EQ(tw_time.At(t), e_tw_time);
    // repartition: the same records, the requested partitions, spread within one record per
    // input partition.
    EXPECT_EQ(Sorted(repartitioned.At(t)), Sorted(in));
    EXPECT_EQ(rep_n.At(t), rep);
    auto rg = rep_glom.At(t);
    ASSERT_EQ(rg.size(), static_cast<size_t>(rep));
    size_t lo = in.size(), hi = 0;
    for (const auto& p : rg) {
      lo = std::min(lo, p.size());
      hi = std::max(hi, p.size());
    }
    EXPECT_LE(hi - std::min(lo, hi), slices.size());
    // Unions: the first stream's partitions, then the second's.
    std::vector<KV> e_union = in, e_union_neg = in, e_tw = in2, e_three = in;
    e_union.insert(e_union.end(), in2.begin(), in2.end());
    for (const auto& kv : in2) e_union_neg.emplace_back(kv.first, -kv.second);
    e_tw.insert(e_tw.end(), in.begin(), in.end());
    e_three.insert(e_three.end(), in2.begin(), in2.end());
    e_three.insert(e_three.end(), in.begin(), in.end());
    EXPECT_EQ(unioned.At(t), e_union);
    EXPECT_EQ(union_n.At(t), static_cast<int>(slices.size() + PartsOf(plan2[i]).size()));
    EXPECT_EQ(unioned_with.At(t), e_union_neg);
    EXPECT_EQ(ssc_union.At(t), e_three);
    std::vector<KV> e_self = in;
    e_self.insert(e_self.end(), in.begin(), in.end());
    EXPECT_EQ(self_union.At(t), e_self);
    std::vector<std::string> e_words;
    for (const auto& kv : in) {
      for (const auto& w :
           {std::to_string(kv.first), std::string(), std::to_string(kv.second), std::string()}) {
        e_words.push_back(w);
      }
    }
    EXPECT_EQ(words.At(t), e_words);
    EXPECT_EQ(tw.At(t), e_tw);
    // One count per batch, 0 when empty; reduce gives nothing for an empty batch.
    int64_t even_keys = 0, e_sum = 0, e_max = std::numeric_limits<int64_t>::min();
    for (const auto& kv : in) {
      even_keys += kv.first % 2 == 0;
      e_sum += kv.second;
      e_max = std::max(e_max, kv.second);
    }
    EXPECT_EQ(count.At(t), std::vector<int64_t>{static_cast<int64_t>(in.size())});
    EXPECT_EQ(filtered_count.At(t), std::vector<int64_t>{even_keys});
    EXPECT_EQ(sum.At(t), in.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{e_sum});
    EXPECT_EQ(max.At(t), in.empty() ? std::vector<int64_t>{} : std::vector<int64_t>{e_max});
    std::vector<std::pair<int64_t, int64_t>> e_bv(e_by_value.begin(), e_by_value.end());
    EXPECT_EQ(Sorted(by_value.At(t)), e_bv);
    EXPECT_EQ(Sorted(by_value3.At(t)), e_bv);
    EXPECT_EQ(by_value3_n.At(t), 3);
    EXPECT_EQ((*seen)[i], std::make_pair(t.milliseconds(),
                                         static_cast<int64_t>(in.size() * 10 + slices.size())));
  }
  ssc.stop();
}

TEST(DStreamOpsTest, NarrowAndPerBatchOperatorsMatchReference) {
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const int key_range = std::vector<int>{1, 3, 20, 1000}[rng() % 4];
    const auto plan = RandomPlan(rng, kBatches, key_range, 60);
    const auto plan2 = RandomPlan(rng, kBatches, key_range, 30);
    NarrowCase(seed, plan, plan2, Master(rng));
  }
}

// ---------------------------------------------------------------------------- pair streams

using SumCount = std::pair<int64_t, int64_t>;
using KSumCount = std::pair<int32_t, SumCount>;

void PairCase(uint32_t seed, std::vector<KVBatch> plan, std::vector<KVBatch> plan2,
              const std::string& master) {
  ManualStreams env(Seconds(1), master);
  StreamingContext& ssc = env.ssc();
  std::mt19937 rng(seed);
  const int n = 1 + static_cast<int>(rng() % 5);
  auto q = std::make_shared<RddQueue<KV>>();
  auto q2 = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = ssc.queueStream(q);
  DStream<KV> s2 = ssc.queueStream(q2);
  auto add = [](int64_t a, int64_t b) { return a + b; };
  auto create = [](int64_t v) { return SumCount(v, 1); };
  auto merge_value = [](SumCount c, int64_t v) { return SumCount(c.first + v, c.second + 1); };
  auto merge = [](SumCount a, SumCount b) {
    return SumCount(a.first + b.first, a.second + b.second);
  };

  Collector<KV> reduced, reduced_n, mapped_values, flat_values, by_key, by_key_n;
  Collector<KVs> grouped, grouped_n;
  Collector<KSumCount> combined, combined_n, combined_raw;
  Collector<CoGrouped> cogrouped, cogrouped_n;
  Collector<Joined> joined, joined_n, joined_fused;
  Collector<LeftJoined> left, left_n;
  Collector<RightJoined> right, right_n;
  Collector<FullJoined> full, full_n;
  std::vector<PartitionCounter> counters(9);
  auto with_n = [&counters](int i, const auto& stream) {
    counters[i].Attach(stream);
    return stream;
  };
  reduced.Attach(s.reduceByKey(add));
  reduced_n.Attach(with_n(0, s.reduceByKey(add, n)));
  grouped.Attach(s.groupByKey());
  grouped_n.Attach(with_n(1, s.groupByKey(n)));
  combined.Attach(s.combineByKey(create, merge_value, merge));
  combined_n.Attach(with_n(2, s.combineByKey(create, merge_value, merge, n, true)));
  combined_raw.Attach(with_n(3, s.combineByKey(create, merge_value, merge, n, false)));
  mapped_values.Attach(s.mapValues([](int64_t v) { return v * 2 + 1; }));
  flat_values.Attach(s.flatMapValues([](int64_t v) {
    std::vector<int64_t> out;
    for (int64_t j = 0; j < Mod(v, 3); ++j) out.push_back(v + j);
    return out;
  }));
  by_key.Attach(s.countByKey());
  by_key_n.Attach(with_n(4, s.countByKey(n)));
  cogrouped.Attach(s.cogroup(s2));
  cogrouped_n.Attach(with_n(5, s.cogroup(s2, n)));
  joined.Attach(s.join(s2));
  joined_n.Attach(with_n(6, s.join(s2, n)));
  joined_fused.Attach(s.filter([](const KV& kv) {
                         return kv.second >= 0;
                       }).join(s2.mapValues([](int64_t w) { return w + 1; })));
  left.Attach(s.leftOuterJoin(s2));
  left_n.Attach(with_n(7, s.leftOuterJoin(s2, n)));
  right.Attach(s.rightOuterJoin(s2));
  right_n.Attach(s.rightOuterJoin(s2, n));
  full.Attach(s.fullOuterJoin(s2));
  full_n.Attach(with_n(8, s.fullOuterJoin(s2, n)));

  auto times = RunPlans<KV>(env, {{q.get(), &plan}, {q2.get(), &plan2}});
  const size_t batches = plan.size();
  ExpectNoFailures(env, batches);
  EXPECT_EQ(full_n.batches(), batches);
  for (size_t i = 0; i < batches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    const Time t = times[i];
    const auto& in = plan[i].records;
    const auto& in2 = plan2[i].records;
    std::map<int32_t, int64_t> counts;
    std::map<int32_t, SumCount> sc;
    std::vector<KV> e_mapped, e_flat, pos, plus1;
    for (const auto& kv : in) {
      counts[kv.first]++;
      sc[kv.first].first += kv.second;
      sc[kv.first].second += 1;
      e_mapped.emplace_back(kv.first, kv.second * 2 + 1);
      for (int64_t j = 0; j < Mod(kv.second, 3); ++j) e_flat.emplace_back(kv.first, kv.second + j);
      if (kv.second >= 0) pos.push_back(kv);
    }
    for (const auto& kv : in2) plus1.emplace_back(kv.first, kv.second + 1);
    const auto e_reduced = RefReduceSum(in);
    const auto e_grouped = RefGroup(in);
    const std::vector<KV> e_counts(counts.begin(), counts.end());
    const std::vector<KSumCount> e_sc(sc.begin(), sc.end());
    const auto e_cogroup = RefCoGroup(in, in2);
    const RefJoins e = RefJoin(in, in2);
    EXPECT_EQ(Sorted(reduced.At(t)), e_reduced);
    EXPECT_EQ(Sorted(reduced_n.At(t)), e_reduced);
    EXPECT_EQ(Normalized(grouped.At(t)), e_grouped);
    EXPECT_EQ(Normalized(grouped_n.At(t)), e_grouped);
    EXPECT_EQ(Sorted(combined.At(t)), e_sc);
    EXPECT_EQ(Sorted(combined_n.At(t)), e_sc);
    EXPECT_EQ(Sorted(combined_raw.At(t)), e_sc);
    EXPECT_EQ(mapped_values.At(t), e_mapped);
    EXPECT_EQ(flat_values.At(t), e_flat);
    EXPECT_EQ(Sorted(by_key.At(t)), e_counts);
    EXPECT_EQ(Sorted(by_key_n.At(t)), e_counts);
    EXPECT_EQ(Normalized(cogrouped.At(t)), e_cogroup);
    EXPECT_EQ(Normalized(cogrouped_n.At(t)), e_cogroup);
    EXPECT_EQ(Sorted(joined.At(t)), e.inner);
    EXPECT_EQ(Sorted(joined_n.At(t)), e.inner);
    EXPECT_EQ(Sorted(joined_fused.At(t)), RefJoin(pos, plus1).inner);
    EXPECT_EQ(Sorted(left.At(t)), e.left);
    EXPECT_EQ(Sorted(left_n.At(t)), e.left);
    EXPECT_EQ(Sorted(right.At(t)), e.right);
    EXPECT_EQ(Sorted(right_n.At(t)), e.right);
    EXPECT_EQ(Sorted(full.At(t)), e.full);
    EXPECT_EQ(Sorted(full_n.At(t)), e.full);
    for (size_t c = 0; c < counters.size(); ++c) {
      EXPECT_EQ(counters[c].At(t), n) << "explicit partition count, output " << c;
    }
  }
  ssc.stop();
}

TEST(DStreamOpsTest, PairOperatorsMatchReference) {
  for (uint32_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed * 7919);
    const int key_range = std::vector<int>{1, 4, 30, 1000}[rng() % 4];
    auto plan = RandomPlan(rng, kBatches, key_range, 50);
    auto plan2 = RandomPlan(rng, kBatches, key_range, 25);
    PairCase(seed, std::move(plan), std::move(plan2), Master(rng));
  }
}

// One key holds ~all the records of a batch: 200k records of key 7 among empty batches.
TEST(DStreamOpsTest, OneHugeKeyMatchesReference) {
  std::mt19937 rng(42);
  std::vector<KVBatch> plan = {RandomKVBatch(rng, 20, 40), KVBatch{},
                               HugeKeyBatch(rng, 7, 200000, 100, 4), KVBatch{},
                               RandomKVBatch(rng, 20, 40)};
  plan[3].pushed = true;
  plan[3].partitions = 3;  // an RDD of three empty partitions
  std::vector<KVBatch> plan2 = {RandomKVBatch(rng, 20, 10), RandomKVBatch(rng, 20, 10),
                                RandomKVBatch(rng, 20, 10), KVBatch{}, KVBatch{}};
  plan2[2].records = {{7, 1}, {1001, 5}, {1001, 6}, {-3, 4}};
  plan2[2].partitions = 2;
  NarrowCase(3, plan, plan2, "local[3]");
  PairCase(3, plan, plan2, "local[3]");
}

// queueStream: one queued RDD per batch, or (oneAtATime = false) all of them at once.
TEST(DStreamOpsTest, QueueStreamTakesOneOrAllQueuedRdds) {
  for (bool one_at_a_time : {true, false}) {
    SCOPED_TRACE(one_at_a_time ? "one at a time" : "all at once");
    ManualStreams env(Seconds(1), "local[2]");
    auto q = std::make_shared<RddQueue<KV>>();
    Collector<KV> out;
    PartitionCounter parts;
    DStream<KV> s = env.ssc().queueStream(q, one_at_a_time);
    out.Attach(s);
    parts.Attach(s);
    const std::vector<std::vector<KV>> rdds = {{{1, 1}, {2, 2}}, {}, {{3, 3}}};
    for (size_t i = 0; i < rdds.size(); ++i) q->push(env.ssc().parallelize(rdds[i], 1 + i));
    env.ssc().start();
    auto times = env.RunBatches(4);
    ExpectNoFailures(env, 4);
    if (one_at_a_time) {
      for (size_t i = 0; i < rdds.size(); ++i) {
        EXPECT_EQ(out.At(times[i]), rdds[i]);
        EXPECT_EQ(parts.At(times[i]), static_cast<int>(1 + i));
      }
      EXPECT_EQ(parts.At(times[3]), 0);
    } else {
      EXPECT_EQ(out.At(times[0]), (std::vector<KV>{{1, 1}, {2, 2}, {3, 3}}));
      EXPECT_EQ(parts.At(times[0]), 6);
      for (int i = 1; i < 4; ++i) EXPECT_EQ(parts.At(times[i]), 0);
    }
    EXPECT_TRUE(out.At(times[3]).empty());
    EXPECT_EQ(out.batches(), 4u);
    env.ssc().stop();
  }
}

// ------------------------------------------------------------------------------- outputs

TEST(DStreamOpsTest, PrintAndSaveMatchSparkFormats) {
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    ManualStreams env(Seconds(2), Master(rng));
    StreamingContext& ssc = env.ssc();
    auto printed = std::make_shared<std::vector<std::string>>();
    auto mu = std::make_shared<std::mutex>();
    ssc.core()->SetOutputSink([printed, mu](const std::string& text) {
      std::lock_guard<std::mutex> lock(*mu);
      printed->push_back(text);
    });
    const auto plan = RandomPlan(rng, kBatches, 50, 25);
    auto q = std::make_shared<RddQueue<KV>>();
    DStream<KV> s = ssc.queueStream(q);
    const int num = static_cast<int>(rng() % 4);
    s.print(num);
    s.print();
    auto halves = s.map([](const KV& kv) { return std::make_pair(kv.first, kv.second / 2.0); });
    halves.print(3);
    auto strings = s.map([](const KV& kv) { return "w" + std::to_string(kv.second); });
    strings.print(2);
    const std::string dir = MakeTempDir("save");
    s.saveAsTextFiles(dir + "/text", "txt");
    halves.saveAsTextFiles(dir + "/halves");
    strings.saveAsTextFiles(dir + "/strings", "");
    s.saveAsObjectFiles(dir + "/obj", "bin");
    s.leftOuterJoin(s.filter([](const KV& kv) {
       return kv.second > 0;
     })).saveAsTextFiles(dir + "/joined");

    auto times = RunPlans<KV>(env, {{q.get(), &plan}});
    ExpectNoFailures(env, kBatches);
    std::vector<std::string> expected;
    for (int i = 0; i < kBatches; ++i) {
      const int64_t ms = times[i].milliseconds();
      const auto& in = plan[i].records;
      auto show_half = [](const KV& kv) {
        return "(" + std::to_string(kv.first) + "," + ShowHalf(kv.second) + ")";
      };
      expected.push_back(ExpectedPrint(ms, in, num, ShowKV));
      expected.push_back(ExpectedPrint(ms, in, 10, ShowKV));
      expected.push_back(ExpectedPrint(ms, in, 3, show_half));
      auto show_w = [](const KV& kv) { return "w" + std::to_string(kv.second); };
      expected.push_back(ExpectedPrint(ms, in, 2, show_w));

      SCOPED_TRACE("batch " + std::to_string(i));
      const auto slices = PartsOf(plan[i]);
      const std::string text = dir + "/text-" + std::to_string(ms) + ".txt";
      const std::string half = dir + "/halves-" + std::to_string(ms);
      const std::string strs = dir + "/strings-" + std::to_string(ms);
      const std::string obj = dir + "/obj-" + std::to_string(ms) + ".bin";
      std::vector<std::string> names = {"_SUCCESS"};
      for (size_t p = 0; p < slices.size(); ++p) {
        char name[32];
        std::snprintf(name, sizeof name, "part-%05zu", p);
        names.push_back(name);
        std::string e_text, e_half, e_strs;
        for (const auto& kv : slices[p]) {
          e_text += ShowKV(kv) + "\n";
          e_half += show_half(kv) + "\n";
          e_strs += show_w(kv) + "\n";
        }
        EXPECT_EQ(ReadFile(text + "/" + name), e_text);
        EXPECT_EQ(ReadFile(half + "/" + name), e_half);
        EXPECT_EQ(ReadFile(strs + "/" + name), e_strs);
      }
      EXPECT_EQ(ListDir(strs), names);
      EXPECT_EQ(ListDir(text), names);
      EXPECT_EQ(ListDir(half), names);
      EXPECT_EQ(ListDir(obj), names);
      EXPECT_EQ(ReadFile(text + "/_SUCCESS"), "");
      EXPECT_EQ(ReadObjectFiles<KV>(obj), in);
      // Optional sides print as Scala's Some(x) / None, nested tuples as ((a,b),c) does.
      std::vector<std::string> joined_lines, e_joined;
      const std::string joined = dir + "/joined-" + std::to_string(ms);
      for (const auto& name : ListDir(joined)) {
        std::stringstream lines(ReadFile(joined + "/" + name));
        for (std::string line; std::getline(lines, line);) joined_lines.push_back(line);
      }
      std::vector<KV> positive;
      for (const auto& kv : in) {
        if (kv.second > 0) positive.push_back(kv);
      }
      for (const auto& j : RefJoin(in, positive).left) {
        e_joined.push_back("(" + std::to_string(j.first) + "," + "(" +
                           std::to_string(j.second.first) + "," +
                           (j.second.second ? "Some(" + std::to_string(*j.second.second) + ")"
                                            : std::string("None")) +
                           "))");
      }
      EXPECT_EQ(Sorted(joined_lines), Sorted(e_joined));
      EXPECT_EQ(ListDir(joined).size(),
                1 + static_cast<size_t>(env.ssc().core()->DefaultParallelism()));
    }
    std::lock_guard<std::mutex> lock(*mu);
    EXPECT_EQ(*printed, expected);
    ssc.stop();
  }
}

// A partition function that leaves a marker file each time it runs, so the test can count
// how often a stream's partitions were computed.
struct MarkRun {
  FixedPath dir;
  std::vector<KV> operator()(const std::vector<KV>& p) const {
    WriteMarker(dir, std::to_string(p.size()));
    return p;
  }
};

TEST(DStreamOpsTest, PersistAndCacheComputeEachPartitionOnceForSharedOutputs) {
  std::mt19937 rng(5);
  ManualStreams env(Seconds(1), "local[3]");
  StreamingContext& ssc = env.ssc();
  auto plan = RandomPlan(rng, kBatches, 10, 40);
  auto q = std::make_shared<RddQueue<KV>>();
  DStream<KV> s = ssc.queueStream(q);
  const std::string base = MakeTempDir("persist");
  std::vector<std::string> dirs = {base + "/persist", base + "/cache", base + "/plain",
                                   base + "/fused"};
  for (const auto& d : dirs) ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  DStream<KV> persisted = s.mapPartitions(MarkRun{FixedPath::Of(dirs[0])}).persist();
  DStream<KV> cached = s.map([](const KV& kv) { return KV(kv.first, kv.second + 1); })
                           .mapPartitions(MarkRun{FixedPath::Of(dirs[1])})
                           .cache();
  DStream<KV> plain = s.mapPartitions(MarkRun{FixedPath::Of(dirs[2])});
  // A fused chain persists as one materialized RDD: its parent is not recomputed either.
  DStream<KV> fused = s.mapPartitions(MarkRun{FixedPath::Of(dirs[3])})
                          .filter([](const KV& kv) { return kv.second % 2 == 0; })
                          .persist();
  Collector<KV> p1, c1, n1;
  Collector<int64_t> p2, c2, n2;
  Collector<KV> p3;
  p1.Attach(persisted);
  p2.Attach(persisted.count());
  p3.Attach(persisted.reduceByKey([](int64_t a, int64_t b) { return a + b; }, 2));
  c1.Attach(cached);
  c2.Attach(cached.count());
  n1.Attach(plain);
  n2.Attach(plain.count());
  Collector<KV> f1;
  Collector<int64_t> f2;
  f1.Attach(fused);
  f2.Attach(fused.count());

  size_t computed_parts = 0;
  env.ssc().start();
  for (int i = 0; i < kBatches; ++i) {
    Push(ssc, *q, plan[i]);
    Time t = env.RunBatches(1)[0];
    computed_parts += PartsOf(plan[i]).size();
    const auto& in = plan[i].records;
    std::vector<KV> plus1;
    for (const auto& kv : in) plus1.emplace_back(kv.first, kv.second + 1);
    const std::vector<int64_t> n{static_cast<int64_t>(in.size())};
    EXPECT_EQ(p1.At(t), in);
    EXPECT_EQ(p2.At(t), n);
    EXPECT_EQ(Sorted(p3.At(t)), RefReduceSum(in));
    EXPECT_EQ(c1.At(t), plus1);
    EXPECT_EQ(c2.At(t), n);
    EXPECT_EQ(n1.At(t), in);
    EXPECT_EQ(n2.At(t), n);
    std::vector<KV> even;
    for (const auto& kv : in) {
      if (kv.second % 2 == 0) even.push_back(kv);
    }
    EXPECT_EQ(f1.At(t), even);
    EXPECT_EQ(f2.At(t), std::vector<int64_t>{static_cast<int64_t>(even.size())});
    EXPECT_EQ(ListDir(dirs[3]).size(), computed_parts) << "batch " << i;
    // Shared by three outputs, a persisted batch is computed once per partition.
    EXPECT_EQ(ListDir(dirs[0]).size(), computed_parts) << "batch " << i;
    EXPECT_EQ(ListDir(dirs[1]).size(), computed_parts) << "batch " << i;
    // The control: unpersisted, each of its two outputs computes it again.
    EXPECT_EQ(ListDir(dirs[2]).size(), 2 * computed_parts) << "batch " << i;
  }
  ExpectNoFailures(env, kBatches);
  ssc.stop();
}

}  // namespace
}  // namespace enginetest
}  // namespace ember
