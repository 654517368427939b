// show()'s text (Spark's Dataset.showString), apart from the engine that computes the rows.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/sql_engine.h"

namespace ember {
namespace sql {
namespace internal_sql {

// ------------------------------------------------------------------------------------ show

namespace {
// Spark's SchemaUtils.escapeMetaCharacters.
std::string EscapeMeta(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\a':
        out += "\\a";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The code points of UTF-8 text, with the byte offset each starts at (malformed bytes count
// as one code point each).
std::vector<std::pair<uint32_t, size_t>> CodePoints(const std::string& s) {
  std::vector<std::pair<uint32_t, size_t>> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? b : (b & (0x7f >> n));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3f);
    out.emplace_back(cp, i);
    i += n;
  }
  return out;
}
// Java's String.length: UTF-16 units.
size_t JavaLength(const std::vector<std::pair<uint32_t, size_t>>& cps) {
  size_t n = 0;
  for (const auto& c : cps) n += c.first >= 0x10000 ? 2 : 1;
  return n;
}
// Spark's Utils.stringHalfWidth: full-width characters count twice.
bool FullWidth(uint32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
         (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0xFE10 && c <= 0xFE19) || (c >= 0xFE30 && c <= 0xFE6F) ||
         (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6);
}
size_t HalfWidth(const std::string& s) {
  auto cps = CodePoints(s);
  size_t n = JavaLength(cps);
  for (const auto& c : cps) n += FullWidth(c.first) ? 1 : 0;
  return n;
}
// The first `units` UTF-16 units of `s` (a surrogate pair is not split: it goes whole or not).
std::string JavaPrefix(const std::string& s, size_t units) {
  size_t n = 0;
  for (const auto& c : CodePoints(s)) {
    const size_t w = c.first >= 0x10000 ? 2 : 1;
    if (n + w > units) return s.substr(0, c.second);
    n += w;
  }
  return s;
}
}  // namespace

std::string ShowString(const StructType& schema, const std::vector<Row>& rows, int n,
                       int truncate) {
  n = std::max(0, n);
  const bool more = rows.size() > static_cast<size_t>(n);
  std::vector<std::vector<std::string>> table;
  table.push_back({});
  for (const auto& f : schema.fields()) table[0].push_back(EscapeMeta(f.name));
  for (size_t r = 0; r < rows.size() && r < static_cast<size_t>(n); ++r) {
    std::vector<std::string> line;
    for (size_t c = 0; c < schema.size(); ++c) {
      const Value& v = c < rows[r].size() ? rows[r].get(c) : Value::Null();
      std::string str = EscapeMeta(v.isNull() ? "NULL" : v.toString());
      if (truncate > 0 && JavaLength(CodePoints(str)) > static_cast<size_t>(truncate)) {
        str = truncate < 4 ? JavaPrefix(str, truncate) : JavaPrefix(str, truncate - 3) + "...";
      }
      line.push_back(std::move(str));
    }
    table.push_back(std::move(line));
  }
  std::vector<size_t> widths(schema.size(), 3);
  for (const auto& line : table) {
    for (size_t c = 0; c < line.size(); ++c) widths[c] = std::max(widths[c], HalfWidth(line[c]));
  }
  std::string sep = "+";
  for (size_t w : widths) sep += std::string(w, '-') + "+";
  sep += "\n";
  std::string out = sep;
  for (size_t r = 0; r < table.size(); ++r) {
    out += "|";
    for (size_t c = 0; c < table[r].size(); ++c) {
      const std::string pad(widths[c] - HalfWidth(table[r][c]), ' ');
      out += truncate > 0 ? pad + table[r][c] : table[r][c] + pad;
      out += "|";
    }
    out += "\n";
    if (r == 0) out += sep;
  }
  out += sep;
  if (more) out += absl::StrCat("only showing top ", n, n == 1 ? " row\n" : " rows\n");
  return out;
}

}  // namespace internal_sql
}  // namespace sql
}  // namespace ember
