#pragma once
// The SQL engine under ember::sql: SQLite, one in-memory database per task (and one per
// check on the driver). A Program names the tables a task loads (from its inputs or from
// broadcasts), the query over them, and the types of the rows it returns.

#include <cctype>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/sql.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ember {
namespace sql {
namespace internal_sql {

// Text helpers on std::string_view (Debian's Abseil has a string_view of its own).
namespace text {
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
inline std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}
inline bool IStartsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && IEquals(s.substr(0, p.size()), p);
}
inline bool IEndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && IEquals(s.substr(s.size() - p.size()), p);
}
inline bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
inline bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
}  // namespace text

// A table of a program: rows from the op's input `input` (a partition, or a shuffled parent),
// or from broadcast `broadcast` (a std::vector<Row>).
struct TableSpec {
  std::string name;  // "newdata", or "global_temp.name"
  StructType schema;
  int32_t input = -1;
  int64_t broadcast = -1;

  void serialize(Writer& w) const;
  bool deserialize(Reader& r);
};

struct Program {
  std::vector<TableSpec> tables;
  std::string query;
  // The result's columns; a column typed kNull keeps each value's SQLite type (an integer is
  // a bigint, a real a double, text a string, a blob a binary).
  StructType output;

  void serialize(Writer& w) const;
  bool deserialize(Reader& r);
};

// What a check of a query on the driver learns.
struct QueryShape {
  StructType output;                // names, types where SQLite declares them (else kNull)
  std::vector<std::string> tables;  // the tables it reads, lower case, "global_temp.x" form
};

// An in-memory SQLite database.
class Database {
 public:
  Database();
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void CreateTable(const std::string& name, const StructType& schema);
  // A virtual table over `rows` (which must outlive the database), read in place: no copy,
  // and a hash index built on first use for each column a query looks up by equality
  // (kept for the process when `shared_key` >= 0: a broadcast's id).
  void AttachRows(const std::string& name, const StructType& schema, const std::vector<Row>* rows,
                  int64_t shared_key = -1);
  void Insert(const std::string& name, const StructType& schema, const std::vector<Row>& rows);
  // Prepares `query` only: EmberError with SQLite's message and the query when it is not
  // one valid read-only statement over the tables created so far.
  QueryShape Check(const std::string& query);
  std::vector<Row> Run(const std::string& query, const StructType& output);

  struct Source;  // an attached table's rows

 private:
  sqlite3_stmt* Prepare(const std::string& query, std::vector<std::string>* tables);
  void Exec(const std::string& statement);
  sqlite3* db_ = nullptr;
  std::vector<std::unique_ptr<Source>> sources_;
};

// Runs `program` over `inputs` (indexed by TableSpec::input) in a fresh database.
std::vector<Row> RunProgram(const Program& program,
                            const std::vector<const std::vector<Row>*>& inputs);

// "name" with its quotes doubled; "global_temp"."name" for a global view's.
std::string QuoteName(const std::string& name);
// The declared SQL type Ember gives a column of `type` (its affinity keeps values as they are).
const char* DeclaredType(DataType type);
// The type one of Ember's declared SQL types names; kNull for none (an expression's column).
DataType TypeOfDeclared(const std::string& declared);
// A lower-case name for the catalog ("global_temp.x" stays qualified).
std::string CatalogName(const std::string& name);

}  // namespace internal_sql
}  // namespace sql
}  // namespace ember

namespace ember {
namespace sql {
namespace internal_sql {

// Spark's showString over the first rows of a frame (`rows` may hold one more than `n`: then
// "only showing top n rows" follows the table).
std::string ShowString(const StructType& schema, const std::vector<Row>& rows, int n, int truncate);

// A table of a SQLite database file: its rows, and its columns into `schema` (read by their
// declared types) unless `schema` already names the columns to read.
std::vector<Row> ReadSqliteTable(const std::string& path, const std::string& table,
                                 StructType* schema);

}  // namespace internal_sql
}  // namespace sql
}  // namespace ember
