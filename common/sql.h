#pragma once
// DataFrames, temporary views and SQL over a batch's RDDs, with Spark SQL's names:
//
//   auto spark = sql::SparkSession::builder().config(rdd_conf).getOrCreate();
//   auto df = spark.createDataFrame(pairs, "id:int, amount:float");
//   df.createOrReplaceTempView("newdata");
//   spark.sql("select n.id, c.name, n.amount from newdata as n join codes as c on n.id = c.id")
//       .show();
//
// Queries run on the executors, on SQLite (one in-memory database per task). A DataFrame is
// lazy, as Spark's: operations build a plan, and show(), collect() and count() run it.
// Expressions (filter, selectExpr, withColumn, sql) are SQLite's SQL; SQLite's own
// message names what a query gets wrong.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/conf.h"
#include "common/errors.h"
#include "common/rdd.h"
#include "common/show.h"

namespace ember {
namespace sql {

// ------------------------------------------------------------------------------------ types

enum class DataType : uint8_t {
  kNull = 0,  // the type of a NULL literal; also a column whose type is known from its values
  kBoolean,
  kInt,
  kBigint,
  kFloat,
  kDouble,
  kString,
  kBinary,
  kDate,
  kTimestamp,
};

// Spark's typeName (printSchema): integer, long, string...
inline const char* TypeName(DataType t) {
  switch (t) {
    case DataType::kNull:
      return "void";
    case DataType::kBoolean:
      return "boolean";
    case DataType::kInt:
      return "integer";
    case DataType::kBigint:
      return "long";
    case DataType::kFloat:
      return "float";
    case DataType::kDouble:
      return "double";
    case DataType::kString:
      return "string";
    case DataType::kBinary:
      return "binary";
    case DataType::kDate:
      return "date";
    case DataType::kTimestamp:
      return "timestamp";
  }
  return "?";
}
// Spark's simpleString (DDL): int, bigint, string...
inline const char* SimpleName(DataType t) {
  switch (t) {
    case DataType::kNull:
      return "void";
    case DataType::kInt:
      return "int";
    case DataType::kBigint:
      return "bigint";
    default:
      return TypeName(t);
  }
}

using Bytes = std::vector<uint8_t>;
// Days since 1970-01-01.
struct Date {
  int32_t days = 0;
  bool operator==(const Date& o) const { return days == o.days; }
  void serialize(Writer& w) const { ember::Encode(days, w); }
  bool deserialize(Reader& r) { return ember::Decode(r, &days); }
};
// Microseconds since 1970-01-01 00:00:00 UTC (Ember's session time zone is UTC).
struct Timestamp {
  int64_t micros = 0;
  bool operator==(const Timestamp& o) const { return micros == o.micros; }
  void serialize(Writer& w) const { ember::Encode(micros, w); }
  bool deserialize(Reader& r) { return ember::Decode(r, &micros); }
};

namespace internal_sql {
// Howard Hinnant's civil-date algorithms.
inline int32_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int32_t>(era * 146097 + static_cast<int64_t>(doe) - 719468);
}
inline void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
inline int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
}  // namespace internal_sql

// "2024-03-01"
inline std::string FormatDate(Date d) {
  int64_t y;
  unsigned m, day;
  internal_sql::CivilFromDays(d.days, &y, &m, &day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, day);
  return buf;
}
// "2024-03-01 10:00:00", with the fraction of a second when there is one ("...:00.25").
inline std::string FormatTimestamp(Timestamp t) {
  const int64_t days = internal_sql::FloorDiv(t.micros, 86400000000LL);
  int64_t rest = t.micros - days * 86400000000LL;
  std::string out = FormatDate(Date{static_cast<int32_t>(days)});
  const int64_t secs = rest / 1000000, frac = rest % 1000000;
  char buf[48];
  std::snprintf(buf, sizeof buf, " %02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  out += buf;
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out;
}
// Parses "YYYY-MM-DD"; false when `s` is not a valid date.
bool ParseDate(std::string_view s, Date* out);
// Parses "YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]]".
bool ParseTimestamp(std::string_view s, Timestamp* out);

// One cell: NULL or a value of one of the types above.
class Value {
 public:
  Value() = default;  // NULL
  static Value Null() { return Value(); }
  static Value Boolean(bool b) { return Value(DataType::kBoolean, int64_t{b ? 1 : 0}); }
  static Value Int(int32_t i) { return Value(DataType::kInt, static_cast<int64_t>(i)); }
  static Value Bigint(int64_t i) { return Value(DataType::kBigint, i); }
  static Value Float(float f) { return Value(DataType::kFloat, static_cast<double>(f)); }
  static Value Double(double d) { return Value(DataType::kDouble, d); }
  static Value String(std::string s) { return Value(DataType::kString, std::move(s)); }
  static Value Binary(const Bytes& b) {
    return Value(DataType::kBinary, std::string(b.begin(), b.end()));
  }
  static Value OfDate(Date d) { return Value(DataType::kDate, static_cast<int64_t>(d.days)); }
  static Value OfTimestamp(Timestamp t) { return Value(DataType::kTimestamp, t.micros); }

  // The value of a C++ object: bool, the integers, float, double, std::string, Bytes, Date,
  // Timestamp, std::optional of those (nullopt is NULL), or a Value.
  template <typename T>
  static Value Of(const T& x);

  DataType type() const { return type_; }
  bool isNull() const { return type_ == DataType::kNull; }
  bool isNumeric() const {
    return type_ == DataType::kBoolean || type_ == DataType::kInt || type_ == DataType::kBigint ||
           type_ == DataType::kFloat || type_ == DataType::kDouble;
  }
  bool isFloating() const { return type_ == DataType::kFloat || type_ == DataType::kDouble; }
  // Raw accessors: integers, booleans, dates and timestamps as int64; floating as double;
  // strings and binaries as bytes.
  int64_t int64() const { return i_; }
  double float64() const { return d_; }
  const std::string& bytes() const { return s_; }
  double asDouble() const { return isFloating() ? d_ : static_cast<double>(i_); }

  // Spark's text of the cell, as Row.toString prints it ("null" for NULL; show() prints
  // "NULL", as Spark 3.5 does).
  std::string toString() const {
    std::string out;
    AppendTo(&out);
    return out;
  }
  void AppendTo(std::string* out) const {
    switch (type_) {
      case DataType::kNull:
        out->append("null");
        break;
      case DataType::kBoolean:
        out->append(i_ ? "true" : "false");
        break;
      case DataType::kInt:
      case DataType::kBigint:
        out->append(std::to_string(i_));
        break;
      case DataType::kFloat:
        ember::internal::AppendJavaFloating(static_cast<float>(d_), out);
        break;
      case DataType::kDouble:
        ember::internal::AppendJavaFloating(d_, out);
        break;
      case DataType::kString:
        out->append(s_);
        break;
      case DataType::kBinary: {
        static const char* kHex = "0123456789ABCDEF";
        out->push_back('[');
        for (size_t i = 0; i < s_.size(); ++i) {
          if (i) out->push_back(' ');
          const auto b = static_cast<uint8_t>(s_[i]);
          out->push_back(kHex[b >> 4]);
          out->push_back(kHex[b & 15]);
        }
        out->push_back(']');
        break;
      }
      case DataType::kDate:
        out->append(FormatDate(Date{static_cast<int32_t>(i_)}));
        break;
      case DataType::kTimestamp:
        out->append(FormatTimestamp(Timestamp{i_}));
        break;
    }
  }

  // SQL's equality, except that NULL equals NULL (as in DISTINCT and GROUP BY); numbers
  // compare by value across their types.
  bool operator==(const Value& o) const { return Compare(o) == 0; }
  bool operator!=(const Value& o) const { return Compare(o) != 0; }
  bool operator<(const Value& o) const { return Compare(o) < 0; }
  // NULL first, then numbers (by value), then strings and binaries (bytewise), dates,
  // timestamps.
  int Compare(const Value& o) const {
    const int ra = Rank(), rb = o.Rank();
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) return 0;
    if (ra == 1) {
      if (!isFloating() && !o.isFloating()) return i_ < o.i_ ? -1 : (i_ > o.i_ ? 1 : 0);
      const double a = asDouble(), b = o.asDouble();
      return a < b ? -1 : (a > b ? 1 : 0);
    }
    if (ra == 2) return s_ < o.s_ ? -1 : (s_ > o.s_ ? 1 : 0);
    return i_ < o.i_ ? -1 : (i_ > o.i_ ? 1 : 0);
  }
  // A hash equal for values that compare equal (1, 1L and 1.0 alike), the same in every
  // process: shuffles by key send equal keys to one reducer.
  uint64_t StableHashValue() const {
    switch (Rank()) {
      case 0:
        return 0x9e3779b97f4a7c15ULL;
      case 1: {
        if (isFloating()) {
          const double d = d_;
          if (d >= -9.2e18 && d <= 9.2e18 && static_cast<double>(static_cast<int64_t>(d)) == d) {
            return StableHash<int64_t>()(static_cast<int64_t>(d));
          }
          return StableHash<double>()(d);
        }
        return StableHash<int64_t>()(i_);
      }
      case 2:
        return StableHash<std::string>()(s_);
      default:
        return StableHash<int64_t>()(i_) ^ static_cast<uint64_t>(Rank());
    }
  }

  void serialize(Writer& w) const {
    w.PutRaw(&type_, 1);
    switch (type_) {
      case DataType::kNull:
        break;
      case DataType::kFloat:
      case DataType::kDouble:
        ember::Encode(d_, w);
        break;
      case DataType::kString:
      case DataType::kBinary:
        w.PutBytes(s_);
        break;
      default:
        ember::Encode(i_, w);
        break;
    }
  }
  bool deserialize(Reader& r) {
    uint8_t t = 0;
    if (!r.GetRaw(&t, 1) || t > static_cast<uint8_t>(DataType::kTimestamp)) return false;
    type_ = static_cast<DataType>(t);
    switch (type_) {
      case DataType::kNull:
        return true;
      case DataType::kFloat:
      case DataType::kDouble:
        return ember::Decode(r, &d_);
      case DataType::kString:
      case DataType::kBinary: {
        std::string_view s;
        if (!r.GetBytes(&s)) return false;
        s_.assign(s.data(), s.size());
        return true;
      }
      default:
        return ember::Decode(r, &i_);
    }
  }

 private:
  Value(DataType t, int64_t i) : type_(t), i_(i) {}
  Value(DataType t, double d) : type_(t), d_(d) {}
  Value(DataType t, std::string s) : type_(t), s_(std::move(s)) {}
  int Rank() const {
    switch (type_) {
      case DataType::kNull:
        return 0;
      case DataType::kString:
      case DataType::kBinary:
        return 2;
      case DataType::kDate:
        return 3;
      case DataType::kTimestamp:
        return 4;
      default:
        return 1;
    }
  }

  DataType type_ = DataType::kNull;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
};

template <typename T>
Value Value::Of(const T& x) {
  if constexpr (std::is_same_v<T, Value>) {
    return x;
  } else if constexpr (std::is_same_v<T, bool>) {
    return Boolean(x);
  } else if constexpr (std::is_integral_v<T> && sizeof(T) <= 4 && std::is_signed_v<T>) {
    return Int(static_cast<int32_t>(x));
  } else if constexpr (std::is_integral_v<T>) {
    return Bigint(static_cast<int64_t>(x));
  } else if constexpr (std::is_same_v<T, float>) {
    return Float(x);
  } else if constexpr (std::is_same_v<T, double>) {
    return Double(x);
  } else if constexpr (std::is_convertible_v<T, std::string_view>) {
    return String(std::string(std::string_view(x)));
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return Binary(x);
  } else if constexpr (std::is_same_v<T, Date>) {
    return OfDate(x);
  } else if constexpr (std::is_same_v<T, Timestamp>) {
    return OfTimestamp(x);
  } else if constexpr (internal_sql::IsOptional<T>::value) {
    return x ? Of(*x) : Null();
  } else {
    static_assert(ember::internal::kShowAlwaysFalse<T>,
                  "Value::Of: not a SQL type (bool, integers, float, double, std::string, "
                  "Bytes, Date, Timestamp, std::optional of those)");
  }
}

// ------------------------------------------------------------------------------------- Row

class Row {
 public:
  Row() = default;
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  // Row::of(1, "a", 10.5f)
  template <typename... Ts>
  static Row of(const Ts&... xs) {
    return Row(std::vector<Value>{Value::Of(xs)...});
  }

  size_t size() const { return values_.size(); }
  size_t length() const { return values_.size(); }
  const Value& get(size_t i) const {
    if (i >= values_.size()) {
      throw EmberError("Row: index " + std::to_string(i) + " is out of range (the row has " +
                       std::to_string(values_.size()) + " columns)");
    }
    return values_[i];
  }
  bool isNullAt(size_t i) const { return get(i).isNull(); }
  bool getBoolean(size_t i) const { return Checked(i, DataType::kBoolean).int64() != 0; }
  int32_t getInt(size_t i) const {
    return static_cast<int32_t>(Checked(i, DataType::kInt).int64());
  }
  int64_t getLong(size_t i) const {
    const Value& v = get(i);
    if (v.type() == DataType::kInt) return v.int64();
    return Checked(i, DataType::kBigint).int64();
  }
  float getFloat(size_t i) const {
    return static_cast<float>(Checked(i, DataType::kFloat).float64());
  }
  double getDouble(size_t i) const {
    const Value& v = get(i);
    if (v.type() == DataType::kFloat) return v.float64();
    return Checked(i, DataType::kDouble).float64();
  }
  const std::string& getString(size_t i) const { return Checked(i, DataType::kString).bytes(); }
  Bytes getBinary(size_t i) const {
    const std::string& s = Checked(i, DataType::kBinary).bytes();
    return Bytes(s.begin(), s.end());
  }
  Date getDate(size_t i) const {
    return Date{static_cast<int32_t>(Checked(i, DataType::kDate).int64())};
  }
  Timestamp getTimestamp(size_t i) const {
    return Timestamp{Checked(i, DataType::kTimestamp).int64()};
  }
  // getAs<T>(i) for the types Value::Of takes; std::optional<T> reads NULL as nullopt.
  template <typename T>
  T getAs(size_t i) const;

  const std::vector<Value>& values() const { return values_; }
  std::vector<Value>& mutableValues() { return values_; }

  // Spark's Row.toString: [1,a,10.5]
  std::string toString() const {
    std::string out = "[";
    for (size_t i = 0; i < values_.size(); ++i) {
      if (i) out.push_back(',');
      values_[i].AppendTo(&out);
    }
    out.push_back(']');
    return out;
  }
  bool operator==(const Row& o) const { return values_ == o.values_; }
  bool operator!=(const Row& o) const { return !(values_ == o.values_); }
  bool operator<(const Row& o) const { return values_ < o.values_; }

  void serialize(Writer& w) const {
    w.PutVarint64(values_.size());
    for (const Value& v : values_) v.serialize(w);
  }
  bool deserialize(Reader& r) {
    uint64_t n = 0;
    if (!r.GetVarint64(&n) || n > (1u << 20)) return false;
    values_.resize(n);
    for (Value& v : values_) {
      if (!v.deserialize(r)) return false;
    }
    return true;
  }

 private:
  const Value& Checked(size_t i, DataType t) const {
    const Value& v = get(i);
    if (v.type() != t) {
      throw EmberError(std::string("Row: column ") + std::to_string(i) + " is " +
                       (v.isNull() ? "null" : TypeName(v.type())) + ", not " + TypeName(t));
    }
    return v;
  }
  std::vector<Value> values_;
};

template <typename T>
T Row::getAs(size_t i) const {
  if constexpr (internal_sql::IsOptional<T>::value) {
    if (isNullAt(i)) return std::nullopt;
    return getAs<typename T::value_type>(i);
  } else if constexpr (std::is_same_v<T, Value>) {
    return get(i);
  } else if constexpr (std::is_same_v<T, bool>) {
    return getBoolean(i);
  } else if constexpr (std::is_integral_v<T> && sizeof(T) <= 4 && std::is_signed_v<T>) {
    return static_cast<T>(getInt(i));
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(getLong(i));
  } else if constexpr (std::is_same_v<T, float>) {
    return getFloat(i);
  } else if constexpr (std::is_same_v<T, double>) {
    return getDouble(i);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return getString(i);
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return getBinary(i);
  } else if constexpr (std::is_same_v<T, Date>) {
    return getDate(i);
  } else if constexpr (std::is_same_v<T, Timestamp>) {
    return getTimestamp(i);
  } else {
    static_assert(ember::internal::kShowAlwaysFalse<T>, "Row::getAs: not a SQL type");
  }
}

// ---------------------------------------------------------------------------------- schema

struct StructField {
  std::string name;
  DataType dataType = DataType::kString;
  bool nullable = true;
  bool operator==(const StructField& o) const {
    return name == o.name && dataType == o.dataType && nullable == o.nullable;
  }
  void serialize(Writer& w) const {
    ember::Encode(name, w);
    w.PutRaw(&dataType, 1);
    ember::Encode(nullable, w);
  }
  bool deserialize(Reader& r) {
    uint8_t t = 0;
    if (!ember::Decode(r, &name) || !r.GetRaw(&t, 1) ||
        t > static_cast<uint8_t>(DataType::kTimestamp)) {
      return false;
    }
    dataType = static_cast<DataType>(t);
    return ember::Decode(r, &nullable);
  }
};

class StructType {
 public:
  StructType() = default;
  explicit StructType(std::vector<StructField> fields) : fields_(std::move(fields)) {}
  // Spark's DDL, in either form: "id:int, amount:float" or "id INT, amount FLOAT NOT NULL".
  // Types: boolean, int (integer), bigint (long), float (real), double, string (varchar(n),
  // char(n), text), binary, date, timestamp. Throws EmberError naming what it cannot read.
  static StructType fromDDL(const std::string& ddl);

  StructType& add(const std::string& name, DataType type, bool nullable = true) {
    fields_.push_back({name, type, nullable});
    return *this;
  }
  const std::vector<StructField>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  const StructField& operator[](size_t i) const { return fields_[i]; }
  std::vector<std::string> fieldNames() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) out.push_back(f.name);
    return out;
  }
  // The index of the column `name` (case-insensitive, as Spark), or -1.
  int indexOf(const std::string& name) const;
  // printSchema's text: "root\n |-- id: integer (nullable = true)\n..."
  std::string treeString() const {
    std::string out = "root\n";
    for (const auto& f : fields_) {
      out += " |-- " + f.name + ": " + TypeName(f.dataType) +
             " (nullable = " + (f.nullable ? "true" : "false") + ")\n";
    }
    return out;
  }
  // struct<id:int,amount:float>
  std::string simpleString() const {
    std::string out = "struct<";
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (i) out += ",";
      out += fields_[i].name + ":" + SimpleName(fields_[i].dataType);
    }
    return out + ">";
  }
  bool operator==(const StructType& o) const { return fields_ == o.fields_; }

  void serialize(Writer& w) const { ember::Encode(fields_, w); }
  bool deserialize(Reader& r) { return ember::Decode(r, &fields_); }

 private:
  std::vector<StructField> fields_;
};

// ---------------------------------------------------------------------- typed conversions
namespace internal_sql {

// The value for column `i` of `schema` from a C++ value: checked against the column's type
// (integers into int/bigint when they fit, numbers into float/double, strings into string,
// date and timestamp columns also from their text). Throws EmberError naming the column and
// the value.
Value Conform(const Value& v, const StructType& schema, size_t i);

template <typename T>
struct IsTuple : std::false_type {};
template <typename... Ts>
struct IsTuple<std::tuple<Ts...>> : std::true_type {};

// A record as a row of `schema`: a tuple, a pair, a Row, a single value, or a type whose
// serialize(Writer&) writes its fields in the schema's order and types (read back as such).
Row RowFromCodecBytes(std::string_view bytes, const StructType& schema);

template <typename T>
Row ToRow(const T& x, const StructType& schema) {
  std::vector<Value> values;
  if constexpr (std::is_same_v<T, Row>) {
    values = x.values();
  } else if constexpr (IsTuple<T>::value) {
    values.reserve(std::tuple_size_v<T>);
    std::apply([&values](const auto&... xs) { (values.push_back(Value::Of(xs)), ...); }, x);
  } else if constexpr (ember::internal::IsPair<T>::value) {
    values = {Value::Of(x.first), Value::Of(x.second)};
  } else if constexpr (ember::internal::kIsUserSerializable<T>) {
    std::string bytes;
    Writer w(&bytes);
    x.serialize(w);
    return RowFromCodecBytes(bytes, schema);
  } else {
    values = {Value::Of(x)};
  }
  if (values.size() != schema.size()) {
    throw EmberError("createDataFrame: a record has " + std::to_string(values.size()) +
                     " fields but the schema " + schema.simpleString() + " has " +
                     std::to_string(schema.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) values[i] = Conform(values[i], schema, i);
  return Row(std::move(values));
}

template <typename T>
struct ToRowFn {
  StructType schema;
  Row operator()(const T& x) const { return ToRow(x, schema); }
  void serialize(Writer& w) const { schema.serialize(w); }
  bool deserialize(Reader& r) { return schema.deserialize(r); }
};

template <typename T, size_t... I>
void FillFromRow(const Row& row, T* out, std::index_sequence<I...>) {
  ((std::get<I>(*out) = row.getAs<std::tuple_element_t<I, T>>(I)), ...);
}
template <typename T>
T FromRow(const Row& row) {
  if constexpr (std::is_same_v<T, Row>) {
    return row;
  } else if constexpr (IsTuple<T>::value || ember::internal::IsPair<T>::value) {
    if (row.size() != std::tuple_size_v<T>) {
      throw EmberError("DataFrame.rdd: a row has " + std::to_string(row.size()) +
                       " columns, the record type " + std::to_string(std::tuple_size_v<T>));
    }
    T out;
    FillFromRow(row, &out, std::make_index_sequence<std::tuple_size_v<T>>());
    return out;
  } else {
    if (row.size() != 1) {
      throw EmberError("DataFrame.rdd: a row of " + std::to_string(row.size()) +
                       " columns does not convert to a single value");
    }
    return row.getAs<T>(0);
  }
}
template <typename T>
struct FromRowFn {
  T operator()(const Row& row) const { return FromRow<T>(row); }
};

}  // namespace internal_sql

// ---------------------------------------------------------------------------- DataFrames

class SparkSession;
class GroupedData;
namespace internal_sql {
struct FrameImpl;
struct SessionImpl;
}  // namespace internal_sql

// An aggregate of GroupedData::agg: functions::count("*"), sum("amount").alias("total").
struct Aggregate {
  std::string function;  // count, sum, avg, min, max
  std::string column;    // "*" for count(*)
  std::string name;      // the output column's name; empty: Spark's ("sum(amount)")
  Aggregate alias(const std::string& n) const {
    Aggregate a = *this;
    a.name = n;
    return a;
  }
  Aggregate as(const std::string& n) const { return alias(n); }
};
namespace functions {
inline Aggregate count(const std::string& c) { return {"count", c, ""}; }
inline Aggregate sum(const std::string& c) { return {"sum", c, ""}; }
inline Aggregate avg(const std::string& c) { return {"avg", c, ""}; }
inline Aggregate mean(const std::string& c) { return {"avg", c, ""}; }
inline Aggregate min(const std::string& c) { return {"min", c, ""}; }
inline Aggregate max(const std::string& c) { return {"max", c, ""}; }
}  // namespace functions

class DataFrame {
 public:
  DataFrame() = default;

  const StructType& schema() const;
  std::vector<std::string> columns() const { return schema().fieldNames(); }
  // Prints the schema's tree to the job's output (Spark's printSchema).
  void printSchema() const;

  // ------------------------------------------------------------------ per-partition work
  // Columns by name.
  DataFrame select(const std::vector<std::string>& columns) const;
  template <typename... S>
  DataFrame select(const std::string& first, const S&... rest) const {
    return select(std::vector<std::string>{first, std::string(rest)...});
  }
  // SQL expressions, each with an optional alias: "amount * 2 as double_amount".
  DataFrame selectExpr(const std::vector<std::string>& expressions) const;
  template <typename... S>
  DataFrame selectExpr(const std::string& first, const S&... rest) const {
    return selectExpr(std::vector<std::string>{first, std::string(rest)...});
  }
  // Rows for which the SQL condition holds.
  DataFrame filter(const std::string& condition) const;
  DataFrame where(const std::string& condition) const { return filter(condition); }
  // Adds (or replaces) column `name`, the SQL expression's value.
  DataFrame withColumn(const std::string& name, const std::string& expression) const;
  DataFrame withColumnRenamed(const std::string& existing, const std::string& name) const;
  DataFrame drop(const std::vector<std::string>& columns) const;
  DataFrame drop(const std::string& column) const { return drop(std::vector<std::string>{column}); }

  // ---------------------------------------------------------------------------- shuffles
  GroupedData groupBy(const std::vector<std::string>& columns) const;
  template <typename... S>
  GroupedData groupBy(const S&... columns) const;
  // An equi-join on columns both sides have (each appears once in the result, first), with
  // how = inner, left (left_outer), right, full (outer, full_outer), semi (left_semi), anti
  // (left_anti). A side that is static data (read(), or createDataFrame of driver-side rows)
  // is broadcast where the join allows; otherwise both sides shuffle by the keys.
  DataFrame join(const DataFrame& other, const std::vector<std::string>& on,
                 const std::string& how = "inner") const;
  DataFrame join(const DataFrame& other, const std::string& on,
                 const std::string& how = "inner") const {
    return join(other, std::vector<std::string>{on}, how);
  }
  // "amount", "amount desc", "name asc": a total order (NULLs first ascending, last
  // descending, as Spark), by range partitions.
  DataFrame orderBy(const std::vector<std::string>& columns) const;
  template <typename... S>
  DataFrame orderBy(const std::string& first, const S&... rest) const {
    return orderBy(std::vector<std::string>{first, std::string(rest)...});
  }
  template <typename... S>
  DataFrame sort(const std::string& first, const S&... rest) const {
    return orderBy(first, rest...);
  }
  DataFrame limit(int64_t n) const;
  DataFrame distinct() const;
  DataFrame dropDuplicates() const { return distinct(); }
  // Spark's union (by position); `union` is a C++ keyword.
  DataFrame union_(const DataFrame& other) const;
  DataFrame unionAll(const DataFrame& other) const { return union_(other); }

  // ----------------------------------------------------------------------------- actions
  std::vector<Row> collect() const;
  std::vector<Row> take(int64_t n) const;
  std::vector<Row> head(int64_t n) const { return take(n); }
  Row first() const;
  int64_t count() const;
  bool isEmpty() const { return take(1).empty(); }
  // Prints the first n rows as Spark's show() does, to the job's output.
  void show(int n = 20, bool truncate = true) const { show(n, truncate ? 20 : 0); }
  void show(int n, int truncate) const;
  // The text show() prints (Spark's showString), without show()'s final empty line.
  std::string showString(int n = 20, int truncate = 20) const;

  // --------------------------------------------------------------------------------- views
  void createOrReplaceTempView(const std::string& name) const;
  void createTempView(const std::string& name) const;
  void createGlobalTempView(const std::string& name) const;
  void createOrReplaceGlobalTempView(const std::string& name) const;

  // ---------------------------------------------------------------------------------- RDDs
  // The rows as an Rdd<T>: T a Row, a std::tuple or std::pair of the columns' C++ types, or
  // the single column's type. A column that does not convert fails the task with its name.
  template <typename T = Row>
  Rdd<T> rdd() const {
    Rdd<Row> rows(ref());
    if constexpr (std::is_same_v<T, Row>) {
      return rows;
    } else {
      return rows.map(internal_sql::FromRowFn<T>{});
    }
  }
  // The plan's RDD of rows (runs nothing).
  ember::internal::RddRef ref() const;
  SparkSession sparkSession() const;

  explicit DataFrame(std::shared_ptr<const internal_sql::FrameImpl> impl)
      : impl_(std::move(impl)) {}
  const internal_sql::FrameImpl& impl() const;

 private:
  std::shared_ptr<const internal_sql::FrameImpl> impl_;
};

class GroupedData {
 public:
  DataFrame agg(const std::vector<Aggregate>& aggregates) const;
  template <typename... A>
  DataFrame agg(const Aggregate& first, const A&... rest) const {
    return agg(std::vector<Aggregate>{first, rest...});
  }
  // Spark's agg(Map("amount" -> "sum")): column -> function.
  DataFrame agg(const std::map<std::string, std::string>& column_functions) const;
  // A "count" column per group.
  DataFrame count() const;
  DataFrame sum(const std::vector<std::string>& columns) const;
  DataFrame avg(const std::vector<std::string>& columns) const;
  DataFrame min(const std::vector<std::string>& columns) const;
  DataFrame max(const std::vector<std::string>& columns) const;

  GroupedData(DataFrame frame, std::vector<std::string> keys)
      : frame_(std::move(frame)), keys_(std::move(keys)) {}

 private:
  DataFrame frame_;
  std::vector<std::string> keys_;
};

template <typename... S>
GroupedData DataFrame::groupBy(const S&... columns) const {
  return groupBy(std::vector<std::string>{std::string(columns)...});
}

// Static data read on the driver: CSV, JSON lines, a SQLite database's table.
class DataFrameReader {
 public:
  DataFrameReader& option(const std::string& key, const std::string& value) {
    options_[key] = value;
    return *this;
  }
  DataFrameReader& option(const std::string& key, const char* value) {
    return option(key, std::string(value));
  }
  DataFrameReader& option(const std::string& key, bool value) {
    return option(key, std::string(value ? "true" : "false"));
  }
  DataFrameReader& option(const std::string& key, int64_t value) {
    return option(key, std::to_string(value));
  }
  DataFrameReader& option(const std::string& key, int value) {
    return option(key, std::to_string(value));
  }
  DataFrameReader& schema(const std::string& ddl) {
    schema_ = StructType::fromDDL(ddl);
    return *this;
  }
  DataFrameReader& schema(const StructType& s) {
    schema_ = s;
    return *this;
  }
  DataFrameReader& format(const std::string& f) {
    format_ = f;
    return *this;
  }
  // Options: header (false), sep (","), quote ("\""), nullValue (""), mode (PERMISSIVE:
  // malformed fields read as NULL; DROPMALFORMED; FAILFAST). Without a schema every column
  // is a string, named from the header or _c0, _c1...
  DataFrame csv(const std::string& path) const;
  // JSON lines; without a schema, the fields of all records, sorted by name, typed long,
  // double, boolean or string.
  DataFrame json(const std::string& path) const;
  // A table of a SQLite database file, its columns typed by their declared types.
  DataFrame sqlite(const std::string& path, const std::string& table) const;
  // format("csv"|"json").load(path); format("jdbc") with options url = jdbc:sqlite:PATH and
  // dbtable = TABLE.
  DataFrame load(const std::string& path = "") const;

  explicit DataFrameReader(std::shared_ptr<internal_sql::SessionImpl> session)
      : session_(std::move(session)) {}

 private:
  std::shared_ptr<internal_sql::SessionImpl> session_;
  std::map<std::string, std::string> options_;
  std::optional<StructType> schema_;
  std::string format_;
};

class SparkSession {
 public:
  class Builder {
   public:
    Builder& config(const Conf& conf) {
      conf_ = conf;
      return *this;
    }
    Builder& config(const std::string& key, const std::string& value) {
      conf_.set(key, value);
      return *this;
    }
    Builder& appName(const std::string& name) {
      conf_.setAppName(name);
      return *this;
    }
    // The session of this process's running StreamingContext, made on first use (its conf:
    // the context's, with this builder's settings over it): one per application, so that the
    // same call from every foreachRDD finds the views it made.
    SparkSession getOrCreate() const;

   private:
    Conf conf_;
  };
  static Builder builder() { return Builder(); }

  // A DataFrame of an RDD's records (see internal_sql::ToRow for the record types).
  template <typename T, typename S>
  DataFrame createDataFrame(const Rdd<T, S>& rdd, const StructType& schema) const {
    if constexpr (std::is_same_v<T, Row> && S::kEmpty) {
      return FromRows(rdd.map(internal_sql::ToRowFn<Row>{schema}).ref(), schema);
    } else {
      return FromRows(rdd.map(internal_sql::ToRowFn<T>{schema}).ref(), schema);
    }
  }
  template <typename T, typename S>
  DataFrame createDataFrame(const Rdd<T, S>& rdd, const std::string& ddl) const {
    return createDataFrame(rdd, StructType::fromDDL(ddl));
  }
  // Static data from the driver: rows (or tuples), checked against the schema here.
  template <typename T>
  DataFrame createDataFrame(const std::vector<T>& records, const StructType& schema) const {
    std::vector<Row> rows;
    rows.reserve(records.size());
    for (const T& x : records) rows.push_back(internal_sql::ToRow(x, schema));
    return FromLocalRows(std::move(rows), schema);
  }
  template <typename T>
  DataFrame createDataFrame(const std::vector<T>& records, const std::string& ddl) const {
    return createDataFrame(records, StructType::fromDDL(ddl));
  }

  // Runs nothing yet: checks the query (an EmberError with SQLite's message and the query
  // when it is wrong) and plans it over the views it reads.
  DataFrame sql(const std::string& query) const;
  // A view's DataFrame ("global_temp.name" for a global one).
  DataFrame table(const std::string& name) const;
  DataFrameReader read() const { return DataFrameReader(impl_); }
  bool dropTempView(const std::string& name) const;
  bool dropGlobalTempView(const std::string& name) const;
  std::vector<std::string> tableNames() const;
  const Conf& conf() const;

  DataFrame FromRows(ember::internal::RddRef rows, const StructType& schema) const;
  DataFrame FromLocalRows(std::vector<Row> rows, const StructType& schema) const;
  explicit SparkSession(std::shared_ptr<internal_sql::SessionImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<internal_sql::SessionImpl> impl_;
};

}  // namespace sql
}  // namespace ember
