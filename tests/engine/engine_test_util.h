#pragma once
// Support for the operator tests of tests/engine: seeded batch plans (with empty batches and
// one-huge-key batches), feeding them through a queueStream batch by batch on a manual clock,
// and the naive references (plain loops over std::vector/std::map) the engine is checked
// against.

#include <functional>
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/testing.h"

namespace ember {
namespace enginetest {

using testing::Collector;
using testing::ManualStreams;
using testing::Sorted;
using KV = std::pair<int32_t, int64_t>;

// One batch of a queueStream: nothing queued (the stream yields an RDD of no partitions), or
// an RDD of `partitions` slices, possibly with no records at all.
template <typename T>
struct Batch {
  bool pushed = false;
  int partitions = 0;
  std::vector<T> records;  // empty when not pushed
};
using KVBatch = Batch<KV>;

inline KVBatch RandomKVBatch(std::mt19937& rng, int key_range, int max_records) {
  KVBatch b;
  b.pushed = true;
  b.partitions = 1 + static_cast<int>(rng() % 5);
  int n = static_cast<int>(rng() % static_cast<uint32_t>(max_records + 1));
  for (int i = 0; i < n; ++i) {
    b.records.emplace_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(key_range)),
                           static_cast<int64_t>(rng() % 2001) - 1000);
  }
  return b;
}

// `batches` batches: batch 1 queues nothing, batch 3 queues an RDD with no records, the others
// are random (and each may turn out empty either way).
inline std::vector<KVBatch> RandomPlan(std::mt19937& rng, int batches, int key_range,
                                       int max_records) {
  std::vector<KVBatch> plan;
  for (int i = 0; i < batches; ++i) {
    KVBatch b = RandomKVBatch(rng, key_range, max_records);
    if (i == 1 || rng() % 6 == 0) b = KVBatch{};
    if (i == 3) b.records.clear();
    plan.push_back(std::move(b));
  }
  return plan;
}

// `n` records of key `key` (values cycling through -500..499) and `extra` random others.
inline KVBatch HugeKeyBatch(std::mt19937& rng, int32_t key, int n, int extra, int partitions) {
  KVBatch b;
  b.pushed = true;
  b.partitions = partitions;
  for (int i = 0; i < n; ++i) b.records.emplace_back(key, i % 1000 - 500);
  for (int i = 0; i < extra; ++i) {
    b.records.emplace_back(1000 + static_cast<int32_t>(rng() % 50),
                           static_cast<int64_t>(rng() % 100));
  }
  std::shuffle(b.records.begin(), b.records.end(), rng);
  return b;
}

// The partitions parallelize(records, n) makes: Spark's contiguous slices [len*i/n, len*(i+1)/n).
template <typename T>
std::vector<std::vector<T>> Slices(const std::vector<T>& v, int n) {
  std::vector<std::vector<T>> out(n);
  for (int i = 0; i < n; ++i) {
    size_t begin = v.size() * i / n, end = v.size() * (i + 1) / n;
    out[i].assign(v.begin() + begin, v.begin() + end);
  }
  return out;
}
template <typename T>
std::vector<std::vector<T>> PartsOf(const Batch<T>& b) {
  return b.pushed ? Slices(b.records, b.partitions) : std::vector<std::vector<T>>{};
}

template <typename T>
void Push(StreamingContext& ssc, RddQueue<T>& queue, const Batch<T>& b) {
  if (b.pushed) queue.push(ssc.parallelize(b.records, b.partitions));
}

// Starts the context and runs one batch per plan entry, queueing each batch's RDDs first
// (and calling `before_batch(i)`, when given). Returns the batch times.
template <typename T>
std::vector<Time> RunPlans(
    ManualStreams& env,
    const std::vector<std::pair<RddQueue<T>*, const std::vector<Batch<T>>*>>& feeds,
    const std::function<void(size_t)>& before_batch = nullptr) {
  env.ssc().start();
  std::vector<Time> times;
  size_t n = feeds.empty() ? 0 : feeds[0].second->size();
  for (size_t i = 0; i < n; ++i) {
    if (before_batch) before_batch(i);
    for (const auto& [queue, plan] : feeds) Push(env.ssc(), *queue, (*plan)[i]);
    times.push_back(env.RunBatches(1)[0]);
  }
  return times;
}

// Every batch ran every output without an error.
inline void ExpectNoFailures(ManualStreams& env, size_t batches) {
  auto done = env.ssc().core()->CompletedBatches();
  EXPECT_EQ(done.size(), batches);
  for (const auto& b : done) {
    EXPECT_EQ(b.failure, "") << "batch " << b.batch_time.toString();
  }
  EXPECT_FALSE(env.ssc().awaitTerminationOrTimeout(1));  // throws the job's error, if any
}

// getNumPartitions of every batch's RDD of a stream.
class PartitionCounter {
 public:
  template <typename T, typename S>
  void Attach(const DStream<T, S>& stream) {
    auto state = state_;
    stream.foreachRDD([state](const Rdd<T, S>& rdd, Time t) {
      int n = rdd.getNumPartitions();
      std::lock_guard<std::mutex> lock(state->mu);
      state->counts[t.milliseconds()] = n;
    });
  }
  int At(Time t) const {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->counts.find(t.milliseconds());
    return it == state_->counts.end() ? -1 : it->second;
  }

 private:
  struct State {
    std::mutex mu;
    std::map<int64_t, int> counts;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// local[1] .. local[4].
inline std::string Master(std::mt19937& rng) {
  return "local[" + std::to_string(1 + rng() % 4) + "]";
}

// ------------------------------------------------------------------------ naive references

inline int64_t Mod(int64_t v, int64_t m) { return ((v % m) + m) % m; }
inline int64_t Sum(const std::vector<KV>& v) {
  int64_t s = 0;
  for (const auto& kv : v) s += kv.second;
  return s;
}

template <typename K, typename V>
std::map<K, std::vector<V>> GroupOf(const std::vector<std::pair<K, V>>& in) {
  std::map<K, std::vector<V>> g;
  for (const auto& kv : in) g[kv.first].push_back(kv.second);
  for (auto& kv : g) std::sort(kv.second.begin(), kv.second.end());
  return g;
}

inline std::vector<KV> RefReduceSum(const std::vector<KV>& in) {
  std::map<int32_t, int64_t> sums;
  for (const auto& kv : in) sums[kv.first] += kv.second;
  return std::vector<KV>(sums.begin(), sums.end());
}

using KVs = std::pair<int32_t, std::vector<int64_t>>;
inline std::vector<KVs> RefGroup(const std::vector<KV>& in) {
  auto g = GroupOf(in);
  return std::vector<KVs>(g.begin(), g.end());
}
// groupByKey's output with each group's values sorted, groups sorted by key.
inline std::vector<KVs> Normalized(std::vector<KVs> v) {
  for (auto& kv : v) std::sort(kv.second.begin(), kv.second.end());
  return Sorted(std::move(v));
}

using CoGrouped = std::pair<int32_t, std::pair<std::vector<int64_t>, std::vector<int64_t>>>;
inline std::vector<CoGrouped> RefCoGroup(const std::vector<KV>& a, const std::vector<KV>& b) {
  auto ga = GroupOf(a), gb = GroupOf(b);
  std::map<int32_t, std::pair<std::vector<int64_t>, std::vector<int64_t>>> all;
  for (const auto& kv : ga) all[kv.first].first = kv.second;
  for (const auto& kv : gb) all[kv.first].second = kv.second;
  return std::vector<CoGrouped>(all.begin(), all.end());
}
inline std::vector<CoGrouped> Normalized(std::vector<CoGrouped> v) {
  for (auto& kv : v) {
    std::sort(kv.second.first.begin(), kv.second.first.end());
    std::sort(kv.second.second.begin(), kv.second.second.end());
  }
  return Sorted(std::move(v));
}

using Opt = std::optional<int64_t>;
using Joined = std::pair<int32_t, std::pair<int64_t, int64_t>>;
using LeftJoined = std::pair<int32_t, std::pair<int64_t, Opt>>;
using RightJoined = std::pair<int32_t, std::pair<Opt, int64_t>>;
using FullJoined = std::pair<int32_t, std::pair<Opt, Opt>>;

// Spark's joins, spelled out key by key over both sides' groups.
struct RefJoins {
  std::vector<Joined> inner;
  std::vector<LeftJoined> left;
  std::vector<RightJoined> right;
  std::vector<FullJoined> full;
};
inline RefJoins RefJoin(const std::vector<KV>& a, const std::vector<KV>& b) {
  RefJoins out;
  for (const auto& [k, groups] : RefCoGroup(a, b)) {
    const auto& vs = groups.first;
    const auto& ws = groups.second;
    for (int64_t v : vs)
      for (int64_t w : ws) {
        out.inner.push_back({k, {v, w}});
        out.left.push_back({k, {v, w}});
        out.right.push_back({k, {v, w}});
        out.full.push_back({k, {v, w}});
      }
    if (ws.empty()) {
      for (int64_t v : vs) {
        out.left.push_back({k, {v, std::nullopt}});
        out.full.push_back({k, {v, std::nullopt}});
      }
    }
    if (vs.empty()) {
      for (int64_t w : ws) {
        out.right.push_back({k, {std::nullopt, w}});
        out.full.push_back({k, {std::nullopt, w}});
      }
    }
  }
  out.inner = Sorted(out.inner);
  out.left = Sorted(out.left);
  out.right = Sorted(out.right);
  out.full = Sorted(out.full);
  return out;
}

// What print(num) shows for a batch, spelled out by hand.
template <typename T, typename ShowFn>
inline std::string ExpectedPrint(int64_t ms, const std::vector<T>& records, int num, ShowFn show) {
  std::string out = std::string(43, '-') + "\nTime: " + std::to_string(ms) + " ms\n" +
                    std::string(43, '-') + "\n";
  for (int i = 0; i < num && i < static_cast<int>(records.size()); ++i) {
    out += show(records[i]) + "\n";
  }
  if (static_cast<int>(records.size()) > num) out += "...\n";
  return out + "\n";
}
inline std::string ShowKV(const KV& kv) {
  return "(" + std::to_string(kv.first) + "," + std::to_string(kv.second) + ")";
}
// Java's Double.toString of v / 2 for an integer v of small magnitude.
inline std::string ShowHalf(int64_t v) {
  std::string sign = v < 0 ? "-" : "";
  int64_t a = v < 0 ? -v : v;
  return sign + std::to_string(a / 2) + (a % 2 ? ".5" : ".0");
}

// ------------------------------------------------------------------------------- files

inline std::string MakeTempDir(const std::string& name) {
  std::string templ = ::testing::TempDir() + "/" + name + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << std::strerror(errno);
    return "";
  }
  return buf.data();
}

inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A fixed-size path, so that a closure holding it stays trivially copyable and ships as bytes.
struct FixedPath {
  char path[512] = {};
  static FixedPath Of(const std::string& s) {
    FixedPath p;
    EXPECT_LT(s.size(), sizeof(p.path));
    std::strncpy(p.path, s.c_str(), sizeof(p.path) - 1);
    return p;
  }
};

// Creates a new, uniquely named file in `dir` holding `contents`; throws when it cannot.
inline void WriteMarker(const FixedPath& dir, const std::string& contents) {
  std::string templ = std::string(dir.path) + "/m-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  int fd = mkstemp(buf.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed in " + std::string(dir.path));
  bool ok = write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  close(fd);
  if (!ok) throw std::runtime_error("marker write failed");
}

}  // namespace enginetest
}  // namespace ember
