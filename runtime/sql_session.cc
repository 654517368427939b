// SparkSession, DataFrame and GroupedData (common/sql.h): plans of SQL programs over RDDs of
// rows, run by three operators on the executors.
//
//   SqlMapOp        a program over one partition (with broadcast tables): projections,
//                   filters, broadcast joins, and the queries that split by partition
//   RowShuffleWriter  the map side of a shuffle: an optional program (partial aggregation,
//                   per-partition DISTINCT or LIMIT), then rows to reducers by key columns
//   SqlReduceOp     a program over the rows each shuffled parent sent one reducer: final
//                   aggregation, shuffle joins, queries that run in one task

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/broadcast.h"
#include "common/sql.h"
#include "runtime/context_core.h"
#include "runtime/sql_engine.h"

namespace ember {
namespace sql {
namespace text = internal_sql::text;
namespace internal_sql {

using ember::internal::ContextCore;
using ember::internal::NarrowOp;
using ember::internal::OpBase;
using ember::internal::Partition;
using ember::internal::RddRef;
using ember::internal::ShuffleReaderOp;
using ember::internal::ShuffleWriterOp;
using ember::internal::TaskInfo;

// ---------------------------------------------------------------------------- operators

class SqlMapOp : public OpBase<SqlMapOp, NarrowOp> {
 public:
  explicit SqlMapOp(Program program) : program_(std::move(program)) {}
  Partition Compute(const std::vector<Partition>& inputs, const TaskInfo&) const override {
    const auto& rows = inputs[0].As<Row>();
    return Partition::Of(RunProgram(program_, {&rows}));
  }
  void SaveClosure(Writer& w) const override { program_.serialize(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    Program p;
    if (!p.deserialize(r)) return nullptr;
    return std::make_unique<SqlMapOp>(std::move(p));
  }

 private:
  Program program_;
};

// Rows to reducers by the stable hash of `keys` (all columns when `all_columns`; every row to
// reducer 0 when there is one), after `pre` when it has a query.
class RowShuffleWriter : public OpBase<RowShuffleWriter, ShuffleWriterOp> {
 public:
  RowShuffleWriter(Program pre, std::vector<int32_t> keys, bool all_columns)
      : pre_(std::move(pre)), keys_(std::move(keys)), all_columns_(all_columns) {}
  void Write(const Partition& input, int num_reducers, const TaskInfo&,
             std::vector<std::string>* buckets) const override {
    const auto& in = input.As<Row>();
    std::vector<Row> computed;
    if (!pre_.query.empty()) computed = RunProgram(pre_, {&in});
    const std::vector<Row>& rows = pre_.query.empty() ? in : computed;
    std::vector<std::vector<Row>> parts(static_cast<size_t>(num_reducers));
    for (const Row& row : rows) {
      size_t b = 0;
      if (num_reducers > 1) {
        uint64_t h = 0x51af;
        if (all_columns_) {
          for (const Value& v : row.values()) {
            h = ember::internal::HashCombine(h, v.StableHashValue());
          }
        } else {
          for (int32_t k : keys_) h = ember::internal::HashCombine(h, row.get(k).StableHashValue());
        }
        b = static_cast<size_t>((h >> 32) % static_cast<uint64_t>(num_reducers));
      }
      parts[b].push_back(row);
    }
    buckets->resize(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) EncodeVector(parts[i], &(*buckets)[i]);
  }
  void SaveClosure(Writer& w) const override {
    pre_.serialize(w);
    Encode(keys_, w);
    Encode(all_columns_, w);
  }
  static std::unique_ptr<Op> Load(Reader& r) {
    Program pre;
    std::vector<int32_t> keys;
    bool all = false;
    if (!pre.deserialize(r) || !Decode(r, &keys) || !Decode(r, &all)) return nullptr;
    return std::make_unique<RowShuffleWriter>(std::move(pre), std::move(keys), all);
  }

 private:
  Program pre_;
  std::vector<int32_t> keys_;
  bool all_columns_;
};

class SqlReduceOp : public OpBase<SqlReduceOp, ShuffleReaderOp> {
 public:
  explicit SqlReduceOp(Program program) : program_(std::move(program)) {}
  bool Read(const std::vector<std::vector<std::string_view>>& buckets,
            Partition* out) const override {
    std::vector<std::vector<Row>> tables(buckets.size());
    for (size_t i = 0; i < buckets.size(); ++i) {
      for (std::string_view b : buckets[i]) {
        if (!DecodeVector(b, &tables[i])) return false;
      }
    }
    std::vector<const std::vector<Row>*> inputs;
    for (const auto& t : tables) inputs.push_back(&t);
    *out = Partition::Of(RunProgram(program_, inputs));
    return true;
  }
  void SaveClosure(Writer& w) const override { program_.serialize(w); }
  static std::unique_ptr<Op> Load(Reader& r) {
    Program p;
    if (!p.deserialize(r)) return nullptr;
    return std::make_unique<SqlReduceOp>(std::move(p));
  }

 private:
  Program program_;
};

// orderBy's key: the sort columns, each ascending (NULLs first) or descending (NULLs last).
struct SortKey {
  std::vector<Value> values;
  std::vector<bool> descending;
  bool operator<(const SortKey& o) const {
    for (size_t i = 0; i < values.size(); ++i) {
      int c = values[i].Compare(o.values[i]);
      if (c != 0) return descending[i] ? c > 0 : c < 0;
    }
    return false;
  }
  void serialize(Writer& w) const {
    Encode(values, w);
    Encode(descending, w);
  }
  bool deserialize(Reader& r) { return Decode(r, &values) && Decode(r, &descending); }
};
struct SortKeyFn {
  std::vector<int32_t> columns;
  std::vector<bool> descending;
  SortKey operator()(const Row& row) const {
    SortKey k;
    k.descending = descending;
    for (int32_t c : columns) k.values.push_back(row.get(c));
    return k;
  }
  void serialize(Writer& w) const {
    Encode(columns, w);
    Encode(descending, w);
  }
  bool deserialize(Reader& r) { return Decode(r, &columns) && Decode(r, &descending); }
};

// ------------------------------------------------------------------------ session, frames

struct SessionImpl {
  ContextCore* ctx = nullptr;
  Conf conf;
  absl::Mutex mu;
  // Views by catalog name ("codes", "global_temp.totals").
  std::map<std::string, DataFrame> views ABSL_GUARDED_BY(mu);
};

struct FrameImpl {
  std::shared_ptr<SessionImpl> session;
  StructType schema;  // kNull columns: typed by their values
  // The plan: an RDD of rows, or a program over `base` that the next per-partition
  // operation fuses into its own (one database per partition, not one per operation).
  RddRef rdd;
  RddRef base;
  std::optional<Program> pending;
  // Static data: the rows, on the driver.
  std::shared_ptr<const std::vector<Row>> local;

  mutable absl::Mutex mu;
  mutable RddRef built ABSL_GUARDED_BY(mu);
  mutable int64_t broadcast ABSL_GUARDED_BY(mu) = -1;
  mutable std::optional<StructType> resolved ABSL_GUARDED_BY(mu);

  RddRef Ref() const {
    if (rdd != nullptr) return rdd;
    absl::MutexLock lock(&mu);
    if (built == nullptr) {
      built = ember::internal::MakeNarrowRdd({base}, std::make_shared<SqlMapOp>(*pending));
    }
    return built;
  }
  int64_t Broadcast() const {
    absl::MutexLock lock(&mu);
    if (broadcast < 0) broadcast = ember::internal::NewBroadcast(EncodeToString(*local));
    return broadcast;
  }
};

namespace {

std::shared_ptr<FrameImpl> NewFrame(const std::shared_ptr<SessionImpl>& session,
                                    StructType schema) {
  auto f = std::make_shared<FrameImpl>();
  f->session = session;
  f->schema = std::move(schema);
  return f;
}

std::string Quote(const std::string& name) { return QuoteName(name); }

// The shuffle's partition count: ember.sql.shuffle.partitions, else Ember's default for
// shuffles (ember.default.parallelism, else the largest parent's).
int ShufflePartitions(const SessionImpl& s, const std::vector<RddRef>& parents) {
  const int64_t n = s.conf.getInt("ember.sql.shuffle.partitions", 0);
  if (n > 0) return static_cast<int>(n);
  return ember::internal::DefaultShufflePartitions(parents);
}

bool HasDuplicateNames(const StructType& schema) {
  for (size_t i = 0; i < schema.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (text::IEquals(schema[i].name, schema[j].name)) return true;
    }
  }
  return false;
}

// Checks `program` against empty tables of its schemas: the output's names and declared
// types, or an EmberError naming what is wrong.
QueryShape CheckProgram(const Program& program) {
  Database db;
  for (const TableSpec& t : program.tables) db.CreateTable(t.name, t.schema);
  return db.Check(program.query);
}

// The output of a checked program: nullability from a source column of the same name.
StructType OutputSchema(const QueryShape& shape, const std::vector<const StructType*>& sources) {
  std::vector<StructField> fields = shape.output.fields();
  for (auto& f : fields) {
    f.nullable = true;
    for (const StructType* s : sources) {
      const int i = s->indexOf(f.name);
      if (i >= 0 && (*s)[i].dataType == f.dataType) {
        f.nullable = (*s)[i].nullable;
        break;
      }
    }
  }
  return StructType(std::move(fields));
}

// A per-partition program over `frame`: `body(source)` is the query, where `source` is the
// frame's rows as a table named __this (a fused subquery when the frame is itself pending).
DataFrame Narrow(const FrameImpl& frame,
                 const std::function<std::string(const std::string& source)>& body,
                 std::vector<TableSpec> extra = {},
                 std::vector<const StructType*> extra_sources = {}) {
  Program p;
  RddRef base;
  std::string source;
  if (frame.pending && frame.rdd == nullptr && !HasDuplicateNames(frame.schema)) {
    p.tables = frame.pending->tables;
    base = frame.base;
    source = "(" + frame.pending->query + ") AS __this";
  } else {
    base = frame.Ref();
    p.tables.push_back(TableSpec{"__this", frame.schema, 0, -1});
    source = "__this";
  }
  for (auto& t : extra) {
    bool present = false;
    for (const auto& have : p.tables) present = present || have.name == t.name;
    if (!present) p.tables.push_back(std::move(t));
  }
  p.query = body(source);
  QueryShape shape = CheckProgram(p);
  extra_sources.insert(extra_sources.begin(), &frame.schema);
  p.output = OutputSchema(shape, extra_sources);
  auto out = NewFrame(frame.session, p.output);
  out->base = std::move(base);
  out->pending = std::move(p);
  return DataFrame(out);
}

// A shuffle of `parents` by their key columns into a program over the rows each reducer gets
// (table i: parent i's rows).
DataFrame Shuffled(const std::shared_ptr<SessionImpl>& session,
                   const std::vector<const FrameImpl*>& parents, const std::vector<Program>& pre,
                   const std::vector<std::vector<int32_t>>& keys, bool all_columns,
                   int num_partitions, Program reduce) {
  std::vector<RddRef> refs;
  std::vector<std::shared_ptr<const ShuffleWriterOp>> writers;
  for (size_t i = 0; i < parents.size(); ++i) {
    refs.push_back(parents[i]->Ref());
    writers.push_back(std::make_shared<RowShuffleWriter>(pre[i], keys[i], all_columns));
  }
  auto out = NewFrame(session, reduce.output);
  out->rdd = ember::internal::MakeShuffledRdd(std::move(refs), std::move(writers),
                                              std::make_shared<SqlReduceOp>(std::move(reduce)),
                                              num_partitions);
  return DataFrame(out);
}

int ColumnIndex(const StructType& schema, const std::string& name, const char* what) {
  const int i = schema.indexOf(name);
  if (i < 0) {
    throw EmberError(std::string(what) + ": cannot resolve column `" + name +
                     "` given the columns [" + absl::StrJoin(schema.fieldNames(), ", ") + "]");
  }
  return i;
}

// The lower-case words and symbols of a query, outside string literals; quoted identifiers
// become words.
std::vector<std::string> Tokens(const std::string& q) {
  std::vector<std::string> out;
  for (size_t i = 0; i < q.size();) {
    const char c = q[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'') {
      size_t j = i + 1;
      while (j < q.size() && !(q[j] == '\'' && (j + 1 >= q.size() || q[j + 1] != '\''))) {
        j += q[j] == '\'' ? 2 : 1;
      }
      out.push_back("'");
      i = j + 1;
    } else if (c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      size_t j = q.find(close, i + 1);
      if (j == std::string::npos) j = q.size();
      out.push_back(text::Lower(q.substr(i + 1, j - i - 1)));
      i = j + 1;
    } else if (c == '-' && i + 1 < q.size() && q[i + 1] == '-') {
      while (i < q.size() && q[i] != '\n') ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < q.size() && (std::isalnum(static_cast<unsigned char>(q[j])) || q[j] == '_')) ++j;
      out.push_back(text::Lower(q.substr(i, j - i)));
      i = j;
    } else {
      out.push_back(std::string(1, c));
      ++i;
    }
  }
  return out;
}

// Whether a query over one batch view (read once) and static tables gives, run on each
// partition of the view, the union of what it gives over the whole view: no aggregation,
// DISTINCT, ordering, LIMIT, set operation or window, and no outer join that keeps rows of
// the static side.
bool SplitsByPartition(const std::string& query, const std::string& view) {
  static const char* const kWhole[] = {
      "group",      "distinct",  "order",      "limit",   "offset",
      "union",      "intersect", "except",     "over",    "window",
      "having",     "right",     "full",       "count",   "sum",
      "avg",        "min",       "max",        "total",   "group_concat",
      "string_agg", "random",    "randomblob", "changes", "last_insert_rowid"};
  const std::vector<std::string> tokens = Tokens(query);
  std::string bare = view;
  if (auto dot = bare.rfind('.'); dot != std::string::npos) bare = bare.substr(dot + 1);
  int uses = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    for (const char* w : kWhole) {
      if (tokens[i] == w) return false;
    }
    if (tokens[i] == bare) ++uses;
    // `static LEFT JOIN view`: unmatched static rows would come from every partition.
    if (tokens[i] == "left" && i + 1 < tokens.size()) {
      size_t j = i + 1;
      while (j < tokens.size() && (tokens[j] == "outer" || tokens[j] == "join")) ++j;
      if (j < tokens.size() && tokens[j] == bare) return false;
    }
  }
  return uses == 1;
}

}  // namespace

}  // namespace internal_sql

using internal_sql::FrameImpl;
using internal_sql::Program;
using internal_sql::QueryShape;
using internal_sql::SessionImpl;
using internal_sql::TableSpec;

// ----------------------------------------------------------------------------- SparkSession

SparkSession SparkSession::Builder::getOrCreate() const {
  ember::internal::ContextCore* ctx = ember::internal::NewestLiveContext();
  if (ctx == nullptr) {
    throw EmberError(
        "SparkSession.getOrCreate: no StreamingContext is alive in this process; "
        "create one first");
  }
  auto impl = std::static_pointer_cast<SessionImpl>(ctx->Attachment("sql.session", [&] {
    auto s = std::make_shared<SessionImpl>();
    s->ctx = ctx;
    // The context's configuration, with what the first builder set over it (as Spark's
    // builder options go into the new session's conf).
    s->conf = ctx->conf();
    for (const auto& [key, value] : conf_.all()) s->conf.set(key, value);
    return std::static_pointer_cast<void>(s);
  }));
  return SparkSession(impl);
}

const Conf& SparkSession::conf() const { return impl_->conf; }

DataFrame SparkSession::FromRows(ember::internal::RddRef rows, const StructType& schema) const {
  auto f = internal_sql::NewFrame(impl_, schema);
  f->rdd = std::move(rows);
  return DataFrame(f);
}

DataFrame SparkSession::FromLocalRows(std::vector<Row> rows, const StructType& schema) const {
  auto f = internal_sql::NewFrame(impl_, schema);
  auto local = std::make_shared<const std::vector<Row>>(std::move(rows));
  f->rdd = ember::internal::MakeParallelRdd<Row>(impl_->ctx, *local, 0);
  f->local = std::move(local);
  return DataFrame(f);
}

DataFrame SparkSession::table(const std::string& name) const {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->views.find(internal_sql::CatalogName(name));
  if (it == impl_->views.end()) {
    throw EmberError("Table or view not found: " + name);
  }
  return it->second;
}

bool SparkSession::dropTempView(const std::string& name) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->views.erase(internal_sql::CatalogName(name)) > 0;
}
bool SparkSession::dropGlobalTempView(const std::string& name) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->views.erase(internal_sql::CatalogName("global_temp." + name)) > 0;
}
std::vector<std::string> SparkSession::tableNames() const {
  absl::MutexLock lock(&impl_->mu);
  std::vector<std::string> out;
  for (const auto& kv : impl_->views) out.push_back(kv.first);
  return out;
}

DataFrame SparkSession::sql(const std::string& query) const {
  std::map<std::string, DataFrame> views;
  {
    absl::MutexLock lock(&impl_->mu);
    views = impl_->views;
  }
  internal_sql::Database check;
  for (const auto& [name, frame] : views) check.CreateTable(name, frame.impl().schema);
  QueryShape shape = check.Check(query);

  std::vector<std::pair<std::string, const FrameImpl*>> batch, statics;
  for (const std::string& t : shape.tables) {
    auto it = views.find(t);
    if (it == views.end()) continue;  // a CTE's name
    const FrameImpl& f = it->second.impl();
    (f.local ? statics : batch).emplace_back(t, &f);
  }
  Program p;
  p.query = query;
  p.output = shape.output;
  std::vector<const StructType*> sources;
  for (const auto& [name, f] : statics) {
    p.tables.push_back(TableSpec{name, f->schema, -1, f->Broadcast()});
    sources.push_back(&f->schema);
  }
  for (const auto& [name, f] : batch) sources.push_back(&f->schema);
  p.output = internal_sql::OutputSchema(shape, sources);

  if (batch.size() == 1 && internal_sql::SplitsByPartition(query, batch[0].first)) {
    // Each partition of the batch view, with the static tables broadcast.
    p.tables.push_back(TableSpec{batch[0].first, batch[0].second->schema, 0, -1});
    auto f = internal_sql::NewFrame(impl_, p.output);
    f->base = batch[0].second->Ref();
    f->pending = std::move(p);
    return DataFrame(f);
  }
  if (batch.empty()) {
    // Static tables only: one task over the broadcasts.
    auto f = internal_sql::NewFrame(impl_, p.output);
    f->rdd =
        ember::internal::MakeNarrowRdd({ember::internal::MakeParallelRdd<Row>(impl_->ctx, {}, 1)},
                                       std::make_shared<internal_sql::SqlMapOp>(std::move(p)));
    return DataFrame(f);
  }
  // One task over every batch view's rows.
  std::vector<const FrameImpl*> parents;
  std::vector<Program> pre;
  std::vector<std::vector<int32_t>> keys;
  for (size_t i = 0; i < batch.size(); ++i) {
    p.tables.push_back(
        TableSpec{batch[i].first, batch[i].second->schema, static_cast<int32_t>(i), -1});
    parents.push_back(batch[i].second);
    pre.emplace_back();
    keys.emplace_back();
  }
  return internal_sql::Shuffled(impl_, parents, pre, keys, false, 1, std::move(p));
}

// ------------------------------------------------------------------------------- DataFrame

const internal_sql::FrameImpl& DataFrame::impl() const {
  if (impl_ == nullptr) throw EmberError("DataFrame: used before it was assigned a plan");
  return *impl_;
}

ember::internal::RddRef DataFrame::ref() const { return impl().Ref(); }

SparkSession DataFrame::sparkSession() const { return SparkSession(impl().session); }

const StructType& DataFrame::schema() const {
  const FrameImpl& f = impl();
  bool dynamic = false;
  for (const auto& field : f.schema.fields())
    dynamic = dynamic || field.dataType == DataType::kNull;
  if (!dynamic) return f.schema;
  {
    absl::MutexLock lock(&f.mu);
    if (f.resolved) return *f.resolved;
  }
  // Columns SQLite does not type (expressions) take the type of their first value.
  StructType resolved = f.schema;
  std::vector<StructField> fields = resolved.fields();
  std::vector<Row> first = take(1);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].dataType != DataType::kNull) continue;
    fields[i].dataType =
        first.empty() || first[0].isNullAt(i) ? DataType::kString : first[0].get(i).type();
  }
  absl::MutexLock lock(&f.mu);
  if (!f.resolved) f.resolved = StructType(std::move(fields));
  return *f.resolved;
}

void DataFrame::printSchema() const {
  ember::internal::EmitOutput(impl().session->ctx, schema().treeString() + "\n");
}

DataFrame DataFrame::select(const std::vector<std::string>& columns) const {
  std::vector<std::string> list;
  for (const std::string& c : columns) {
    if (c == "*") {
      list.push_back("*");
      continue;
    }
    const int i = internal_sql::ColumnIndex(impl().schema, c, "select");
    list.push_back(internal_sql::Quote(impl().schema[i].name));
  }
  const std::string items = absl::StrJoin(list, ", ");
  return internal_sql::Narrow(
      impl(), [&](const std::string& src) { return "SELECT " + items + " FROM " + src; });
}

DataFrame DataFrame::selectExpr(const std::vector<std::string>& expressions) const {
  const std::string items = absl::StrJoin(expressions, ", ");
  return internal_sql::Narrow(
      impl(), [&](const std::string& src) { return "SELECT " + items + " FROM " + src; });
}

DataFrame DataFrame::filter(const std::string& condition) const {
  return internal_sql::Narrow(impl(), [&](const std::string& src) {
    return "SELECT * FROM " + src + " WHERE (" + condition + ")";
  });
}

DataFrame DataFrame::withColumn(const std::string& name, const std::string& expression) const {
  std::vector<std::string> list;
  bool replaced = false;
  for (const auto& f : impl().schema.fields()) {
    if (text::IEquals(f.name, name)) {
      list.push_back("(" + expression + ") AS " + internal_sql::Quote(name));
      replaced = true;
    } else {
      list.push_back(internal_sql::Quote(f.name));
    }
  }
  if (!replaced) list.push_back("(" + expression + ") AS " + internal_sql::Quote(name));
  const std::string items = absl::StrJoin(list, ", ");
  return internal_sql::Narrow(
      impl(), [&](const std::string& src) { return "SELECT " + items + " FROM " + src; });
}

DataFrame DataFrame::withColumnRenamed(const std::string& existing, const std::string& name) const {
  if (impl().schema.indexOf(existing) < 0) return *this;  // Spark: a no-op
  std::vector<std::string> list;
  for (const auto& f : impl().schema.fields()) {
    std::string item = internal_sql::Quote(f.name);
    if (text::IEquals(f.name, existing)) item += " AS " + internal_sql::Quote(name);
    list.push_back(item);
  }
  const std::string items = absl::StrJoin(list, ", ");
  return internal_sql::Narrow(
      impl(), [&](const std::string& src) { return "SELECT " + items + " FROM " + src; });
}

DataFrame DataFrame::drop(const std::vector<std::string>& columns) const {
  std::vector<std::string> kept;
  for (const auto& f : impl().schema.fields()) {
    bool dropped = false;
    for (const auto& c : columns) dropped = dropped || text::IEquals(c, f.name);
    if (!dropped) kept.push_back(f.name);
  }
  if (kept.size() == impl().schema.size()) return *this;
  return select(kept);
}

GroupedData DataFrame::groupBy(const std::vector<std::string>& columns) const {
  for (const auto& c : columns) internal_sql::ColumnIndex(impl().schema, c, "groupBy");
  return GroupedData(*this, columns);
}

DataFrame DataFrame::join(const DataFrame& other, const std::vector<std::string>& on,
                          const std::string& how_in) const {
  const FrameImpl& l = impl();
  const FrameImpl& r = other.impl();
  std::string how = text::Lower(how_in);
  how.erase(std::remove(how.begin(), how.end(), '_'), how.end());
  if (how == "leftouter") how = "left";
  if (how == "rightouter") how = "right";
  if (how == "outer" || how == "fullouter") how = "full";
  if (how == "leftsemi") how = "semi";
  if (how == "leftanti") how = "anti";
  if (how != "inner" && how != "left" && how != "right" && how != "full" && how != "semi" &&
      how != "anti" && how != "cross") {
    throw EmberError("join: unsupported join type '" + how_in +
                     "' (inner, left, right, full, semi, anti)");
  }
  if (on.empty()) throw EmberError("join: name the columns to join on");
  std::vector<int32_t> lkeys, rkeys;
  for (const auto& k : on) {
    lkeys.push_back(internal_sql::ColumnIndex(l.schema, k, "join (left side)"));
    rkeys.push_back(internal_sql::ColumnIndex(r.schema, k, "join (right side)"));
  }
  auto is_key = [&](const std::string& name) {
    for (const auto& k : on) {
      if (text::IEquals(k, name)) return true;
    }
    return false;
  };
  // The query over tables qualified as L and R, which FROM reads as Lfrom and Rfrom (a table
  // name, or a fused subquery with that alias).
  auto query = [&](const std::string& L, const std::string& R, const std::string& Lfrom,
                   const std::string& Rfrom) {
    std::vector<std::string> list;
    std::vector<std::string> cond;
    for (const auto& k : on) {
      const std::string q = internal_sql::Quote(l.schema[l.schema.indexOf(k)].name);
      const std::string lk = L + "." + q, rk = R + "." + q;
      cond.push_back(lk + " = " + rk);
      if (how == "right") {
        list.push_back(rk + " AS " + q);
      } else if (how == "full") {
        list.push_back("coalesce(" + lk + ", " + rk + ") AS " + q);
      } else {
        list.push_back(lk + " AS " + q);
      }
    }
    const std::string on_clause = absl::StrJoin(cond, " AND ");
    if (how == "semi" || how == "anti") {
      std::vector<std::string> cols;
      for (const auto& f : l.schema.fields()) {
        cols.push_back(L + "." + internal_sql::Quote(f.name) + " AS " +
                       internal_sql::Quote(f.name));
      }
      return "SELECT " + absl::StrJoin(cols, ", ") + " FROM " + Lfrom + " WHERE " +
             (how == "anti" ? "NOT " : "") + "EXISTS (SELECT 1 FROM " + Rfrom + " WHERE " +
             on_clause + ")";
    }
    for (const auto& f : l.schema.fields()) {
      if (!is_key(f.name)) {
        list.push_back(L + "." + internal_sql::Quote(f.name) + " AS " +
                       internal_sql::Quote(f.name));
      }
    }
    for (const auto& f : r.schema.fields()) {
      if (!is_key(f.name)) {
        list.push_back(R + "." + internal_sql::Quote(f.name) + " AS " +
                       internal_sql::Quote(f.name));
      }
    }
    const char* kind = how == "left"    ? " LEFT JOIN "
                       : how == "right" ? " RIGHT JOIN "
                       : how == "full"  ? " FULL JOIN "
                                        : " JOIN ";
    return "SELECT " + absl::StrJoin(list, ", ") + " FROM " + Lfrom + kind + Rfrom + " ON " +
           on_clause;
  };
  auto fix_nullability = [&](DataFrame joined) {
    if (how != "full" && how != "left" && how != "right") return joined;
    // Outer joins make the columns nullable: the same plan under that schema.
    const FrameImpl& j = joined.impl();
    std::vector<StructField> fields = j.schema.fields();
    for (auto& field : fields) field.nullable = true;
    auto out = internal_sql::NewFrame(j.session, StructType(std::move(fields)));
    out->rdd = j.rdd;
    out->base = j.base;
    out->pending = j.pending;
    if (out->pending) out->pending->output = out->schema;
    return DataFrame(out);
  };
  const int64_t threshold = l.session->conf.getInt("ember.sql.autoBroadcastJoinThreshold", 100000);
  auto small = [&](const FrameImpl& f) {
    return f.local && threshold >= 0 && static_cast<int64_t>(f.local->size()) <= threshold;
  };
  // A small static side is broadcast: the join runs per partition of the other side.
  if (small(r) && (how == "inner" || how == "left" || how == "semi" || how == "anti")) {
    const int64_t id = r.Broadcast();
    const std::string other = "__broadcast" + std::to_string(id);
    return fix_nullability(internal_sql::Narrow(
        l, [&](const std::string& src) { return query("__this", other, src, other); },
        {TableSpec{other, r.schema, -1, id}}, {&r.schema}));
  }
  if (small(l) && (how == "inner" || how == "right")) {
    const int64_t id = l.Broadcast();
    const std::string other = "__broadcast" + std::to_string(id);
    return fix_nullability(internal_sql::Narrow(
        r, [&](const std::string& src) { return query(other, "__this", other, src); },
        {TableSpec{other, l.schema, -1, id}}, {&l.schema}));
  }
  Program reduce;
  reduce.tables = {TableSpec{"__left", l.schema, 0, -1}, TableSpec{"__right", r.schema, 1, -1}};
  reduce.query = query("__left", "__right", "__left", "__right");
  reduce.output =
      internal_sql::OutputSchema(internal_sql::CheckProgram(reduce), {&l.schema, &r.schema});
  const int n = internal_sql::ShufflePartitions(*l.session, {l.Ref(), r.Ref()});
  return fix_nullability(internal_sql::Shuffled(l.session, {&l, &r}, {Program(), Program()},
                                                {lkeys, rkeys}, false, n, std::move(reduce)));
}

DataFrame DataFrame::orderBy(const std::vector<std::string>& columns) const {
  internal_sql::SortKeyFn key;
  for (const std::string& spec : columns) {
    std::string c(text::Trim(spec));
    bool desc = false;
    std::string lower = text::Lower(c);
    if (text::EndsWith(lower, " desc")) {
      desc = true;
      c = std::string(text::Trim(c.substr(0, c.size() - 5)));
    } else if (text::EndsWith(lower, " asc")) {
      c = std::string(text::Trim(c.substr(0, c.size() - 4)));
    }
    key.columns.push_back(internal_sql::ColumnIndex(impl().schema, c, "orderBy"));
    key.descending.push_back(desc);
  }
  Rdd<Row> rows(ref());
  Rdd<Row> sorted = rows.sortBy(key, true);
  auto f = internal_sql::NewFrame(impl().session, impl().schema);
  f->rdd = sorted.ref();
  return DataFrame(f);
}

DataFrame DataFrame::limit(int64_t n) const {
  if (n < 0) throw EmberError("limit: the number of rows must be >= 0, not " + std::to_string(n));
  const FrameImpl& f = impl();
  Program pre;
  pre.tables = {TableSpec{"__this", f.schema, 0, -1}};
  pre.query = "SELECT * FROM __this LIMIT " + std::to_string(n);
  pre.output = f.schema;
  Program reduce = pre;
  return internal_sql::Shuffled(f.session, {&f}, {pre}, {{}}, false, 1, std::move(reduce));
}

DataFrame DataFrame::distinct() const {
  const FrameImpl& f = impl();
  Program pre;
  pre.tables = {TableSpec{"__this", f.schema, 0, -1}};
  pre.query = "SELECT DISTINCT * FROM __this";
  pre.output = f.schema;
  Program reduce = pre;
  const int n = internal_sql::ShufflePartitions(*f.session, {f.Ref()});
  return internal_sql::Shuffled(f.session, {&f}, {pre}, {{}}, true, n, std::move(reduce));
}

DataFrame DataFrame::union_(const DataFrame& other) const {
  const FrameImpl& a = impl();
  const FrameImpl& b = other.impl();
  if (a.schema.size() != b.schema.size()) {
    throw EmberError("union: the frames have " + std::to_string(a.schema.size()) + " and " +
                     std::to_string(b.schema.size()) +
                     " columns; union needs the same number (by position)");
  }
  std::vector<StructField> fields = a.schema.fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].dataType != b.schema[i].dataType) fields[i].dataType = DataType::kNull;
    fields[i].nullable = fields[i].nullable || b.schema[i].nullable;
  }
  auto f = internal_sql::NewFrame(a.session, StructType(std::move(fields)));
  f->rdd = ember::internal::MakeUnionRdd({a.Ref(), b.Ref()});
  return DataFrame(f);
}

std::vector<Row> DataFrame::collect() const {
  const FrameImpl& f = impl();
  if (f.local) return *f.local;
  return ember::internal::DecodeResults<Row>(ember::internal::RunJob(
      ref(),
      std::make_shared<ember::internal::CollectOp<Row, ember::internal::EmptyStack<Row>>>()));
}

std::vector<Row> DataFrame::take(int64_t n) const {
  const FrameImpl& f = impl();
  if (f.local) {
    return std::vector<Row>(
        f.local->begin(),
        f.local->begin() + std::min<int64_t>(std::max<int64_t>(n, 0), f.local->size()));
  }
  return Rdd<Row>(ref()).take(n);
}

Row DataFrame::first() const {
  auto rows = take(1);
  if (rows.empty()) throw EmberError("first: the DataFrame is empty");
  return rows[0];
}

int64_t DataFrame::count() const {
  const FrameImpl& f = impl();
  if (f.local) return static_cast<int64_t>(f.local->size());
  int64_t total = 0;
  for (const std::string& bytes :
       ember::internal::RunJob(ref(), ember::internal::CountResultOp())) {
    uint64_t n = 0;
    if (!DecodeFromString(bytes, &n)) throw EmberError("malformed count result");
    total += static_cast<int64_t>(n);
  }
  return total;
}

std::string DataFrame::showString(int n, int truncate) const {
  std::vector<Row> rows = take(static_cast<int64_t>(std::max(0, n)) + 1);
  return internal_sql::ShowString(impl().schema, rows, n, truncate);
}

void DataFrame::show(int n, int truncate) const {
  ember::internal::EmitOutput(impl().session->ctx, showString(n, truncate) + "\n");
}

namespace {
void AddView(const DataFrame& frame, const std::string& name, bool replace) {
  if (name.empty()) throw EmberError("createTempView: the view needs a name");
  SessionImpl& s = *frame.impl().session;
  const std::string key = internal_sql::CatalogName(name);
  absl::MutexLock lock(&s.mu);
  if (!replace && s.views.count(key) > 0) {
    throw EmberError("Temporary view '" + name + "' already exists");
  }
  s.views[key] = frame;
}
}  // namespace

void DataFrame::createOrReplaceTempView(const std::string& name) const {
  AddView(*this, name, true);
}
void DataFrame::createTempView(const std::string& name) const { AddView(*this, name, false); }
void DataFrame::createGlobalTempView(const std::string& name) const {
  AddView(*this, "global_temp." + name, false);
}
void DataFrame::createOrReplaceGlobalTempView(const std::string& name) const {
  AddView(*this, "global_temp." + name, true);
}

// ----------------------------------------------------------------------------- GroupedData

DataFrame GroupedData::agg(const std::vector<Aggregate>& aggregates) const {
  const FrameImpl& f = frame_.impl();
  const StructType& in = f.schema;
  std::vector<int32_t> key_index;
  std::vector<std::string> partial_items, final_items;
  std::vector<StructField> partial_fields, final_fields;
  for (const auto& k : keys_) {
    const int i = internal_sql::ColumnIndex(in, k, "groupBy");
    key_index.push_back(static_cast<int32_t>(key_index.size()));
    const std::string q = internal_sql::Quote(in[i].name);
    partial_items.push_back(q);
    final_items.push_back(q);
    partial_fields.push_back(in[i]);
    final_fields.push_back(in[i]);
  }
  const bool global = keys_.empty();
  int next = 0;
  for (const Aggregate& a : aggregates) {
    const std::string fn = text::Lower(a.function);
    const bool star = a.column == "*";
    DataType type = DataType::kNull;
    std::string col = "*";
    std::string shown = "1";
    if (!star) {
      const int i = internal_sql::ColumnIndex(in, a.column, "agg");
      type = in[i].dataType;
      col = internal_sql::Quote(in[i].name);
      shown = in[i].name;
    }
    if (star && fn != "count")
      throw EmberError("agg: " + fn + "(*) is not an aggregate; use a column");
    const std::string name = !a.name.empty() ? a.name : fn + "(" + shown + ")";
    const std::string p = "__p" + std::to_string(next++);
    const std::string qp = internal_sql::Quote(p);
    auto integral =
        type == DataType::kInt || type == DataType::kBigint || type == DataType::kBoolean;
    DataType sum_type = integral ? DataType::kBigint
                        : (type == DataType::kFloat || type == DataType::kDouble)
                            ? DataType::kDouble
                            : DataType::kNull;
    if (fn == "count") {
      partial_items.push_back("count(" + col + ") AS " + qp);
      partial_fields.push_back({p, DataType::kBigint, false});
      final_items.push_back((global ? "coalesce(sum(" + qp + "), 0)" : "sum(" + qp + ")") + " AS " +
                            internal_sql::Quote(name));
      final_fields.push_back({name, DataType::kBigint, false});
    } else if (fn == "sum") {
      partial_items.push_back("sum(" + col + ") AS " + qp);
      partial_fields.push_back({p, sum_type, true});
      final_items.push_back("sum(" + qp + ") AS " + internal_sql::Quote(name));
      final_fields.push_back({name, sum_type, true});
    } else if (fn == "min" || fn == "max") {
      partial_items.push_back(fn + "(" + col + ") AS " + qp);
      partial_fields.push_back({p, type, true});
      final_items.push_back(fn + "(" + qp + ") AS " + internal_sql::Quote(name));
      final_fields.push_back({name, type, true});
    } else if (fn == "avg" || fn == "mean") {
      const std::string pn = "__p" + std::to_string(next++);
      const std::string qn = internal_sql::Quote(pn);
      partial_items.push_back("sum(" + col + ") AS " + qp);
      partial_items.push_back("count(" + col + ") AS " + qn);
      partial_fields.push_back(
          {p, sum_type == DataType::kNull ? DataType::kDouble : sum_type, true});
      partial_fields.push_back({pn, DataType::kBigint, false});
      final_items.push_back("CAST(sum(" + qp + ") AS REAL) / sum(" + qn + ") AS " +
                            internal_sql::Quote(name));
      final_fields.push_back({name, DataType::kDouble, true});
    } else {
      throw EmberError("agg: unknown aggregate function '" + a.function +
                       "' (count, sum, avg, mean, min, max)");
    }
  }
  std::string group_by;
  if (!global) {
    std::vector<std::string> ks(partial_items.begin(), partial_items.begin() + keys_.size());
    group_by = " GROUP BY " + absl::StrJoin(ks, ", ");
  }
  Program pre;
  pre.tables = {TableSpec{"__this", in, 0, -1}};
  pre.query = "SELECT " + absl::StrJoin(partial_items, ", ") + " FROM __this" + group_by;
  pre.output = StructType(partial_fields);
  internal_sql::CheckProgram(pre);
  Program reduce;
  reduce.tables = {TableSpec{"__this", pre.output, 0, -1}};
  reduce.query = "SELECT " + absl::StrJoin(final_items, ", ") + " FROM __this" + group_by;
  reduce.output = StructType(final_fields);
  internal_sql::CheckProgram(reduce);
  const int n = global ? 1 : internal_sql::ShufflePartitions(*f.session, {f.Ref()});
  return internal_sql::Shuffled(f.session, {&f}, {pre}, {key_index}, false, n, std::move(reduce));
}

DataFrame GroupedData::agg(const std::map<std::string, std::string>& column_functions) const {
  std::vector<Aggregate> aggs;
  for (const auto& [column, fn] : column_functions) aggs.push_back({fn, column, ""});
  return agg(aggs);
}

DataFrame GroupedData::count() const { return agg({Aggregate{"count", "*", "count"}}); }

namespace {
std::vector<Aggregate> Each(const std::string& fn, const std::vector<std::string>& columns) {
  std::vector<Aggregate> out;
  for (const auto& c : columns) out.push_back({fn, c, ""});
  return out;
}
}  // namespace

DataFrame GroupedData::sum(const std::vector<std::string>& c) const { return agg(Each("sum", c)); }
DataFrame GroupedData::avg(const std::vector<std::string>& c) const { return agg(Each("avg", c)); }
DataFrame GroupedData::min(const std::vector<std::string>& c) const { return agg(Each("min", c)); }
DataFrame GroupedData::max(const std::vector<std::string>& c) const { return agg(Each("max", c)); }

}  // namespace sql
}  // namespace ember
