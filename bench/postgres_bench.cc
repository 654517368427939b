// Rows per second of the PostgreSQL sink (common/postgres.h) in local[2], marker transaction
// included, against a throwaway server the benchmark starts (tests/postgres_server.h): append
// and upsert (every key new, then every key updated), and for reference a plain COPY of the
// same rows over one connection from this process, in the same run. Each batch's rows are
// generated in its tasks (4 partitions), so that the batch time is the sink's. Prints the
// rows/s of each and `ratio: X.XX` last (append / plain COPY).
//
//   bazel run //bench:postgres_bench -- [--rows PER_BATCH] [--batches N]

#include <postgresql/libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "common/postgres.h"
#include "tests/postgres_server.h"

namespace {

using Record = std::tuple<int64_t, std::string, double>;

// Partition seed s of a batch: `per` records with ids [s * per, (s + 1) * per).
struct Generate {
  int64_t per = 0;
  std::vector<Record> operator()(int64_t seed) const {
    std::vector<Record> out;
    out.reserve(static_cast<size_t>(per));
    for (int64_t id = seed * per; id < (seed + 1) * per; ++id) {
      out.emplace_back(id, "name-" + std::to_string(id % 1000), static_cast<double>(id) * 0.5);
    }
    return out;
  }
};

// Runs `batches` batches (plus one warm-up) of `rows` rows into `table` with `mode`; batch b
// writes ids from (b % `distinct`) * rows, so that distinct = 1 upserts the same keys every
// batch. Returns rows per second over the measured batches.
double SinkRate(const ember::testing::PostgresServer& pg, const std::string& table,
                ember::postgres::Mode mode, int64_t rows, int batches, int distinct) {
  constexpr int kPartitions = 4;
  ember::StreamingContext ssc(ember::bench::ManualLocalConf("postgres-bench-" + table),
                              ember::Seconds(1), std::make_shared<ember::ManualClock>());
  auto queue = std::make_shared<ember::RddQueue<int64_t>>();
  for (int b = 0; b <= batches; ++b) {
    std::vector<int64_t> seeds;
    for (int p = 0; p < kPartitions; ++p) seeds.push_back((b % distinct) * kPartitions + p);
    queue->push(ssc.parallelize(seeds, kPartitions));
  }
  ember::postgres::save(ssc.queueStream(queue).flatMap(Generate{rows / kPartitions}), pg.connInfo(),
                        table, mode);
  ssc.start();
  const double ms = ember::bench::MeanBatchMs(ssc, batches + 1, 1);
  ssc.stop();
  return static_cast<double>(rows) / (ms / 1000.0);
}

// The same rows through one plain COPY from this process: what the server takes at best.
double PlainCopyRate(const ember::testing::PostgresServer& pg, int64_t rows) {
  PGconn* conn = PQconnectdb(pg.connInfo().c_str());
  const auto start = std::chrono::steady_clock::now();
  PQclear(PQexec(conn, "BEGIN"));
  PQclear(PQexec(conn, "COPY plain (id, name, value) FROM STDIN"));
  std::string buf;
  for (const Record& r : Generate{rows}(0)) {
    buf += std::to_string(std::get<0>(r)) + "\t" + std::get<1>(r) + "\t" +
           std::to_string(std::get<2>(r)) + "\n";
    if (buf.size() > (1 << 20)) {
      PQputCopyData(conn, buf.data(), static_cast<int>(buf.size()));
      buf.clear();
    }
  }
  PQputCopyData(conn, buf.data(), static_cast<int>(buf.size()));
  PQputCopyEnd(conn, nullptr);
  while (PGresult* r = PQgetResult(conn)) PQclear(r);
  PQclear(PQexec(conn, "COMMIT"));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PQfinish(conn);
  return static_cast<double>(rows) / s;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 200000;
  int batches = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0) rows = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--batches") == 0) batches = std::atoi(argv[i + 1]);
  }
  ember::testing::PostgresServer pg;
  if (!pg.error().empty()) {
    std::fprintf(stderr, "%s\n", pg.error().c_str());
    return 1;
  }
  pg.Query(
      "CREATE TABLE appended (id bigint, name text, value double precision);"
      "CREATE TABLE upserted (id bigint PRIMARY KEY, name text, value double precision);"
      "CREATE TABLE updated (id bigint PRIMARY KEY, name text, value double precision);"
      "CREATE TABLE plain (id bigint, name text, value double precision);");
  namespace pgs = ember::postgres;
  const double append = SinkRate(pg, "appended", pgs::append(), rows, batches, batches + 1);
  const double insert = SinkRate(pg, "upserted", pgs::upsert({"id"}), rows, batches, batches + 1);
  const double update = SinkRate(pg, "updated", pgs::upsert({"id"}), rows, batches, 1);
  const double plain = PlainCopyRate(pg, rows);

  // Exactly what was sent, once.
  const auto count = [&](const std::string& t) {
    return std::stoll(*pg.Query("SELECT count(*) FROM " + t)[0][0]);
  };
  if (count("appended") != rows * (batches + 1) || count("upserted") != rows * (batches + 1) ||
      count("updated") != rows) {
    std::fprintf(stderr, "wrong row counts\n");
    return 1;
  }
  std::printf("rows per batch: %lld in 4 partitions, local[2], %d measured batches\n",
              static_cast<long long>(rows), batches);
  std::printf("append:            %.0f rows/s\n", append);
  std::printf("upsert (inserts):  %.0f rows/s\n", insert);
  std::printf("upsert (updates):  %.0f rows/s\n", update);
  std::printf("plain COPY:        %.0f rows/s (one connection, this process)\n", plain);
  std::printf("ratio: %.2f\n", append / plain);
  return 0;
}
