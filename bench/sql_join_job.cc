// The SQL benchmark's job: every batch, ROWS generated (id, amount) rows (made in the tasks,
// PARTITIONS of them) go through createDataFrame -> temp view `newdata` -> the seed's join with
// a STATIC-row `codes` table -> count(); then the same join written with pair RDDs
// (map to (id, amount), join with (id, name), count()). Prints, per batch after the first,
// "sql <ms> <count>" and "rdd <ms> <count>", and stops after BATCHES batches.
//
//   ember-submit ... libsql_join_job.so -- ROWS STATIC PARTITIONS BATCHES

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/ember.h"
#include "common/sql.h"

namespace sql = ember::sql;

// Partition seed i -> its share of the batch's rows: ids spread over the static table (and 10%
// beyond it, which the inner join drops).
struct Generate {
  int64_t rows_per_partition = 0;
  int64_t static_rows = 0;
  std::vector<std::tuple<int32_t, float>> operator()(const int64_t& seed) const {
    std::vector<std::tuple<int32_t, float>> out;
    out.reserve(static_cast<size_t>(rows_per_partition));
    uint64_t x = static_cast<uint64_t>(seed) * 0x9e3779b97f4a7c15ULL + 1;
    const uint64_t ids = static_cast<uint64_t>(static_rows + static_rows / 10);
    for (int64_t i = 0; i < rows_per_partition; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out.emplace_back(static_cast<int32_t>(x % ids), static_cast<float>(x % 10000) / 100.0f);
    }
    return out;
  }
};

struct ToPair {
  std::pair<int32_t, float> operator()(const std::tuple<int32_t, float>& t) const {
    return {std::get<0>(t), std::get<1>(t)};
  }
};

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() < 4) throw ember::EmberError("usage: ROWS STATIC PARTITIONS BATCHES");
  const int64_t rows = std::stoll(args[0]), static_rows = std::stoll(args[1]);
  const int partitions = std::stoi(args[2]), batches = std::stoi(args[3]);

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(1000));
  auto spark = sql::SparkSession::builder().getOrCreate();
  std::vector<std::tuple<int32_t, std::string>> codes;
  for (int32_t id = 0; id < static_rows; ++id) codes.emplace_back(id, "code" + std::to_string(id));
  spark.createDataFrame(codes, "id INT, name STRING").createOrReplaceTempView("codes");
  std::vector<std::pair<int32_t, std::string>> code_pairs;
  for (const auto& [id, name] : codes) code_pairs.emplace_back(id, name);
  auto codes_rdd = ssc.parallelize(code_pairs, partitions);

  std::vector<int64_t> seeds;
  for (int p = 0; p < partitions; ++p) seeds.push_back(p);
  auto queue = std::make_shared<ember::RddQueue<int>>();
  auto done = std::make_shared<std::atomic<int>>(0);
  ember::StreamingContext* context = &ssc;
  Generate generate{rows / partitions, static_rows};
  ssc.queueStream(queue).foreachRDD([=](const ember::Rdd<int>&, ember::Time t) {
    if (done->load() > batches) return;
    // New seeds every batch: nothing is cached between batches.
    std::vector<int64_t> batch_seeds;
    for (int64_t s : seeds) batch_seeds.push_back(s + t.milliseconds() * 1000);
    auto data = context->parallelize(batch_seeds, partitions).flatMap(generate);

    auto start = std::chrono::steady_clock::now();
    auto s = sql::SparkSession::builder().getOrCreate();
    s.createDataFrame(data, "id:int, amount:float").createOrReplaceTempView("newdata");
    const int64_t n_sql =
        s.sql("select n.id, c.name, n.amount from newdata as n join codes as c on n.id = c.id")
            .count();
    const double sql_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    start = std::chrono::steady_clock::now();
    const int64_t n_rdd = data.map(ToPair{}).join(codes_rdd).count();
    const double rdd_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (done->fetch_add(1) > 0) {  // the first batch warms up
      std::printf("sql %.1f %lld\nrdd %.1f %lld\n", sql_ms, static_cast<long long>(n_sql), rdd_ms,
                  static_cast<long long>(n_rdd));
      std::fflush(stdout);
    }
  });
  ssc.start();
  while (done->load() < batches + 1 && ssc.getState() != ember::StreamingContextState::STOPPED) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // job code: polls its own work
  }
  ssc.stop();
}
