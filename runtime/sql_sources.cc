// DataFrameReader (common/sql.h): static data read on the driver, as Spark's readers read it.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/sql.h"
#include "nlohmann/json.hpp"
#include "runtime/sql_engine.h"

namespace ember {
namespace sql {
namespace text = internal_sql::text;

namespace {

enum class Mode { kPermissive, kDropMalformed, kFailFast };

std::string Option(const std::map<std::string, std::string>& options, const std::string& key,
                   const std::string& fallback) {
  for (const auto& [k, v] : options) {
    if (text::IEquals(k, key)) return v;
  }
  return fallback;
}

bool BoolOption(const std::map<std::string, std::string>& options, const std::string& key) {
  const std::string v = text::Lower(Option(options, key, "false"));
  if (v == "true") return true;
  if (v == "false") return false;
  throw EmberError("read: option " + key + " must be true or false, not \"" + v + "\"");
}

Mode ModeOption(const std::map<std::string, std::string>& options) {
  const std::string v = text::Upper(Option(options, "mode", "PERMISSIVE"));
  if (v == "PERMISSIVE") return Mode::kPermissive;
  if (v == "DROPMALFORMED") return Mode::kDropMalformed;
  if (v == "FAILFAST") return Mode::kFailFast;
  throw EmberError("read: mode must be PERMISSIVE, DROPMALFORMED or FAILFAST, not \"" + v + "\"");
}

// The files a path names: the file, or a directory's files (not those starting with '.' or
// '_', as Hadoop's readers skip them), in name order.
std::vector<std::string> InputFiles(const std::string& path, const char* reader) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec)) {
    throw EmberError(std::string(reader) + ": path does not exist: " + path);
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name[0] != '.' && name[0] != '_') files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const std::string& path, const char* reader) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EmberError(std::string(reader) + ": cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A field's text as a value of `type`; false when it is not one.
bool FromText(const std::string& text, DataType type, Value* out) {
  const std::string_view t = text::Trim(text);
  switch (type) {
    case DataType::kString:
    case DataType::kNull:
      *out = Value::String(text);
      return true;
    case DataType::kBoolean: {
      if (text::IEquals(t, "true"))
        *out = Value::Boolean(true);
      else if (text::IEquals(t, "false"))
        *out = Value::Boolean(false);
      else
        return false;
      return true;
    }
    case DataType::kInt: {
      int32_t v;
      if (!absl::SimpleAtoi(std::string(t), &v)) return false;
      *out = Value::Int(v);
      return true;
    }
    case DataType::kBigint: {
      int64_t v;
      if (!absl::SimpleAtoi(std::string(t), &v)) return false;
      *out = Value::Bigint(v);
      return true;
    }
    case DataType::kFloat:
    case DataType::kDouble: {
      double v;
      if (!absl::SimpleAtod(std::string(t), &v)) return false;
      *out = type == DataType::kFloat ? Value::Float(static_cast<float>(v)) : Value::Double(v);
      return true;
    }
    case DataType::kBinary:
      *out = Value::Binary(Bytes(text.begin(), text.end()));
      return true;
    case DataType::kDate: {
      Date d;
      if (!ParseDate(t, &d)) return false;
      *out = Value::OfDate(d);
      return true;
    }
    case DataType::kTimestamp: {
      Timestamp ts;
      if (!ParseTimestamp(t, &ts)) return false;
      *out = Value::OfTimestamp(ts);
      return true;
    }
  }
  return false;
}

// RFC 4180 records: `sep`-separated fields, `quote`-quoted ones may hold separators, line
// breaks and doubled quotes. Each record with the line it starts on.
std::vector<std::pair<int, std::vector<std::string>>> CsvRecords(const std::string& text, char sep,
                                                                 char quote) {
  std::vector<std::pair<int, std::vector<std::string>>> out;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, start = 1;
  size_t i = 0;
  auto end_record = [&] {
    fields.push_back(std::move(field));
    field.clear();
    const bool blank = fields.size() == 1 && fields[0].empty() && !any;
    if (!blank) out.emplace_back(start, std::move(fields));
    fields.clear();
    any = false;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (quoted) {
      if (c == quote && i + 1 < text.size() && text[i + 1] == quote) {
        field.push_back(quote);
        i += 2;
        continue;
      }
      if (c == quote) {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      ++i;
      continue;
    }
    if (c == quote && field.empty()) {
      quoted = true;
      any = true;
    } else if (c == sep) {
      fields.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // \r\n ends the record at the \n
    } else if (c == '\n') {
      end_record();
      start = ++line;
    } else {
      field.push_back(c);
    }
    ++i;
  }
  if (!field.empty() || !fields.empty() || any) end_record();
  return out;
}

}  // namespace

DataFrame DataFrameReader::csv(const std::string& path) const {
  const bool header = BoolOption(options_, "header");
  const std::string sep_text = Option(options_, "sep", Option(options_, "delimiter", ","));
  const std::string quote_text = Option(options_, "quote", "\"");
  const std::string null_value = Option(options_, "nullValue", "");
  const Mode mode = ModeOption(options_);
  if (sep_text.size() != 1 || quote_text.size() != 1) {
    throw EmberError("read.csv: sep and quote must be one character each");
  }
  std::optional<StructType> schema = schema_;
  std::vector<Row> rows;
  for (const std::string& file : InputFiles(path, "read.csv")) {
    auto records = CsvRecords(ReadFile(file, "read.csv"), sep_text[0], quote_text[0]);
    size_t first = 0;
    if (header && !records.empty()) {
      first = 1;
      if (!schema) {
        StructType s;
        for (size_t i = 0; i < records[0].second.size(); ++i) {
          std::string name = records[0].second[i];
          if (name.empty() || name == null_value) name = "_c" + std::to_string(i);
          s.add(name, DataType::kString);
        }
        schema = s;
      }
    }
    for (size_t r = first; r < records.size(); ++r) {
      const auto& [line, fields] = records[r];
      if (!schema) {
        StructType s;
        for (size_t i = 0; i < fields.size(); ++i)
          s.add("_c" + std::to_string(i), DataType::kString);
        schema = s;
      }
      std::vector<Value> values(schema->size());
      std::string error;
      if (fields.size() != schema->size()) {
        error = absl::StrCat("it has ", fields.size(), " fields, the schema ", schema->size());
      }
      for (size_t i = 0; i < schema->size() && i < fields.size(); ++i) {
        if (fields[i] == null_value) continue;
        if (!FromText(fields[i], (*schema)[i].dataType, &values[i]) && error.empty()) {
          error = "column " + (*schema)[i].name + ": \"" + fields[i] + "\" is not a " +
                  SimpleName((*schema)[i].dataType);
        }
      }
      if (!error.empty()) {
        if (mode == Mode::kFailFast) {
          throw EmberError(absl::StrCat("read.csv: malformed record at ", file, ":", line, ": ",
                                        error, " (mode FAILFAST)"));
        }
        if (mode == Mode::kDropMalformed) continue;
      }
      rows.emplace_back(std::move(values));
    }
  }
  if (!schema) schema = StructType();
  return SparkSession(session_).FromLocalRows(std::move(rows), *schema);
}

namespace {
DataType JsonType(const nlohmann::json& v) {
  if (v.is_null()) return DataType::kNull;
  if (v.is_boolean()) return DataType::kBoolean;
  if (v.is_number_integer() || v.is_number_unsigned()) return DataType::kBigint;
  if (v.is_number_float()) return DataType::kDouble;
  return DataType::kString;  // strings; objects and arrays as their JSON text
}
DataType Merge(DataType a, DataType b) {
  if (a == DataType::kNull) return b;
  if (b == DataType::kNull || a == b) return a;
  if ((a == DataType::kBigint && b == DataType::kDouble) ||
      (a == DataType::kDouble && b == DataType::kBigint)) {
    return DataType::kDouble;
  }
  return DataType::kString;
}
bool FromJson(const nlohmann::json& v, DataType type, Value* out) {
  if (v.is_null()) {
    *out = Value::Null();
    return true;
  }
  switch (type) {
    case DataType::kBoolean:
      if (!v.is_boolean()) return false;
      *out = Value::Boolean(v.get<bool>());
      return true;
    case DataType::kInt:
    case DataType::kBigint: {
      if (!v.is_number_integer() && !v.is_number_unsigned()) return false;
      const int64_t x = v.get<int64_t>();
      if (type == DataType::kInt) {
        if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) {
          return false;
        }
        *out = Value::Int(static_cast<int32_t>(x));
      } else {
        *out = Value::Bigint(x);
      }
      return true;
    }
    case DataType::kFloat:
    case DataType::kDouble:
      if (!v.is_number()) return false;
      *out =
          type == DataType::kFloat ? Value::Float(v.get<float>()) : Value::Double(v.get<double>());
      return true;
    case DataType::kString:
    case DataType::kNull:
      *out = Value::String(v.is_string() ? v.get<std::string>() : v.dump());
      return true;
    case DataType::kBinary:
    case DataType::kDate:
    case DataType::kTimestamp:
      if (!v.is_string()) return false;
      return FromText(v.get<std::string>(), type, out);
  }
  return false;
}
}  // namespace

DataFrame DataFrameReader::json(const std::string& path) const {
  const Mode mode = ModeOption(options_);
  struct Line {
    std::string file;
    int number;
    nlohmann::json value;  // discarded: malformed
  };
  std::vector<Line> lines;
  for (const std::string& file : InputFiles(path, "read.json")) {
    std::istringstream in(ReadFile(file, "read.json"));
    std::string text;
    int number = 0;
    while (std::getline(in, text)) {
      ++number;
      if (text::Trim(text).empty()) continue;
      nlohmann::json v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (v.is_discarded() || !v.is_object()) {
        if (mode == Mode::kFailFast) {
          throw EmberError(absl::StrCat("read.json: malformed record at ", file, ":", number,
                                        " (mode FAILFAST): ", text.substr(0, 80)));
        }
        v = nlohmann::json(nlohmann::json::value_t::discarded);
      }
      lines.push_back({file, number, std::move(v)});
    }
  }
  StructType schema;
  if (schema_) {
    schema = *schema_;
  } else {
    std::map<std::string, DataType> fields;  // sorted by name, as Spark's inference
    for (const Line& l : lines) {
      if (l.value.is_discarded()) continue;
      for (const auto& [k, v] : l.value.items()) {
        auto it = fields.find(k);
        fields[k] = it == fields.end() ? JsonType(v) : Merge(it->second, JsonType(v));
      }
    }
    for (const auto& [name, type] : fields) {
      schema.add(name, type == DataType::kNull ? DataType::kString : type);
    }
  }
  std::vector<Row> rows;
  for (const Line& l : lines) {
    if (l.value.is_discarded()) {
      if (mode == Mode::kPermissive) rows.emplace_back(std::vector<Value>(schema.size()));
      continue;
    }
    std::vector<Value> values(schema.size());
    std::string error;
    for (size_t i = 0; i < schema.size(); ++i) {
      auto it = l.value.find(schema[i].name);
      if (it == l.value.end()) continue;
      if (!FromJson(*it, schema[i].dataType, &values[i]) && error.empty()) {
        error = "field " + schema[i].name + ": " + it->dump() + " is not a " +
                SimpleName(schema[i].dataType);
        values[i] = Value::Null();
      }
    }
    if (!error.empty()) {
      if (mode == Mode::kFailFast) {
        throw EmberError(absl::StrCat("read.json: malformed record at ", l.file, ":", l.number,
                                      ": ", error, " (mode FAILFAST)"));
      }
      if (mode == Mode::kDropMalformed) continue;
    }
    rows.emplace_back(std::move(values));
  }
  return SparkSession(session_).FromLocalRows(std::move(rows), schema);
}

DataFrame DataFrameReader::sqlite(const std::string& path, const std::string& table) const {
  StructType schema = schema_ ? *schema_ : StructType();
  std::vector<Row> rows = internal_sql::ReadSqliteTable(path, table, &schema);
  return SparkSession(session_).FromLocalRows(std::move(rows), schema);
}

DataFrame DataFrameReader::load(const std::string& path) const {
  const std::string f = text::Lower(format_);
  if (f == "csv") return csv(path.empty() ? Option(options_, "path", "") : path);
  if (f == "json") return json(path.empty() ? Option(options_, "path", "") : path);
  if (f == "jdbc" || f == "sqlite") {
    std::string url = Option(options_, "url", path);
    if (text::StartsWith(url, "jdbc:sqlite:")) {
      url = url.substr(12);
    } else if (text::StartsWith(url, "jdbc:")) {
      throw EmberError("read.load: only SQLite's JDBC URLs (jdbc:sqlite:PATH) are read, not " +
                       url);
    }
    const std::string table = Option(options_, "dbtable", "");
    if (url.empty() || table.empty()) {
      throw EmberError("read.load: format " + format_ +
                       " needs options url (jdbc:sqlite:PATH) and dbtable");
    }
    return sqlite(url, table);
  }
  throw EmberError("read.load: unknown format \"" + format_ + "\" (csv, json, jdbc)");
}

}  // namespace sql
}  // namespace ember
