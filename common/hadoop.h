#pragma once
// Hadoop's file formats, so that Hadoop, Spark and Hive read what Ember writes and Ember reads
// what they wrote.
//
// Outputs (saveAsHadoopFiles / saveAsNewAPIHadoopFiles on pair streams and RDDs):
//   TextOutputFormat          one line per record: key TAB value, each as its Writable's
//                             toString; a null key (NullWritable, empty optional) is left out
//                             with its tab, as is a null value; both null writes no line
//   SequenceFileOutputFormat  Hadoop's SequenceFile, version 6: "SEQ" 6, key and value class
//                             names, compression flags and codec, metadata, a sync marker, then
//                             records (a sync entry every ~100 KB) or compressed blocks (a sync
//                             entry before each); lengths big-endian, as Java's DataOutput
// Inputs (StreamingContext::fileStream<K, V, Format>):
//   TextInputFormat           (byte offset of the line, line) as (int64_t, std::string)
//   SequenceFileInputFormat   the records of a SequenceFile of any compression
//
// C++ types and the Writables they are written as:
//   std::string -> Text            int32_t -> IntWritable       int64_t -> LongWritable
//   float -> FloatWritable         double -> DoubleWritable     bool -> BooleanWritable
//   hadoop::Bytes -> BytesWritable hadoop::NullWritable -> NullWritable (no key or no value)
// Compression: CompressionType::kRecord (each value) or kBlock (blocks of records), with
// Codec::kDefault (DefaultCodec: zlib) or Codec::kGzip (GzipCodec).

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "common/show.h"

namespace ember {
namespace hadoop {

// No key, or no value: zero bytes in a SequenceFile, left out of a text line.
struct NullWritable {
  bool operator==(const NullWritable&) const { return true; }
  bool operator!=(const NullWritable&) const { return false; }
  bool operator<(const NullWritable&) const { return false; }
  template <typename W>
  void serialize(W&) const {}
  template <typename R>
  bool deserialize(R&) {
    return true;
  }
};
using Bytes = std::vector<uint8_t>;

enum class CompressionType { kNone, kRecord, kBlock };
enum class Codec { kDefault, kGzip };  // DefaultCodec (zlib) and GzipCodec

struct TextOutputFormat {};
struct SequenceFileOutputFormat {
  CompressionType compression = CompressionType::kNone;
  Codec codec = Codec::kDefault;
  // zlib's level, 0 (stored) or 1 (fastest) to 9 (smallest); -1 is zlib's default (6), Hadoop's
  // zlib.compress.level default. Level 1 compresses about 4 times faster, 20% larger.
  int level = -1;
};
struct TextInputFormat {};
struct SequenceFileInputFormat {};

}  // namespace hadoop

namespace internal {

// ---------------------------------------------------------------- Java's DataOutput encodings

inline void PutBigEndian32(uint32_t v, std::string* out) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
inline void PutBigEndian64(uint64_t v, std::string* out) {
  PutBigEndian32(static_cast<uint32_t>(v >> 32), out);
  PutBigEndian32(static_cast<uint32_t>(v), out);
}
inline bool GetBigEndian32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(in->data());
  *v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  in->remove_prefix(4);
  return true;
}
inline bool GetBigEndian64(std::string_view* in, uint64_t* v) {
  uint32_t hi = 0, lo = 0;
  if (!GetBigEndian32(in, &hi) || !GetBigEndian32(in, &lo)) return false;
  *v = (uint64_t{hi} << 32) | lo;
  return true;
}

// Hadoop's WritableUtils.writeVLong: -112..127 in one byte, else a length byte and the
// big-endian magnitude (one's complement for negatives).
inline void PutHadoopVLong(int64_t i, std::string* out) {
  if (i >= -112 && i <= 127) {
    out->push_back(static_cast<char>(i));
    return;
  }
  int len = -112;
  if (i < 0) {
    i ^= -1L;
    len = -120;
  }
  for (int64_t tmp = i; tmp != 0; tmp >>= 8) --len;
  out->push_back(static_cast<char>(len));
  len = (len < -120) ? -(len + 120) : -(len + 112);
  for (int idx = len; idx != 0; --idx) {
    out->push_back(static_cast<char>((i >> ((idx - 1) * 8)) & 0xFF));
  }
}
inline bool GetHadoopVLong(std::string_view* in, int64_t* v) {
  if (in->empty()) return false;
  int8_t first = static_cast<int8_t>((*in)[0]);
  in->remove_prefix(1);
  if (first >= -112) {
    *v = first;
    return true;
  }
  bool negative = first < -120;
  size_t len = negative ? static_cast<size_t>(-119 - first) : static_cast<size_t>(-111 - first);
  if (in->size() < len - 1) return false;
  int64_t i = 0;
  for (size_t idx = 0; idx + 1 < len; ++idx) {
    i = (i << 8) | static_cast<unsigned char>((*in)[idx]);
  }
  in->remove_prefix(len - 1);
  *v = negative ? (i ^ -1L) : i;
  return true;
}

// --------------------------------------------------------------------------------- Writables

// Writable<T>: the Hadoop class T is written as, its bytes, and its toString. Read consumes
// exactly one serialized value (a key's or value's whole bytes) and fails on anything else.
template <typename T, typename = void>
struct Writable {
  static constexpr bool kDefined = false;
};

template <>
struct Writable<hadoop::NullWritable> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass = "org.apache.hadoop.io.NullWritable";
  static void Write(const hadoop::NullWritable&, std::string*) {}
  static bool Read(std::string_view in, hadoop::NullWritable*) { return in.empty(); }
};

template <>
struct Writable<std::string> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass = "org.apache.hadoop.io.Text";
  static void Write(const std::string& s, std::string* out) {
    PutHadoopVLong(static_cast<int64_t>(s.size()), out);
    out->append(s);
  }
  static bool Read(std::string_view in, std::string* s) {
    int64_t n = 0;
    if (!GetHadoopVLong(&in, &n) || n < 0 || static_cast<uint64_t>(n) != in.size()) return false;
    s->assign(in.data(), in.size());
    return true;
  }
};

template <>
struct Writable<bool> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass = "org.apache.hadoop.io.BooleanWritable";
  static void Write(bool b, std::string* out) { out->push_back(b ? 1 : 0); }
  static bool Read(std::string_view in, bool* b) {
    if (in.size() != 1) return false;
    *b = in[0] != 0;
    return true;
  }
};

template <typename T>
struct Writable<T, std::enable_if_t<std::is_integral_v<T> && std::is_signed_v<T> &&
                                    (sizeof(T) == 4 || sizeof(T) == 8)>> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass =
      sizeof(T) == 4 ? "org.apache.hadoop.io.IntWritable" : "org.apache.hadoop.io.LongWritable";
  static void Write(T v, std::string* out) {
    if constexpr (sizeof(T) == 4) {
      PutBigEndian32(static_cast<uint32_t>(v), out);
    } else {
      PutBigEndian64(static_cast<uint64_t>(v), out);
    }
  }
  static bool Read(std::string_view in, T* v) {
    if (in.size() != sizeof(T)) return false;
    if constexpr (sizeof(T) == 4) {
      uint32_t u = 0;
      GetBigEndian32(&in, &u);
      *v = static_cast<T>(u);
    } else {
      uint64_t u = 0;
      GetBigEndian64(&in, &u);
      *v = static_cast<T>(u);
    }
    return true;
  }
};

template <typename T>
struct Writable<T, std::enable_if_t<std::is_same_v<T, float> || std::is_same_v<T, double>>> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass = std::is_same_v<T, float>
                                            ? "org.apache.hadoop.io.FloatWritable"
                                            : "org.apache.hadoop.io.DoubleWritable";
  using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
  static void Write(T v, std::string* out) {
    Bits bits;
    std::memcpy(&bits, &v, sizeof(bits));
    if constexpr (sizeof(T) == 4) {
      PutBigEndian32(bits, out);
    } else {
      PutBigEndian64(bits, out);
    }
  }
  static bool Read(std::string_view in, T* v) {
    if (in.size() != sizeof(T)) return false;
    Bits bits = 0;
    if constexpr (sizeof(T) == 4) {
      GetBigEndian32(&in, &bits);
    } else {
      GetBigEndian64(&in, &bits);
    }
    std::memcpy(v, &bits, sizeof(bits));
    return true;
  }
};

template <>
struct Writable<hadoop::Bytes> {
  static constexpr bool kDefined = true;
  static constexpr const char* kClass = "org.apache.hadoop.io.BytesWritable";
  static void Write(const hadoop::Bytes& b, std::string* out) {
    PutBigEndian32(static_cast<uint32_t>(b.size()), out);
    out->append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  static bool Read(std::string_view in, hadoop::Bytes* b) {
    uint32_t n = 0;
    if (!GetBigEndian32(&in, &n) || n != in.size()) return false;
    b->assign(in.begin(), in.end());
    return true;
  }
};

template <typename T>
inline constexpr bool kIsWritable = Writable<T>::kDefined;

#define EMBER_ASSERT_WRITABLE(T, what)                                                       \
  static_assert(::ember::internal::kIsWritable<T>, what                                      \
                " is written as a Hadoop Writable: use std::string (Text), int32_t "         \
                "(IntWritable), int64_t (LongWritable), float, double, bool, hadoop::Bytes " \
                "(BytesWritable) or hadoop::NullWritable")

// ------------------------------------------------------------------------ TextOutputFormat

template <typename T>
struct IsStdOptional : std::false_type {};
template <typename T>
struct IsStdOptional<std::optional<T>> : std::true_type {};

// Appends x as its Writable's toString would print it; false when x is null (NullWritable or
// an empty optional), which TextOutputFormat leaves out.
template <typename T>
bool AppendHadoopText(const T& x, std::string* out) {
  if constexpr (std::is_same_v<T, hadoop::NullWritable>) {
    return false;
  } else if constexpr (IsStdOptional<T>::value) {
    return x.has_value() && AppendHadoopText(*x, out);
  } else if constexpr (std::is_same_v<T, hadoop::Bytes>) {
    // BytesWritable.toString: two hex digits a byte, separated by spaces.
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < x.size(); ++i) {
      if (i > 0) out->push_back(' ');
      out->push_back(kHex[x[i] >> 4]);
      out->push_back(kHex[x[i] & 15]);
    }
    return true;
  } else {
    Show(x, out);
    return true;
  }
}

// One TextOutputFormat line for (key, value), as Hadoop's LineRecordWriter writes it.
template <typename K, typename V>
void AppendHadoopTextLine(const K& key, const V& value, std::string* out) {
  size_t start = out->size();
  bool has_key = AppendHadoopText(key, out);
  size_t key_end = out->size();
  out->push_back('\t');
  bool has_value = AppendHadoopText(value, out);
  if (!has_key && !has_value) {
    out->resize(start);
    return;
  }
  if (!has_key || !has_value) out->erase(key_end, 1);  // no separator beside a null
  out->push_back('\n');
}

// ---------------------------------------------------------------------------- SequenceFiles

struct SequenceFileHeader {
  std::string key_class;
  std::string value_class;
  hadoop::CompressionType compression = hadoop::CompressionType::kNone;
  hadoop::Codec codec = hadoop::Codec::kDefault;
  int level = -1;  // zlib's, when writing
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Builds a SequenceFile in memory from serialized Writables (runtime/hadoop_files.cc).
class SequenceFileWriter {
 public:
  explicit SequenceFileWriter(const SequenceFileHeader& header);
  ~SequenceFileWriter();
  SequenceFileWriter(const SequenceFileWriter&) = delete;
  SequenceFileWriter& operator=(const SequenceFileWriter&) = delete;
  void Append(std::string_view key, std::string_view value);
  // The whole file; the writer is done after this.
  std::string Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Receives a SequenceFile's header, then each record's serialized key and value.
class SequenceFileVisitor {
 public:
  virtual ~SequenceFileVisitor() = default;
  virtual void Header(const SequenceFileHeader& header) = 0;
  virtual void Record(std::string_view key, std::string_view value) = 0;
};

// Reads a whole SequenceFile of any version from 4 to 6 and any compression; throws EmberError
// saying what is wrong, and at which byte, when `bytes` is not one (`name` names it there).
void ReadSequenceFile(std::string_view bytes, const std::string& name,
                      SequenceFileVisitor* visitor);

// Throws unless the file's classes are K's and V's Writables.
void CheckSequenceFileClasses(const SequenceFileHeader& header, const char* key_class,
                              const char* value_class, const std::string& name);

template <typename K, typename V>
std::string EncodeSequenceFile(const std::vector<std::pair<K, V>>& records,
                               const hadoop::SequenceFileOutputFormat& format) {
  EMBER_ASSERT_WRITABLE(K, "a SequenceFile's key");
  EMBER_ASSERT_WRITABLE(V, "a SequenceFile's value");
  SequenceFileHeader header;
  header.key_class = Writable<K>::kClass;
  header.value_class = Writable<V>::kClass;
  header.compression = format.compression;
  header.codec = format.codec;
  header.level = format.level;
  SequenceFileWriter writer(header);
  std::string key, value;
  for (const auto& [k, v] : records) {
    key.clear();
    value.clear();
    Writable<K>::Write(k, &key);
    Writable<V>::Write(v, &value);
    writer.Append(key, value);
  }
  return writer.Finish();
}

template <typename K, typename V>
class TypedSequenceFileReader : public SequenceFileVisitor {
 public:
  TypedSequenceFileReader(std::string name, std::vector<std::pair<K, V>>* out)
      : name_(std::move(name)), out_(out) {}
  void Header(const SequenceFileHeader& header) override {
    CheckSequenceFileClasses(header, Writable<K>::kClass, Writable<V>::kClass, name_);
  }
  void Record(std::string_view key, std::string_view value) override {
    std::pair<K, V> kv;
    if (!Writable<K>::Read(key, &kv.first) || !Writable<V>::Read(value, &kv.second)) {
      throw EmberError("SequenceFile " + name_ + ": record " + std::to_string(out_->size()) +
                       " does not decode as (" + Writable<K>::kClass + ", " + Writable<V>::kClass +
                       ")");
    }
    out_->push_back(std::move(kv));
  }

 private:
  std::string name_;
  std::vector<std::pair<K, V>>* out_;
};

template <typename K, typename V>
std::vector<std::pair<K, V>> DecodeSequenceFile(std::string_view bytes, const std::string& name) {
  EMBER_ASSERT_WRITABLE(K, "a SequenceFile's key");
  EMBER_ASSERT_WRITABLE(V, "a SequenceFile's value");
  std::vector<std::pair<K, V>> out;
  TypedSequenceFileReader<K, V> reader(name, &out);
  ReadSequenceFile(bytes, name, &reader);
  return out;
}

// TextInputFormat's records: (byte offset of each line, the line), lines ended by \n, \r\n or
// \r as Hadoop's LineReader ends them.
inline std::vector<std::pair<int64_t, std::string>> SplitLinesWithOffsets(std::string_view data) {
  std::vector<std::pair<int64_t, std::string>> out;
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = data.size();
    out.emplace_back(static_cast<int64_t>(start), std::string(data.substr(start, end - start)));
    size_t next = end + 1;
    if (end < data.size() && data[end] == '\r' && next < data.size() && data[next] == '\n') ++next;
    start = next;
  }
  return out;
}

// ------------------------------------------------------------------------- files on disk

// Reads a whole file; throws EmberError naming the path on failure.
std::string ReadWholeFile(const std::string& path);
// The part-* files of a saved directory (part-NNNNN, part-r-NNNNN...), in order.
std::vector<std::string> ListPartFiles(const std::string& dir);

// A saved directory is written under a hidden temporary name next to `path` and renamed to
// `path` once complete, with its _SUCCESS marker, so that a reader never sees half a directory
// and a batch written again replaces the earlier copy whole. BeginOutputDirectory clears what
// an earlier, failed attempt left and returns the temporary directory tasks write into.
std::string BeginOutputDirectory(const std::string& path);
void CommitOutputDirectory(const std::string& temporary, const std::string& path);

}  // namespace internal

namespace hadoop {

// The records of one SequenceFile whose classes are K's and V's Writables.
template <typename K, typename V>
std::vector<std::pair<K, V>> ReadSequenceFile(const std::string& path) {
  return internal::DecodeSequenceFile<K, V>(internal::ReadWholeFile(path), path);
}

// The records of every part file of a directory Ember, Spark or Hadoop saved, in part order.
template <typename K, typename V>
std::vector<std::pair<K, V>> ReadSequenceFiles(const std::string& dir) {
  std::vector<std::pair<K, V>> out;
  for (const std::string& path : internal::ListPartFiles(dir)) {
    auto part = ReadSequenceFile<K, V>(path);
    out.insert(out.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  return out;
}

}  // namespace hadoop
}  // namespace ember
