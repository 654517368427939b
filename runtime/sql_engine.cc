#include "runtime/sql_engine.h"

#include <sqlite3.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/broadcast.h"

namespace ember {
namespace sql {
namespace text = internal_sql::text;

// ----------------------------------------------------------------------- dates and times

namespace {
bool Digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}
bool ValidDay(int64_t y, int64_t m, int64_t d) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}
}  // namespace

bool ParseDate(std::string_view s, Date* out) {
  s = text::Trim(s);
  int64_t y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !Digits(s, 0, 4, &y) ||
      !Digits(s, 5, 2, &m) || !Digits(s, 8, 2, &d) || !ValidDay(y, m, d)) {
    return false;
  }
  out->days = internal_sql::DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

bool ParseTimestamp(std::string_view s, Timestamp* out) {
  s = text::Trim(s);
  Date date;
  if (s.size() < 10 || !ParseDate(s.substr(0, 10), &date)) return false;
  int64_t micros = static_cast<int64_t>(date.days) * 86400000000LL;
  if (s.size() > 10) {
    int64_t h, mi, sec = 0;
    if ((s[10] != ' ' && s[10] != 'T') || s.size() < 16 || s[13] != ':' || !Digits(s, 11, 2, &h) ||
        !Digits(s, 14, 2, &mi) || h > 23 || mi > 59) {
      return false;
    }
    size_t pos = 16;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &sec) || sec > 59) return false;
      pos += 3;
    }
    int64_t frac = 0;
    if (pos < s.size() && s[pos] == '.') {
      size_t n = 0;
      for (++pos; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos, ++n) {
        if (n < 6) frac = frac * 10 + (s[pos] - '0');
      }
      if (n == 0) return false;
      for (; n < 6; ++n) frac *= 10;
    }
    if (pos < s.size() && s[pos] == 'Z') ++pos;
    if (pos != s.size()) return false;
    micros += ((h * 60 + mi) * 60 + sec) * 1000000 + frac;
  }
  out->micros = micros;
  return true;
}

// ---------------------------------------------------------------------------------- schema

namespace {
// The type a DDL or declared type names; kNull when unknown.
DataType TypeOfName(std::string name) {
  name = text::Lower(text::Trim(name));
  if (auto paren = name.find('('); paren != std::string::npos) {
    if (name.back() != ')') return DataType::kNull;
    name = std::string(text::Trim(name.substr(0, paren)));
  }
  if (name == "boolean" || name == "bool") return DataType::kBoolean;
  if (name == "int" || name == "integer") return DataType::kInt;
  if (name == "bigint" || name == "long") return DataType::kBigint;
  if (name == "float" || name == "real") return DataType::kFloat;
  if (name == "double" || name == "double precision") return DataType::kDouble;
  if (name == "string" || name == "varchar" || name == "char" || name == "text") {
    return DataType::kString;
  }
  if (name == "binary" || name == "blob") return DataType::kBinary;
  if (name == "date") return DataType::kDate;
  if (name == "timestamp") return DataType::kTimestamp;
  return DataType::kNull;
}
}  // namespace

StructType StructType::fromDDL(const std::string& ddl) {
  StructType out;
  std::string_view text = text::Trim(ddl);
  // Spark also takes "struct<a:int,b:string>".
  if (text::IStartsWith(text, "struct<") && text::EndsWith(text, ">")) {
    text = text.substr(7, text.size() - 8);
  }
  if (text.empty()) throw EmberError("schema: empty DDL string");
  // Commas inside parentheses (decimal(10,2), varchar(5)) do not split fields.
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  parts.push_back(cur);
  for (const std::string& raw : parts) {
    std::string_view part = text::Trim(raw);
    std::string name, type;
    size_t colon = part.find(':');
    size_t space = part.find_first_of(" \t");
    if (colon != std::string_view::npos && (space == std::string_view::npos || colon < space)) {
      name = std::string(text::Trim(part.substr(0, colon)));
      type = std::string(text::Trim(part.substr(colon + 1)));
    } else if (space != std::string_view::npos) {
      name = std::string(part.substr(0, space));
      type = std::string(text::Trim(part.substr(space + 1)));
    } else {
      throw EmberError("schema: \"" + std::string(part) + "\" in \"" + ddl +
                       "\" is not `name type` or `name:type`");
    }
    if (name.size() >= 2 && name.front() == '`' && name.back() == '`') {
      name = name.substr(1, name.size() - 2);
    }
    bool nullable = true;
    std::string lower = text::Lower(type);
    if (text::EndsWith(lower, "not null")) {
      nullable = false;
      type = std::string(text::Trim(type.substr(0, type.size() - 8)));
    }
    if (name.empty()) throw EmberError("schema: a field of \"" + ddl + "\" has no name");
    DataType t = TypeOfName(type);
    if (t == DataType::kNull) {
      throw EmberError("schema: unknown type \"" + type + "\" of field " + name + " in \"" + ddl +
                       "\" (boolean, int, bigint, float, double, string, binary, date, "
                       "timestamp)");
    }
    if (out.indexOf(name) >= 0) {
      throw EmberError("schema: field " + name + " appears twice in \"" + ddl + "\"");
    }
    out.add(name, t, nullable);
  }
  return out;
}

int StructType::indexOf(const std::string& name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (text::IEquals(fields_[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

namespace internal_sql {

namespace {
[[noreturn]] void Misfit(const Value& v, const StructType& schema, size_t i,
                         const std::string& why) {
  std::string shown = v.toString();
  if (v.type() == DataType::kString) shown = "\"" + shown + "\"";
  throw EmberError("createDataFrame: column " + schema[i].name + " (" +
                   SimpleName(schema[i].dataType) + ") cannot hold " + shown + " (" +
                   SimpleName(v.type()) + ")" + (why.empty() ? "" : ": " + why));
}
}  // namespace

Value Conform(const Value& v, const StructType& schema, size_t i) {
  const StructField& f = schema[i];
  if (v.isNull()) {
    if (!f.nullable) Misfit(v, schema, i, "the column is not nullable");
    return v;
  }
  const DataType want = f.dataType;
  if (v.type() == want) return v;
  switch (want) {
    case DataType::kInt:
      if (v.type() == DataType::kBigint) {
        if (v.int64() < std::numeric_limits<int32_t>::min() ||
            v.int64() > std::numeric_limits<int32_t>::max()) {
          Misfit(v, schema, i, "out of the int range");
        }
        return Value::Int(static_cast<int32_t>(v.int64()));
      }
      break;
    case DataType::kBigint:
      if (v.type() == DataType::kInt) return Value::Bigint(v.int64());
      break;
    case DataType::kFloat:
      if (v.isNumeric() && v.type() != DataType::kBoolean) {
        return Value::Float(static_cast<float>(v.asDouble()));
      }
      break;
    case DataType::kDouble:
      if (v.isNumeric() && v.type() != DataType::kBoolean) return Value::Double(v.asDouble());
      break;
    case DataType::kDate:
      if (v.type() == DataType::kString) {
        Date d;
        if (ParseDate(v.bytes(), &d)) return Value::OfDate(d);
        Misfit(v, schema, i, "not a yyyy-MM-dd date");
      }
      break;
    case DataType::kTimestamp:
      if (v.type() == DataType::kString) {
        Timestamp t;
        if (ParseTimestamp(v.bytes(), &t)) return Value::OfTimestamp(t);
        Misfit(v, schema, i, "not a yyyy-MM-dd HH:mm:ss timestamp");
      }
      if (v.type() == DataType::kDate) {
        return Value::OfTimestamp(Timestamp{v.int64() * 86400000000LL});
      }
      break;
    default:
      break;
  }
  Misfit(v, schema, i, "");
}

Row RowFromCodecBytes(std::string_view bytes, const StructType& schema) {
  Reader r(bytes);
  std::vector<Value> values;
  values.reserve(schema.size());
  for (size_t i = 0; i < schema.size(); ++i) {
    bool ok = false;
    switch (schema[i].dataType) {
      case DataType::kBoolean: {
        bool b = false;
        ok = Decode(r, &b);
        values.push_back(Value::Boolean(b));
        break;
      }
      case DataType::kInt:
      case DataType::kDate: {
        int32_t x = 0;
        ok = Decode(r, &x);
        values.push_back(schema[i].dataType == DataType::kInt ? Value::Int(x)
                                                              : Value::OfDate(Date{x}));
        break;
      }
      case DataType::kBigint:
      case DataType::kTimestamp: {
        int64_t x = 0;
        ok = Decode(r, &x);
        values.push_back(schema[i].dataType == DataType::kBigint
                             ? Value::Bigint(x)
                             : Value::OfTimestamp(Timestamp{x}));
        break;
      }
      case DataType::kFloat: {
        float x = 0;
        ok = Decode(r, &x);
        values.push_back(Value::Float(x));
        break;
      }
      case DataType::kDouble: {
        double x = 0;
        ok = Decode(r, &x);
        values.push_back(Value::Double(x));
        break;
      }
      case DataType::kString: {
        std::string x;
        ok = Decode(r, &x);
        values.push_back(Value::String(std::move(x)));
        break;
      }
      case DataType::kBinary: {
        Bytes x;
        ok = Decode(r, &x);
        values.push_back(Value::Binary(x));
        break;
      }
      case DataType::kNull:
        break;
    }
    if (!ok) {
      throw EmberError("createDataFrame: a record's encoding does not hold column " +
                       schema[i].name + " (" + SimpleName(schema[i].dataType) +
                       "): its codec must write its fields in the schema's order and types");
    }
  }
  if (!r.done()) {
    throw EmberError("createDataFrame: a record's encoding holds more than the schema " +
                     schema.simpleString() + " reads");
  }
  return Row(std::move(values));
}

// --------------------------------------------------------------------------------- programs

void TableSpec::serialize(Writer& w) const {
  Encode(name, w);
  schema.serialize(w);
  Encode(input, w);
  Encode(broadcast, w);
}
bool TableSpec::deserialize(Reader& r) {
  return Decode(r, &name) && schema.deserialize(r) && Decode(r, &input) && Decode(r, &broadcast);
}
void Program::serialize(Writer& w) const {
  Encode(tables, w);
  Encode(query, w);
  output.serialize(w);
}
bool Program::deserialize(Reader& r) {
  return Decode(r, &tables) && Decode(r, &query) && output.deserialize(r);
}

std::string CatalogName(const std::string& name) {
  std::string lower = text::Lower(text::Trim(name));
  return lower;
}

namespace {
std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}
constexpr std::string_view kGlobal = "global_temp.";
}  // namespace

std::string QuoteName(const std::string& name) {
  if (text::IStartsWith(name, kGlobal)) {
    return "\"global_temp\"." + QuoteIdent(std::string_view(name).substr(kGlobal.size()));
  }
  return QuoteIdent(name);
}

const char* DeclaredType(DataType type) {
  // Each name has the affinity that keeps what Ember binds: INT..., REAL (FLOAT, DOUBLE: "FLOA",
  // "DOUB"), TEXT, BLOB; BOOLEAN, DATE and TIMESTAMP have NUMERIC affinity, which leaves the
  // 0/1 and the date texts Ember binds as they are.
  switch (type) {
    case DataType::kBoolean:
      return "BOOLEAN";
    case DataType::kInt:
      return "INT";
    case DataType::kBigint:
      return "BIGINT";
    case DataType::kFloat:
      return "FLOAT";
    case DataType::kDouble:
      return "DOUBLE";
    case DataType::kString:
      return "TEXT";
    case DataType::kBinary:
      return "BLOB";
    case DataType::kDate:
      return "DATE";
    case DataType::kTimestamp:
      return "TIMESTAMP";
    case DataType::kNull:
      return "";
  }
  return "";
}

DataType TypeOfDeclared(const std::string& declared) { return TypeOfName(declared); }

// --------------------------------------------------------------------------------- database

namespace {
[[noreturn]] void Fail(sqlite3* db, const std::string& what) {
  throw EmberError(what + ": " + sqlite3_errmsg(db));
}

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

// Only reads: a job's query never writes, attaches, or changes the engine's settings.
int Authorize(void* user, int action, const char* a, const char* b, const char* db, const char*) {
  auto* tables = static_cast<std::vector<std::string>*>(user);
  switch (action) {
    case SQLITE_READ:
      if (tables != nullptr && a != nullptr) {
        std::string name = text::Lower(a);
        if (db != nullptr && text::IEquals(db, "global_temp")) {
          name = "global_temp." + name;
        }
        bool seen = false;
        for (const auto& t : *tables) seen = seen || t == name;
        if (!seen && !text::StartsWith(name, "sqlite_")) tables->push_back(name);
      }
      return SQLITE_OK;
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default:
      return SQLITE_DENY;
  }
}

void Bind(sqlite3_stmt* stmt, int col, const Value& v) {
  switch (v.type()) {
    case DataType::kNull:
      sqlite3_bind_null(stmt, col);
      break;
    case DataType::kBoolean:
    case DataType::kInt:
    case DataType::kBigint:
      sqlite3_bind_int64(stmt, col, v.int64());
      break;
    case DataType::kFloat:
    case DataType::kDouble:
      sqlite3_bind_double(stmt, col, v.float64());
      break;
    case DataType::kString:
      sqlite3_bind_text(stmt, col, v.bytes().data(), static_cast<int>(v.bytes().size()),
                        SQLITE_STATIC);
      break;
    case DataType::kBinary:
      sqlite3_bind_blob(stmt, col, v.bytes().data(), static_cast<int>(v.bytes().size()),
                        SQLITE_STATIC);
      break;
    case DataType::kDate:
    case DataType::kTimestamp: {
      std::string text = v.toString();
      sqlite3_bind_text(stmt, col, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      break;
    }
  }
}

std::string_view Text(sqlite3_stmt* stmt, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return std::string_view(p == nullptr ? "" : p,
                          static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

Value Read(sqlite3_stmt* stmt, int col, DataType want) {
  const int st = sqlite3_column_type(stmt, col);
  if (st == SQLITE_NULL) return Value::Null();
  switch (want) {
    case DataType::kNull:
      switch (st) {
        case SQLITE_INTEGER:
          return Value::Bigint(sqlite3_column_int64(stmt, col));
        case SQLITE_FLOAT:
          return Value::Double(sqlite3_column_double(stmt, col));
        case SQLITE_BLOB: {
          const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, col));
          return Value::Binary(Bytes(p, p + sqlite3_column_bytes(stmt, col)));
        }
        default:
          return Value::String(std::string(Text(stmt, col)));
      }
    case DataType::kBoolean:
      if (st == SQLITE_TEXT) {
        std::string t = text::Lower(Text(stmt, col));
        if (t == "true" || t == "false") return Value::Boolean(t == "true");
        return Value::Null();
      }
      return Value::Boolean(sqlite3_column_double(stmt, col) != 0);
    case DataType::kInt:
    case DataType::kBigint: {
      int64_t v;
      if (st == SQLITE_INTEGER) {
        v = sqlite3_column_int64(stmt, col);
      } else if (st == SQLITE_FLOAT) {
        const double d = sqlite3_column_double(stmt, col);
        if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return Value::Null();
        v = static_cast<int64_t>(d);
      } else if (!absl::SimpleAtoi(std::string(Text(stmt, col)), &v)) {
        return Value::Null();
      }
      if (want == DataType::kInt) {
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
          return Value::Bigint(v);  // SQL arithmetic left the int range: keep the value
        }
        return Value::Int(static_cast<int32_t>(v));
      }
      return Value::Bigint(v);
    }
    case DataType::kFloat:
    case DataType::kDouble: {
      double d;
      if (st == SQLITE_TEXT) {
        if (!absl::SimpleAtod(std::string(Text(stmt, col)), &d)) return Value::Null();
      } else {
        d = sqlite3_column_double(stmt, col);
      }
      return want == DataType::kFloat ? Value::Float(static_cast<float>(d)) : Value::Double(d);
    }
    case DataType::kString:
      if (st == SQLITE_FLOAT)
        return Value::String(Value::Double(sqlite3_column_double(stmt, col)).toString());
      return Value::String(std::string(Text(stmt, col)));
    case DataType::kBinary: {
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, col));
      return Value::Binary(Bytes(p, p + sqlite3_column_bytes(stmt, col)));
    }
    case DataType::kDate: {
      Date d;
      if (st == SQLITE_TEXT && ParseDate(Text(stmt, col).substr(0, 10), &d)) {
        return Value::OfDate(d);
      }
      return Value::Null();
    }
    case DataType::kTimestamp: {
      Timestamp t;
      if (st == SQLITE_TEXT && ParseTimestamp(Text(stmt, col), &t)) return Value::OfTimestamp(t);
      return Value::Null();
    }
  }
  return Value::Null();
}
}  // namespace

// ------------------------------------------------------------------------- virtual tables

// A table over rows in memory (SQLite's virtual table interface): scanned in place, and
// probed by equality through hash indexes built on first use.
struct Database::Source {
  StructType schema;
  const std::vector<Row>* rows = nullptr;
  int64_t shared_key = -1;
};

namespace {

// Row numbers by the stable hash of one column's values (NULLs left out: they equal nothing).
using ColumnIndex = std::unordered_map<uint64_t, std::vector<uint32_t>>;

std::shared_ptr<const ColumnIndex> BuildIndex(const std::vector<Row>& rows, int column) {
  auto index = std::make_shared<ColumnIndex>();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Value& v = rows[i].get(column);
    if (!v.isNull()) (*index)[v.StableHashValue()].push_back(static_cast<uint32_t>(i));
  }
  return index;
}

// Broadcasts' indexes, kept for the process: a broadcast's rows never change.
std::shared_ptr<const ColumnIndex> SharedIndex(int64_t key, const std::vector<Row>& rows,
                                               int column) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<std::pair<int64_t, int>, std::shared_ptr<const ColumnIndex>>();
  absl::MutexLock lock(&mu);
  auto& slot = (*cache)[{key, column}];
  if (slot == nullptr) slot = BuildIndex(rows, column);
  return slot;
}

struct RowsVtab {
  sqlite3_vtab base{};
  Database::Source* source = nullptr;
  std::vector<std::shared_ptr<const ColumnIndex>> indexes;  // by column, built on first use
};

struct RowsCursor {
  sqlite3_vtab_cursor base{};
  const std::vector<Row>* rows = nullptr;
  std::vector<uint32_t> matches;  // a lookup's rows
  bool lookup = false;
  size_t pos = 0;
  size_t Index() const { return lookup ? matches[pos] : pos; }
  bool AtEnd() const { return lookup ? pos >= matches.size() : pos >= rows->size(); }
};

int RowsConnect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
                char** err) {
  auto* sources = static_cast<std::vector<std::unique_ptr<Database::Source>>*>(aux);
  size_t i = 0;
  if (argc < 4 || !absl::SimpleAtoi(argv[3], &i) || i >= sources->size()) {
    *err = sqlite3_mprintf("ember_rows: bad source");
    return SQLITE_ERROR;
  }
  Database::Source* source = (*sources)[i].get();
  std::vector<std::string> columns;
  for (const auto& f : source->schema.fields()) {
    std::string quoted = "\"";
    for (char c : f.name) {
      if (c == '"') quoted.push_back('"');
      quoted.push_back(c);
    }
    columns.push_back(quoted + "\" " + DeclaredType(f.dataType));
  }
  const std::string ddl = "CREATE TABLE x(" + absl::StrJoin(columns, ", ") + ")";
  const int rc = sqlite3_declare_vtab(db, ddl.c_str());
  if (rc != SQLITE_OK) return rc;
  auto* vtab = new RowsVtab();
  vtab->source = source;
  vtab->indexes.resize(source->schema.size());
  *out = &vtab->base;
  return SQLITE_OK;
}

int RowsDisconnect(sqlite3_vtab* vtab) {
  delete reinterpret_cast<RowsVtab*>(vtab);
  return SQLITE_OK;
}

int RowsBestIndex(sqlite3_vtab* vtab, sqlite3_index_info* info) {
  const auto* t = reinterpret_cast<RowsVtab*>(vtab);
  const double n = static_cast<double>(std::max<size_t>(1, t->source->rows->size()));
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable || c.iColumn < 0 || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    // A hash lookup compares bytes: only for the binary collation.
    const char* collation = sqlite3_vtab_collation(info, i);
    if (collation != nullptr && !text::IEquals(collation, "BINARY")) continue;
    info->aConstraintUsage[i].argvIndex = 1;
    info->aConstraintUsage[i].omit = 0;  // SQLite checks the rows a lookup gives again
    info->idxNum = c.iColumn + 1;
    info->estimatedCost = 20;
    info->estimatedRows = 4;
    return SQLITE_OK;
  }
  info->idxNum = 0;
  info->estimatedCost = n;
  info->estimatedRows = static_cast<sqlite3_int64>(n);
  return SQLITE_OK;
}

int RowsOpen(sqlite3_vtab* vtab, sqlite3_vtab_cursor** out) {
  auto* cursor = new RowsCursor();
  cursor->rows = reinterpret_cast<RowsVtab*>(vtab)->source->rows;
  *out = &cursor->base;
  return SQLITE_OK;
}

int RowsClose(sqlite3_vtab_cursor* cursor) {
  delete reinterpret_cast<RowsCursor*>(cursor);
  return SQLITE_OK;
}

// A probe value as a Value, when the column's values can be matched by hash: NULL matches
// nothing; a number probes a numeric column, text a text column; otherwise (SQLite would
// convert by affinity) nullopt: scan.
std::optional<Value> ProbeValue(sqlite3_value* v, DataType column) {
  const bool numeric = column == DataType::kBoolean || column == DataType::kInt ||
                       column == DataType::kBigint || column == DataType::kFloat ||
                       column == DataType::kDouble;
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
      return Value::Null();
    case SQLITE_INTEGER:
      if (numeric) return Value::Bigint(sqlite3_value_int64(v));
      return std::nullopt;
    case SQLITE_FLOAT:
      if (numeric) return Value::Double(sqlite3_value_double(v));
      return std::nullopt;
    case SQLITE_TEXT:
      if (column == DataType::kString) {
        return Value::String(std::string(reinterpret_cast<const char*>(sqlite3_value_text(v)),
                                         static_cast<size_t>(sqlite3_value_bytes(v))));
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

int RowsFilter(sqlite3_vtab_cursor* base, int idx_num, const char*, int argc,
               sqlite3_value** argv) {
  auto* cursor = reinterpret_cast<RowsCursor*>(base);
  auto* vtab = reinterpret_cast<RowsVtab*>(base->pVtab);
  cursor->pos = 0;
  cursor->lookup = false;
  cursor->matches.clear();
  if (idx_num <= 0 || argc < 1) return SQLITE_OK;
  const int column = idx_num - 1;
  std::optional<Value> probe = ProbeValue(argv[0], vtab->source->schema[column].dataType);
  if (!probe) return SQLITE_OK;  // a full scan; SQLite applies the constraint
  cursor->lookup = true;
  if (probe->isNull()) return SQLITE_OK;
  auto& index = vtab->indexes[column];
  if (index == nullptr) {
    index = vtab->source->shared_key >= 0
                ? SharedIndex(vtab->source->shared_key, *cursor->rows, column)
                : BuildIndex(*cursor->rows, column);
  }
  auto it = index->find(probe->StableHashValue());
  if (it == index->end()) return SQLITE_OK;
  for (uint32_t row : it->second) {
    if ((*cursor->rows)[row].get(column).Compare(*probe) == 0) cursor->matches.push_back(row);
  }
  return SQLITE_OK;
}

int RowsNext(sqlite3_vtab_cursor* cursor) {
  ++reinterpret_cast<RowsCursor*>(cursor)->pos;
  return SQLITE_OK;
}

int RowsEof(sqlite3_vtab_cursor* cursor) {
  return reinterpret_cast<RowsCursor*>(cursor)->AtEnd() ? 1 : 0;
}

int RowsColumn(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int column) {
  auto* cursor = reinterpret_cast<RowsCursor*>(base);
  const auto& row = (*cursor->rows)[cursor->Index()];
  if (static_cast<size_t>(column) >= row.size()) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  const Value& v = row.get(column);
  switch (v.type()) {
    case DataType::kNull:
      sqlite3_result_null(ctx);
      break;
    case DataType::kBoolean:
    case DataType::kInt:
    case DataType::kBigint:
      sqlite3_result_int64(ctx, v.int64());
      break;
    case DataType::kFloat:
    case DataType::kDouble:
      sqlite3_result_double(ctx, v.float64());
      break;
    case DataType::kString:
      sqlite3_result_text(ctx, v.bytes().data(), static_cast<int>(v.bytes().size()), SQLITE_STATIC);
      break;
    case DataType::kBinary:
      sqlite3_result_blob(ctx, v.bytes().data(), static_cast<int>(v.bytes().size()), SQLITE_STATIC);
      break;
    case DataType::kDate:
    case DataType::kTimestamp: {
      const std::string text = v.toString();
      sqlite3_result_text(ctx, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      break;
    }
  }
  return SQLITE_OK;
}

int RowsRowid(sqlite3_vtab_cursor* cursor, sqlite3_int64* rowid) {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<RowsCursor*>(cursor)->Index());
  return SQLITE_OK;
}

sqlite3_module RowsModule() {
  sqlite3_module m{};
  m.iVersion = 1;
  m.xCreate = &RowsConnect;
  m.xConnect = &RowsConnect;
  m.xBestIndex = &RowsBestIndex;
  m.xDisconnect = &RowsDisconnect;
  m.xDestroy = &RowsDisconnect;
  m.xOpen = &RowsOpen;
  m.xClose = &RowsClose;
  m.xFilter = &RowsFilter;
  m.xNext = &RowsNext;
  m.xEof = &RowsEof;
  m.xColumn = &RowsColumn;
  m.xRowid = &RowsRowid;
  return m;
}
const sqlite3_module kRowsModule = RowsModule();

}  // namespace

void Database::AttachRows(const std::string& name, const StructType& schema,
                          const std::vector<Row>* rows, int64_t shared_key) {
  auto source = std::make_unique<Source>();
  source->schema = schema;
  source->rows = rows;
  source->shared_key = shared_key;
  sources_.push_back(std::move(source));
  Exec(absl::StrCat("CREATE VIRTUAL TABLE ", QuoteName(name), " USING ember_rows(",
                    sources_.size() - 1, ")"));
}

Database::Database() {
  if (sqlite3_open_v2(":memory:", &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw EmberError("sql: cannot open an in-memory database: " + msg);
  }
  if (sqlite3_create_module_v2(db_, "ember_rows", &kRowsModule, &sources_, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_close(db_);
    throw EmberError("sql: cannot register Ember's row tables: " + msg);
  }
  Exec("PRAGMA journal_mode=OFF");
  Exec("PRAGMA synchronous=OFF");
  Exec("ATTACH DATABASE ':memory:' AS global_temp");
}

Database::~Database() { sqlite3_close(db_); }

void Database::Exec(const std::string& statement) {
  char* err = nullptr;
  if (sqlite3_exec(db_, statement.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw EmberError("sql: " + msg + " (in: " + statement + ")");
  }
}

void Database::CreateTable(const std::string& name, const StructType& schema) {
  std::vector<std::string> columns;
  for (const auto& f : schema.fields()) {
    columns.push_back(absl::StrCat(QuoteIdent(f.name), " ", DeclaredType(f.dataType)));
  }
  Exec(absl::StrCat("CREATE TABLE ", QuoteName(name), " (", absl::StrJoin(columns, ", "), ")"));
}

void Database::Insert(const std::string& name, const StructType& schema,
                      const std::vector<Row>& rows) {
  if (rows.empty()) return;
  std::string sql = absl::StrCat("INSERT INTO ", QuoteName(name), " VALUES (");
  for (size_t i = 0; i < schema.size(); ++i) absl::StrAppend(&sql, i ? ",?" : "?");
  sql += ")";
  Statement s;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.stmt, nullptr) != SQLITE_OK) {
    Fail(db_, "sql: loading table " + name);
  }
  Exec("BEGIN");
  for (const Row& row : rows) {
    if (row.size() != schema.size()) {
      Exec("ROLLBACK");
      throw EmberError("sql: a row of " + std::to_string(row.size()) + " columns in table " + name +
                       " of " + std::to_string(schema.size()));
    }
    for (size_t i = 0; i < row.size(); ++i) Bind(s.stmt, static_cast<int>(i + 1), row.get(i));
    if (sqlite3_step(s.stmt) != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(db_);
      Exec("ROLLBACK");
      throw EmberError("sql: loading table " + name + ": " + msg);
    }
    sqlite3_reset(s.stmt);
  }
  Exec("COMMIT");
}

sqlite3_stmt* Database::Prepare(const std::string& query, std::vector<std::string>* tables) {
  sqlite3_set_authorizer(db_, &Authorize, tables);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_, query.c_str(), static_cast<int>(query.size()), &stmt, &tail);
  sqlite3_set_authorizer(db_, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    if (rc == SQLITE_AUTH) msg = "only queries can run (SELECT, WITH, VALUES): " + msg;
    throw EmberError("SQL error: " + msg + "\n== SQL ==\n" + query);
  }
  if (stmt == nullptr) throw EmberError("SQL error: the query is empty\n== SQL ==\n" + query);
  std::string_view rest = tail != nullptr ? text::Trim(tail) : "";
  while (!rest.empty() && rest.front() == ';') rest = text::Trim(rest.substr(1));
  if (!rest.empty()) {
    sqlite3_finalize(stmt);
    throw EmberError("SQL error: one statement per query; this one goes on after its end: \"" +
                     std::string(rest.substr(0, 40)) + "\"\n== SQL ==\n" + query);
  }
  return stmt;
}

QueryShape Database::Check(const std::string& query) {
  QueryShape shape;
  Statement s;
  s.stmt = Prepare(query, &shape.tables);
  const int n = sqlite3_column_count(s.stmt);
  std::vector<StructField> fields;
  for (int i = 0; i < n; ++i) {
    StructField f;
    const char* name = sqlite3_column_name(s.stmt, i);
    f.name = name != nullptr ? name : absl::StrCat("_c", i);
    const char* decl = sqlite3_column_decltype(s.stmt, i);
    f.dataType = decl != nullptr ? TypeOfDeclared(decl) : DataType::kNull;
    fields.push_back(std::move(f));
  }
  shape.output = StructType(std::move(fields));
  return shape;
}

std::vector<Row> Database::Run(const std::string& query, const StructType& output) {
  Statement s;
  s.stmt = Prepare(query, nullptr);
  const int n = sqlite3_column_count(s.stmt);
  if (static_cast<size_t>(n) != output.size()) {
    throw EmberError("sql: the query returns " + std::to_string(n) + " columns, its plan " +
                     std::to_string(output.size()) + "\n== SQL ==\n" + query);
  }
  std::vector<Row> rows;
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    std::vector<Value> values;
    values.reserve(n);
    for (int i = 0; i < n; ++i) values.push_back(Read(s.stmt, i, output[i].dataType));
    rows.emplace_back(std::move(values));
  }
  if (rc != SQLITE_DONE) {
    throw EmberError(std::string("SQL error: ") + sqlite3_errmsg(db_) + "\n== SQL ==\n" + query);
  }
  return rows;
}

std::vector<Row> RunProgram(const Program& program,
                            const std::vector<const std::vector<Row>*>& inputs) {
  Database db;
  static const std::vector<Row> kNone;
  for (const TableSpec& t : program.tables) {
    if (t.input >= 0) {
      if (static_cast<size_t>(t.input) >= inputs.size()) {
        throw EmberError("sql: table " + t.name + " reads a missing input");
      }
      db.AttachRows(t.name, t.schema, inputs[t.input]);
    } else if (t.broadcast >= 0) {
      const auto* rows = static_cast<const std::vector<Row>*>(ember::internal::BroadcastValue(
          t.broadcast, &ember::internal::DecodeBroadcast<std::vector<Row>>));
      db.AttachRows(t.name, t.schema, rows, t.broadcast);
    } else {
      db.AttachRows(t.name, t.schema, &kNone);
    }
  }
  return db.Run(program.query, program.output);
}

// --------------------------------------------------------------------------- SQLite files

namespace {
// A column of a SQLite file by its declared type: SQLite's affinity rules (its integers are
// 64-bit, its reals double), with boolean, date and timestamp columns as such.
DataType FileColumnType(const std::string& declared) {
  std::string d = text::Lower(text::Trim(declared));
  if (auto paren = d.find('('); paren != std::string::npos)
    d = std::string(text::Trim(d.substr(0, paren)));
  if (d == "boolean" || d == "bool") return DataType::kBoolean;
  if (d == "date") return DataType::kDate;
  if (d == "timestamp" || d == "datetime") return DataType::kTimestamp;
  if (d.find("int") != std::string::npos) return DataType::kBigint;
  if (d.find("char") != std::string::npos || d.find("clob") != std::string::npos ||
      d.find("text") != std::string::npos || d == "string") {
    return DataType::kString;
  }
  if (d.find("real") != std::string::npos || d.find("floa") != std::string::npos ||
      d.find("doub") != std::string::npos) {
    return DataType::kDouble;
  }
  if (d.find("blob") != std::string::npos || d.empty())
    return d.empty() ? DataType::kNull : DataType::kBinary;
  return DataType::kNull;  // NUMERIC affinity: each value keeps its type
}
}  // namespace

std::vector<Row> ReadSqliteTable(const std::string& path, const std::string& table,
                                 StructType* schema) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw EmberError("read.sqlite: cannot open " + path + ": " + msg);
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> owner(db, &sqlite3_close);
  if (schema->size() == 0) {
    Statement info;
    const std::string pragma = "PRAGMA table_info(" + QuoteIdent(table) + ")";
    if (sqlite3_prepare_v2(db, pragma.c_str(), -1, &info.stmt, nullptr) != SQLITE_OK) {
      Fail(db, "read.sqlite: " + path);
    }
    while (sqlite3_step(info.stmt) == SQLITE_ROW) {
      std::string name(Text(info.stmt, 1));
      DataType t = FileColumnType(std::string(Text(info.stmt, 2)));
      const bool not_null = sqlite3_column_int(info.stmt, 3) != 0;
      schema->add(name, t, !not_null);
    }
    if (schema->size() == 0) {
      throw EmberError("read.sqlite: " + path + " has no table " + table);
    }
  }
  std::vector<std::string> columns;
  for (const auto& f : schema->fields()) columns.push_back(QuoteIdent(f.name));
  const std::string query = "SELECT " + absl::StrJoin(columns, ", ") + " FROM " + QuoteIdent(table);
  Statement s;
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &s.stmt, nullptr) != SQLITE_OK) {
    Fail(db, "read.sqlite: " + path + " (" + query + ")");
  }
  std::vector<Row> rows;
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    std::vector<Value> values;
    for (size_t i = 0; i < schema->size(); ++i) {
      values.push_back(Read(s.stmt, static_cast<int>(i), (*schema)[i].dataType));
    }
    rows.emplace_back(std::move(values));
  }
  if (rc != SQLITE_DONE) Fail(db, "read.sqlite: " + path);
  return rows;
}

}  // namespace internal_sql
}  // namespace sql
}  // namespace ember
