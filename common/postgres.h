#pragma once
// PostgreSQL output, exactly once, on libpq:
//
//   #include "common/postgres.h"
//   namespace pg = ember::postgres;
//   pg::save(counts, "host=db dbname=app user=ember", "word_counts", pg::upsert({"word"}));
//   pg::save(events, "postgresql://db/app", "events", pg::append());
//
// Every batch, each partition's records go into the table in one transaction per partition,
// through COPY, together with a marker row (application, output, batch time, partition) in
// `ember_output_commits`. A partition whose marker is already there is skipped: a task run
// again (a retry, an executor lost, a driver recovering its pending batches) writes nothing
// twice. That holds when a batch's partition holds the same records every time it is computed,
// as receiver blocks, Kafka ranges and file streams do.
//
// Records become rows as ember::sql's createDataFrame makes them (common/sql.h): a
// std::tuple or std::pair (one field per column), a sql::Row, a single value, or a type whose
// serialize(Writer&) writes its fields in the columns' order and types. The columns are the
// table's, in the table's order (generated columns left out), unless Options::columns names
// them. The libpq code is in the runtime (runtime/postgres_sink.cc); this header only ships
// the settings and calls it.

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/dstream.h"
#include "common/engine_api.h"
#include "common/errors.h"
#include "common/op.h"
#include "common/rdd.h"
#include "common/sql.h"
#include "common/time.h"

namespace ember {
namespace postgres {

// How a partition's rows go into the table.
class Mode {
 public:
  Mode() = default;
  // INSERT every record (COPY into the table).
  static Mode append() { return Mode(false, {}); }
  // INSERT ... ON CONFLICT (keys) DO UPDATE every other column: the table needs a unique
  // constraint or index on exactly `keys`. Within a partition, the last record of a key wins.
  static Mode upsert(std::vector<std::string> keys) {
    if (keys.empty()) throw EmberError("postgres::upsert: give at least one key column");
    return Mode(true, std::move(keys));
  }

  bool isUpsert() const { return upsert_; }
  const std::vector<std::string>& keys() const { return keys_; }
  // "append", "upsert(id,day)": the default output name's second half.
  std::string toString() const {
    if (!upsert_) return "append";
    std::string out = "upsert(";
    for (size_t i = 0; i < keys_.size(); ++i) out += (i ? "," : "") + keys_[i];
    return out + ")";
  }

  void serialize(Writer& w) const {
    ember::Encode(upsert_, w);
    ember::Encode(keys_, w);
  }
  bool deserialize(Reader& r) { return ember::Decode(r, &upsert_) && ember::Decode(r, &keys_); }

 private:
  Mode(bool upsert, std::vector<std::string> keys) : upsert_(upsert), keys_(std::move(keys)) {}
  bool upsert_ = false;
  std::vector<std::string> keys_;
};

inline Mode append() { return Mode::append(); }
inline Mode upsert(std::vector<std::string> keys) { return Mode::upsert(std::move(keys)); }

struct Options {
  // The columns the records' fields fill, in order; the others take their defaults (a serial
  // id, a timestamp default now()). Empty: every column of the table but generated ones, in
  // the table's order, as `INSERT INTO t VALUES (...)` would.
  std::vector<std::string> columns;
  // The output's name in the marker table. Empty: "<table> <mode>" ("events append"). Two
  // outputs of one application into the same table with the same mode need distinct names,
  // or the second would find the first's markers and skip its partitions.
  std::string outputName;
};

namespace internal_pg {

// What a write task needs, shipped in the task's closure. The connection string travels with
// the task as Kafka's producer settings do: keep passwords in ~/.pgpass or PGPASSFILE on the
// executors to keep them out of it.
struct SinkSpec {
  std::string app;        // ember.app.name
  std::string output;     // Options::outputName or "<table> <mode>"
  std::string conn_info;  // libpq's key=value string or postgresql:// URI
  std::string table;      // as the user wrote it: events, public.events, "Events"
  Mode mode;
  std::vector<std::string> columns;

  void serialize(Writer& w) const {
    ember::Encode(app, w);
    ember::Encode(output, w);
    ember::Encode(conn_info, w);
    ember::Encode(table, w);
    mode.serialize(w);
    ember::Encode(columns, w);
  }
  bool deserialize(Reader& r) {
    return ember::Decode(r, &app) && ember::Decode(r, &output) && ember::Decode(r, &conn_info) &&
           ember::Decode(r, &table) && mode.deserialize(r) && ember::Decode(r, &columns);
  }
};

// A partition's records as rows, converted one at a time while COPY streams them out.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual size_t size() const = 0;
  // Record i as a row; `schema` (the columns written, their types as ember::sql names them)
  // is what a serializable struct's fields are read by. The runtime checks the row's width
  // and each value against the column.
  virtual sql::Row Get(size_t i, const sql::StructType& schema) const = 0;
};

// Defined in the runtime (runtime/postgres_sink.cc). Writes `rows` as partition `partition` of
// the batch at `batch_ms`, exactly once: skipped when its marker is in the table already
// (and when there are no rows: an empty partition writes nothing, not even a marker).
// Throws EmberError naming the table and PostgreSQL's error.
void WritePartition(const SinkSpec& spec, int64_t batch_ms, int partition, const RowSource& rows);
// The context's ember.app.name (on the driver).
std::string AppNameOf(ember::internal::ContextCore* ctx);

// A record as a row, the way createDataFrame reads records (ember::sql's Value::Of and
// RowFromCodecBytes); the checks against the columns are the runtime's.
template <typename T>
sql::Row RecordToRow(const T& x, const sql::StructType& schema) {
  if constexpr (std::is_same_v<T, sql::Row>) {
    return x;
  } else if constexpr (sql::internal_sql::IsTuple<T>::value) {
    std::vector<sql::Value> values;
    values.reserve(std::tuple_size_v<T>);
    std::apply([&values](const auto&... xs) { (values.push_back(sql::Value::Of(xs)), ...); }, x);
    return sql::Row(std::move(values));
  } else if constexpr (ember::internal::IsPair<T>::value) {
    return sql::Row({sql::Value::Of(x.first), sql::Value::Of(x.second)});
  } else if constexpr (ember::internal::kIsUserSerializable<T>) {
    std::string bytes;
    Writer w(&bytes);
    x.serialize(w);
    return sql::internal_sql::RowFromCodecBytes(bytes, schema);
  } else {
    return sql::Row({sql::Value::Of(x)});
  }
}

template <typename T>
class TypedRows : public RowSource {
 public:
  explicit TypedRows(const std::vector<T>& records) : records_(records) {}
  size_t size() const override { return records_.size(); }
  sql::Row Get(size_t i, const sql::StructType& schema) const override {
    return RecordToRow(records_[i], schema);
  }

 private:
  const std::vector<T>& records_;
};

// The result op of a write: one task per partition of the batch's RDD.
template <typename T>
class WriteOp : public ember::internal::OpBase<WriteOp<T>, ember::internal::ResultOp> {
 public:
  WriteOp(SinkSpec spec, int64_t batch_ms) : spec_(std::move(spec)), batch_ms_(batch_ms) {}
  std::string Run(const ember::internal::Partition& input,
                  const ember::internal::TaskInfo& task) const override {
    WritePartition(spec_, batch_ms_, task.partition, TypedRows<T>(input.As<T>()));
    return "";
  }
  void SaveClosure(Writer& w) const override {
    spec_.serialize(w);
    ember::Encode(batch_ms_, w);
  }
  static std::unique_ptr<ember::internal::Op> Load(Reader& r) {
    SinkSpec spec;
    int64_t batch_ms = 0;
    if (!spec.deserialize(r) || !ember::Decode(r, &batch_ms)) return nullptr;
    return std::make_unique<WriteOp>(std::move(spec), batch_ms);
  }

 private:
  SinkSpec spec_;
  int64_t batch_ms_;
};

inline SinkSpec MakeSpec(const std::string& conn_info, const std::string& table, Mode mode,
                         Options options) {
  if (table.empty()) throw EmberError("postgres::save: the table name is empty");
  SinkSpec spec;
  spec.output = options.outputName.empty() ? table + " " + mode.toString() : options.outputName;
  spec.conn_info = conn_info;
  spec.table = table;
  spec.mode = std::move(mode);
  spec.columns = std::move(options.columns);
  return spec;
}

template <typename D>
struct IsDStream : std::false_type {};
template <typename T, typename S>
struct IsDStream<DStream<T, S>> : std::true_type {};

}  // namespace internal_pg

// Writes one batch's RDD (in foreachRDD or transform, with the batch's time): the marker is
// keyed by `batchTime`, so give the time foreachRDD passes. Returns when every partition is
// written or skipped; throws EmberError when one fails after its retries.
template <typename T, typename S>
void save(const Rdd<T, S>& rdd, Time batchTime, const std::string& connInfo,
          const std::string& table, Mode mode, Options options = {}) {
  internal_pg::SinkSpec spec =
      internal_pg::MakeSpec(connInfo, table, std::move(mode), std::move(options));
  spec.app = internal_pg::AppNameOf(rdd.context());
  ember::internal::RunJob(rdd.ref(), std::make_shared<internal_pg::WriteOp<T>>(
                                         std::move(spec), batchTime.milliseconds()));
}

// Writes every batch of `stream` into `table` (see the top of this file).
template <typename D, typename = std::enable_if_t<internal_pg::IsDStream<D>::value>>
void save(const D& stream, const std::string& connInfo, const std::string& table, Mode mode,
          Options options = {}) {
  using T = typename D::value_type;
  // Checked now, on the driver, so that a wrong call fails at the call rather than each batch.
  internal_pg::SinkSpec spec = internal_pg::MakeSpec(connInfo, table, mode, options);
  stream.foreachRDD([spec](const auto& rdd, Time t) {
    internal_pg::SinkSpec s = spec;
    s.app = internal_pg::AppNameOf(rdd.context());
    ember::internal::RunJob(
        rdd.ref(), std::make_shared<internal_pg::WriteOp<T>>(std::move(s), t.milliseconds()));
  });
  ember::internal::NameLastOutput(stream.ref(), "postgres.save");
}

}  // namespace postgres
}  // namespace ember
