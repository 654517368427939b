// The PostgreSQL sink's executor side (common/postgres.h): a pool of libpq connections per
// process and connection string, and the one transaction per partition that makes a write
// exactly once.
//
// A partition's transaction:
//   BEGIN
//   INSERT INTO ember_output_commits VALUES (app, output, batch, partition) ON CONFLICT DO NOTHING
//     -> no row inserted: an earlier attempt committed this partition; ROLLBACK, done
//     -> a concurrent attempt holding the same key makes this insert wait for its outcome
//   look the table's columns up in the catalog
//   append: COPY table (columns) FROM STDIN
//   upsert: COPY a temporary stage table, then INSERT ... SELECT ... ON CONFLICT DO UPDATE
//   COMMIT
// The marker and the rows commit together or not at all, so a task that fails anywhere
// (its process killed included) leaves nothing behind, and its retry starts over.

#include <postgresql/libpq-fe.h>  // Debian keeps libpq's headers under postgresql/

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/postgres.h"
#include "common/sql.h"
#include "glog/logging.h"
#include "runtime/context_core.h"

namespace ember {
namespace postgres {
namespace internal_pg {

std::string AppNameOf(ember::internal::ContextCore* ctx) {
  if (ctx == nullptr) throw EmberError("postgres::save: the RDD belongs to no StreamingContext");
  return ctx->conf().appName();
}

namespace {

using sql::DataType;
using sql::Row;
using sql::StructType;
using sql::Value;

constexpr char kMarkerTable[] = "ember_output_commits";
// Idle connections kept per connection string: a process runs as many write tasks at once
// as it has slots, and each needs one.
constexpr size_t kMaxIdlePerTarget = 8;
// COPY data goes out in chunks of about this size, so that a large partition's text is never
// all in memory next to its records.
constexpr size_t kCopyChunk = 1 << 20;

// A failure PostgreSQL reported: its message, SQLSTATE, and whether the connection is gone.
struct PgError {
  std::string message;
  bool broken = false;
};

std::string Trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// One server connection and what this process has set up on it.
class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {
    // Notices ("relation already exists, skipping") would go to stderr by default.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  PGconn* get() const { return conn_; }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  bool marker_ready = false;  // the marker table is known to exist

  [[noreturn]] void Throw(const PGresult* r) const {
    PgError e;
    e.message = Trimmed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (e.message.empty()) e.message = Trimmed(PQerrorMessage(conn_));
    e.broken = broken();
    throw e;
  }
  // Runs one statement with text parameters; throws PgError unless it succeeds.
  Result Exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    Result r(params.empty() ? PQexec(conn_, sql.c_str())
                            : PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                           nullptr, values.data(), nullptr, nullptr, 0));
    const ExecStatusType s = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) Throw(r.get());
    return r;
  }
  // Ends a failed transaction, if the connection still works.
  void RollbackQuietly() {
    if (!broken() && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      Result r(PQexec(conn_, "ROLLBACK"));
    }
  }

 private:
  PGconn* conn_;
};

// Connections per connection string, reused across batches and tasks of every application in
// the process. Leaked on purpose: tasks may still run while the process exits.
class Pool {
 public:
  static Pool& Get() {
    static Pool* pool = new Pool();
    return *pool;
  }

  // A pooled connection unless `fresh`.
  std::unique_ptr<Connection> Take(const std::string& conn_info, bool fresh) {
    if (!fresh) {
      std::lock_guard<std::mutex> lock(mu_);
      auto& idle = idle_[conn_info];
      while (!idle.empty()) {
        std::unique_ptr<Connection> c = std::move(idle.back());
        idle.pop_back();
        if (!c->broken()) return c;
      }
    }
    return Connect(conn_info);
  }
  // Closes the idle connections to `conn_info`: when one of them turned out dead, the server
  // went away (a restart, a failover), and the others are most likely dead too.
  void DropIdle(const std::string& conn_info) {
    std::vector<std::unique_ptr<Connection>> dropped;
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(idle_[conn_info]);
  }
  void Give(const std::string& conn_info, std::unique_ptr<Connection> c) {
    if (c->broken() || PQtransactionStatus(c->get()) != PQTRANS_IDLE) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto& idle = idle_[conn_info];
    if (idle.size() < kMaxIdlePerTarget) idle.push_back(std::move(c));
  }

 private:
  // The user's string comes last with expand_dbname, so that whatever it sets wins over the
  // defaults before it: a bounded connect, the application's name in pg_stat_activity, and
  // UTF-8, which is what Ember's strings hold.
  static std::unique_ptr<Connection> Connect(const std::string& conn_info) {
    const char* keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                          "dbname", nullptr};
    const char* values[] = {"10", "ember", "UTF8", conn_info.c_str(), nullptr};
    PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (raw == nullptr) throw PgError{"libpq could not allocate a connection", true};
    auto c = std::make_unique<Connection>(raw);
    if (PQstatus(raw) != CONNECTION_OK) {
      throw PgError{"cannot connect: " + Trimmed(PQerrorMessage(raw)), true};
    }
    // A task whose machine is lost mid-transaction sends no FIN: without keepalives the
    // server would hold its marker's row lock (and the retry waiting on it) for the kernel's
    // default two hours. These bound that to about a minute; the sink's own transactions
    // never sit idle between statements.
    c->Exec(
        "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10;"
        " SET tcp_keepalives_count = 3; SET idle_in_transaction_session_timeout = '5min'");
    return c;
  }

  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

// How a column's text is made: ember::sql's type for the records' checks, plus the
// PostgreSQL types that need more than that.
enum class Kind { kPlain, kNumeric, kTimestampTz };

struct Column {
  std::string name;
  std::string type;  // format_type's name: integer, text, timestamp with time zone...
  Kind kind = Kind::kPlain;
};

// The sql type a record's value must have for a PostgreSQL column; every type not named here
// (text, varchar, uuid, json, inet, enums...) takes a string, which PostgreSQL parses with the
// column's own input function.
DataType SqlTypeOf(const std::string& type, Kind* kind) {
  *kind = Kind::kPlain;
  if (type == "boolean") return DataType::kBoolean;
  if (type == "smallint" || type == "integer") return DataType::kInt;
  if (type == "bigint") return DataType::kBigint;
  if (type == "real") return DataType::kFloat;
  if (type == "double precision") return DataType::kDouble;
  if (type == "numeric") {
    *kind = Kind::kNumeric;  // any number, exactly as given, or its text
    return DataType::kDouble;
  }
  if (type == "bytea") return DataType::kBinary;
  if (type == "date") return DataType::kDate;
  if (type == "timestamp without time zone") return DataType::kTimestamp;
  if (type == "timestamp with time zone") {
    *kind = Kind::kTimestampTz;
    return DataType::kTimestamp;
  }
  return DataType::kString;
}

std::string Quote(PGconn* conn, const std::string& identifier) {
  char* q = PQescapeIdentifier(conn, identifier.data(), identifier.size());
  if (q == nullptr) throw PgError{Trimmed(PQerrorMessage(conn)), false};
  std::string out(q);
  PQfreemem(q);
  return out;
}

// COPY's text format: backslash, tab, newline and carriage return escaped; NULL is \N.
void AppendEscaped(std::string_view s, std::string* out) {
  for (char ch : s) {
    switch (ch) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        out->push_back(ch);
    }
  }
}

// The shortest text that reads back as the same value; PostgreSQL's names for the others.
template <typename F>
void AppendFloating(F x, std::string* out) {
  if (std::isnan(x)) {
    out->append("NaN");
  } else if (std::isinf(x)) {
    out->append(x > 0 ? "Infinity" : "-Infinity");
  } else {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, x);
    out->append(buf, res.ptr);
  }
}

// Value `v` (already conformed to `type`) as COPY text.
void AppendCell(const Value& v, Kind kind, std::string* out) {
  switch (v.type()) {
    case DataType::kNull:
      out->append("\\N");
      break;
    case DataType::kBoolean:
      out->push_back(v.int64() ? 't' : 'f');
      break;
    case DataType::kInt:
    case DataType::kBigint:
      out->append(std::to_string(v.int64()));
      break;
    case DataType::kFloat:
      AppendFloating(static_cast<float>(v.float64()), out);
      break;
    case DataType::kDouble:
      AppendFloating(v.float64(), out);
      break;
    case DataType::kString:
      AppendEscaped(v.bytes(), out);
      break;
    case DataType::kBinary: {
      static const char* kHex = "0123456789abcdef";
      out->append("\\\\x");  // bytea's hex form, its backslash escaped for COPY
      for (char ch : v.bytes()) {
        const auto b = static_cast<uint8_t>(ch);
        out->push_back(kHex[b >> 4]);
        out->push_back(kHex[b & 15]);
      }
      break;
    }
    case DataType::kDate:
      out->append(sql::FormatDate(sql::Date{static_cast<int32_t>(v.int64())}));
      break;
    case DataType::kTimestamp:
      out->append(sql::FormatTimestamp(sql::Timestamp{v.int64()}));
      // Ember's timestamps are UTC: said so, whatever the session's time zone.
      if (kind == Kind::kTimestampTz) out->append("+00");
      break;
  }
}

// The row `row` as a COPY line, each value checked against its column by ember::sql's rules
// (the messages createDataFrame gives); numeric columns also take integers exactly and text.
void AppendLine(const Row& row, const StructType& schema, const std::vector<Column>& columns,
                std::string* out) {
  if (row.size() != schema.size()) {
    std::string names;
    for (const auto& c : columns) names += (names.empty() ? "" : ", ") + c.name;
    throw EmberError("a record has " + std::to_string(row.size()) + " fields but " +
                     std::to_string(schema.size()) + " columns are written (" + names + ")");
  }
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) out->push_back('\t');
    const Value& v = row.get(i);
    if (columns[i].kind == Kind::kNumeric &&
        (v.type() == DataType::kInt || v.type() == DataType::kBigint ||
         v.type() == DataType::kString)) {
      AppendCell(v, Kind::kNumeric, out);
    } else {
      AppendCell(sql::internal_sql::Conform(v, schema, i), columns[i].kind, out);
    }
  }
  out->push_back('\n');
}

struct TargetTable {
  std::string quoted;  // the table's name as PostgreSQL prints it (schema-qualified if needed)
  std::vector<Column> columns;
  StructType schema;
  std::vector<std::string> keys;  // upsert: the key columns as the table spells them
};

// The table and the columns written: Options::columns, else every column but generated ones,
// in the table's order. Also reads the NOT NULL flags, which make Conform refuse a null.
TargetTable LookUp(Connection& c, const SinkSpec& spec) {
  Result r = c.Exec(
      "SELECT r.oid::regclass::text, a.attname, "
      "       format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), NULL), a.attnotnull "
      "FROM (SELECT to_regclass($1::text) AS oid) r "
      "LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 "
      "     AND NOT a.attisdropped AND a.attgenerated = '' "
      "LEFT JOIN pg_type t ON t.oid = a.atttypid "
      "ORDER BY a.attnum",
      {spec.table});
  const int n = PQntuples(r.get());
  if (n == 0 || PQgetisnull(r.get(), 0, 0)) throw EmberError("the table does not exist");
  TargetTable target;
  target.quoted = PQgetvalue(r.get(), 0, 0);
  struct Found {
    Column column;
    bool not_null;
  };
  std::vector<Found> all;
  for (int i = 0; i < n; ++i) {
    if (PQgetisnull(r.get(), i, 1)) continue;  // a table without columns
    Found f;
    f.column.name = PQgetvalue(r.get(), i, 1);
    f.column.type = PQgetvalue(r.get(), i, 2);
    f.not_null = PQgetvalue(r.get(), i, 3)[0] == 't';
    all.push_back(std::move(f));
  }
  // A name as the user wrote it, or folded to lower case as PostgreSQL folds unquoted names.
  auto find = [&all](const std::string& name) -> const Found* {
    for (const auto& f : all) {
      if (f.column.name == name) return &f;
    }
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const auto& f : all) {
      if (f.column.name == lower) return &f;
    }
    return nullptr;
  };
  std::vector<const Found*> chosen;
  if (spec.columns.empty()) {
    for (const auto& f : all) chosen.push_back(&f);
  } else {
    for (const auto& name : spec.columns) {
      const Found* f = find(name);
      if (f == nullptr) throw EmberError("the table has no column " + name);
      chosen.push_back(f);
    }
  }
  if (chosen.empty()) throw EmberError("the table has no columns to write");
  for (const Found* f : chosen) {
    Column col = f->column;
    const DataType type = SqlTypeOf(col.type, &col.kind);
    target.schema.add(col.name, type, !f->not_null);
    target.columns.push_back(std::move(col));
  }
  for (const auto& key : spec.mode.keys()) {
    const Found* f = find(key);
    bool written = false;
    for (const Found* w : chosen) written |= w == f;
    if (!written) throw EmberError("the upsert key " + key + " is not among the columns written");
    target.keys.push_back(f->column.name);
  }
  return target;
}

// Streams the rows through COPY ... FROM STDIN. A record that does not fit ends the COPY with
// an error (so the server drops what it had) and throws.
void CopyRows(Connection& c, const std::string& copy_sql, const RowSource& rows,
              const TargetTable& target, bool with_record_numbers) {
  Result start(PQexec(c.get(), copy_sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) c.Throw(start.get());
  std::string buf;
  buf.reserve(kCopyChunk + 4096);
  auto flush = [&] {
    if (!buf.empty() && PQputCopyData(c.get(), buf.data(), static_cast<int>(buf.size())) != 1) {
      c.Throw(nullptr);
    }
    buf.clear();
  };
  try {
    for (size_t i = 0; i < rows.size(); ++i) {
      AppendLine(rows.Get(i, target.schema), target.schema, target.columns, &buf);
      if (with_record_numbers) {
        buf.back() = '\t';
        buf.append(std::to_string(i));
        buf.push_back('\n');
      }
      if (buf.size() >= kCopyChunk) flush();
    }
    flush();
  } catch (...) {
    // A record that does not fit (or a failed send): the server discards the COPY, and the
    // connection leaves the COPY state, fit for the ROLLBACK that follows.
    PQputCopyEnd(c.get(), "a record did not fit the table");
    while (Result r{PQgetResult(c.get())}) {
    }
    throw;
  }
  if (PQputCopyEnd(c.get(), nullptr) != 1) c.Throw(nullptr);
  bool failed = false;
  Result error;
  while (Result r{PQgetResult(c.get())}) {
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && !failed) {
      failed = true;
      error = std::move(r);
    }
  }
  if (failed) c.Throw(error.get());
}

// Creates the marker table unless it is there. Checked first, so that a role that may write
// an existing marker table need not be allowed to create tables; created under a lock, as
// concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog's unique indexes.
void EnsureMarkerTable(Connection& c) {
  if (c.marker_ready) return;
  Result r = c.Exec("SELECT to_regclass($1::text) IS NOT NULL", {kMarkerTable});
  if (PQgetvalue(r.get(), 0, 0)[0] != 't') {
    c.Exec("BEGIN");
    c.Exec("SELECT pg_advisory_xact_lock(hashtext('ember_output_commits'))");
    c.Exec(std::string("CREATE TABLE IF NOT EXISTS ") + kMarkerTable +
           " (app text NOT NULL, output text NOT NULL, batch_time_ms bigint NOT NULL,"
           " \"partition\" integer NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(),"
           " PRIMARY KEY (app, output, batch_time_ms, \"partition\"))");
    c.Exec("COMMIT");
  }
  c.marker_ready = true;
}

// The transaction described at the top. Returns false when the partition was written before.
// *commit_sent tells the caller whether a broken connection may have committed.
bool WriteOnce(Connection& c, const SinkSpec& spec, int64_t batch_ms, int partition,
               const RowSource& rows, bool* commit_sent) {
  EnsureMarkerTable(c);
  c.Exec("BEGIN");
  Result marker =
      c.Exec(std::string("INSERT INTO ") + kMarkerTable +
                 " (app, output, batch_time_ms, \"partition\") VALUES ($1, $2, $3, $4)"
                 " ON CONFLICT DO NOTHING",
             {spec.app, spec.output, std::to_string(batch_ms), std::to_string(partition)});
  if (std::string_view(PQcmdTuples(marker.get())) == "0") {
    c.Exec("ROLLBACK");
    return false;
  }
  TargetTable target = LookUp(c, spec);
  std::string cols;
  for (const auto& col : target.columns)
    cols += (cols.empty() ? "" : ", ") + Quote(c.get(), col.name);
  if (!spec.mode.isUpsert()) {
    CopyRows(c, "COPY " + target.quoted + " (" + cols + ") FROM STDIN", rows, target, false);
  } else {
    // The stage lives as long as the connection (emptied at every commit), named after the
    // table and its columns so that a changed table gets a stage of its new shape.
    std::string shape = target.quoted;
    for (const auto& col : target.columns) shape += "\x1f" + col.name + "\x1f" + col.type;
    const std::string stage =
        Quote(c.get(), "ember_stage_" + std::to_string(std::hash<std::string>()(shape)));
    c.Exec("CREATE TEMP TABLE IF NOT EXISTS " + stage + " ON COMMIT DELETE ROWS AS SELECT " + cols +
           ", 0::bigint AS ember_record_no FROM " + target.quoted + " WITH NO DATA");
    CopyRows(c, "COPY " + stage + " (" + cols + ", ember_record_no) FROM STDIN", rows, target,
             true);
    std::string keys, updates;
    for (const auto& key : target.keys) keys += (keys.empty() ? "" : ", ") + Quote(c.get(), key);
    for (const auto& col : target.columns) {
      bool is_key = false;
      for (const auto& key : target.keys) is_key |= col.name == key;
      if (is_key) continue;
      const std::string q = Quote(c.get(), col.name);
      updates += (updates.empty() ? "" : ", ") + q + " = EXCLUDED." + q;
    }
    // DISTINCT ON keeps each key's last record: ON CONFLICT may not touch a row twice.
    c.Exec("INSERT INTO " + target.quoted + " (" + cols + ") SELECT DISTINCT ON (" + keys + ") " +
           cols + " FROM " + stage + " ORDER BY " + keys + ", ember_record_no DESC ON CONFLICT (" +
           keys + ") DO " + (updates.empty() ? "NOTHING" : "UPDATE SET " + updates));
  }
  *commit_sent = true;
  c.Exec("COMMIT");
  return true;
}

std::string Describe(const SinkSpec& spec) {
  return "postgres.save into table " + spec.table + " (" + spec.mode.toString() + ")";
}

}  // namespace

void WritePartition(const SinkSpec& spec, int64_t batch_ms, int partition, const RowSource& rows) {
  // Nothing to write, nothing to write twice: an idle stream's batches touch no database.
  if (rows.size() == 0) return;
  // A pooled connection the server dropped since its last use (a restart, an idle timeout)
  // shows only when used: one reconnect, as long as no COMMIT went out on it.
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> c;
    bool commit_sent = false;
    try {
      c = Pool::Get().Take(spec.conn_info, /*fresh=*/attempt > 0);
      const bool wrote = WriteOnce(*c, spec, batch_ms, partition, rows, &commit_sent);
      if (!wrote) {
        LOG(INFO) << Describe(spec) << ": batch " << batch_ms << " partition " << partition
                  << " was written before; skipped";
      }
      Pool::Get().Give(spec.conn_info, std::move(c));
      return;
    } catch (const PgError& e) {
      if (c != nullptr) c->RollbackQuietly();
      if (e.broken && c != nullptr) Pool::Get().DropIdle(spec.conn_info);
      if (e.broken && c != nullptr && !commit_sent && attempt == 0) continue;
      if (c != nullptr) Pool::Get().Give(spec.conn_info, std::move(c));
      throw EmberError(Describe(spec) + ": " + e.message +
                       (e.broken && commit_sent
                            ? " (the connection broke during COMMIT: a retry of the task finds "
                              "the marker if it committed)"
                            : ""));
    } catch (const EmberError& e) {
      if (c != nullptr) {
        c->RollbackQuietly();
        Pool::Get().Give(spec.conn_info, std::move(c));
      }
      // ember::sql's checks speak of createDataFrame; here it is this table's columns.
      std::string message = e.what();
      const std::string prefix = "createDataFrame: ";
      if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
      throw EmberError(Describe(spec) + ": " + message);
    }
  }
}

}  // namespace internal_pg
}  // namespace postgres
}  // namespace ember
