#pragma once
// Ember's one binary format: blocks, shuffle buckets, task results, checkpoints and closures
// are all written with Codec<T>, so a value encoded by one process decodes in any other.
//
// Layout (little-endian, unaligned, no type tags; the reader must know T):
//   unsigned integers   LEB128 varint
//   signed integers     zigzag, then varint, so that small negative numbers stay short
//   bool, char          one byte
//   float, double       their IEEE bits as a fixed 4 or 8 bytes
//   enum                its underlying integer
//   std::string         varint length, bytes
//   pair, tuple         the members in order; tuple<> is one zero byte (see below)
//   vector, set, map..  varint count, elements; a vector of fixed-width numbers (not bool) is
//                       the count and then the raw little-endian array, one memcpy each way
//   optional            byte 0, or byte 1 and the value
//   protobuf-like type  varint length, SerializeToString's bytes
//   user type           varint length, what its serialize() wrote
//
// Every value takes at least one byte. That lets a decoder reject a count larger than the
// bytes left before it allocates anything, so corrupt input can make it reserve at most
// (bytes left) x sizeof(element), never an absurd size. A hand-written Codec<T> must keep this
// property; the length in front of user and protobuf types keeps it for them (and stops a
// deserialize() that misreads from running into the next record).
//
// Decoding never trusts its input: every read is bounds-checked and malformed bytes make Decode
// return false (the Reader's failure flag is sticky), never crash. After a failed decode the
// output holds some valid but unspecified value.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ember {

namespace internal {

inline constexpr size_t kMaxVarint64Bytes = 10;

// Writes v as a varint into buf (at least kMaxVarint64Bytes long); returns the bytes used.
inline size_t EncodeVarint64(uint64_t v, char* buf) {
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  return n;
}

// Vectors of numbers are copied as they sit in memory, which is the wire format only here.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ember's codec needs a little-endian host");

}  // namespace internal

// Appends to a string it does not own. Not thread-safe: one thread encodes into one buffer.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void PutVarint64(uint64_t v) {
    char buf[internal::kMaxVarint64Bytes];
    out_->append(buf, internal::EncodeVarint64(v, buf));
  }
  void PutFixed32(uint32_t v) { PutLittleEndian(v); }
  void PutFixed64(uint64_t v) { PutLittleEndian(v); }
  // Length-prefixed, so the reader can hand back a view without knowing the size in advance.
  void PutBytes(std::string_view s) {
    PutVarint64(s.size());
    out_->append(s.data(), s.size());
  }
  void PutRaw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  std::string* buffer() { return out_; }

 private:
  template <typename U>
  void PutLittleEndian(U v) {
    char buf[sizeof(U)];
    for (size_t i = 0; i < sizeof(U); ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_->append(buf, sizeof(U));
  }

  std::string* out_;
};

// Reads from a view it does not own (views returned by GetBytes point into it). Any failed read
// sets a sticky failure flag, so a decoder may check once at the end; reads after a failure
// all fail. Not thread-safe.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool GetVarint64(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!ok_ || pos_ >= in_.size()) return Failed();
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      // The tenth byte holds bit 63 only; anything more would not fit in 64 bits.
      if (shift == 63 && byte > 1) return Failed();
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return Failed();
  }
  bool GetFixed32(uint32_t* v) { return GetLittleEndian(v); }
  bool GetFixed64(uint64_t* v) { return GetLittleEndian(v); }
  bool GetBytes(std::string_view* s) {
    uint64_t n = 0;
    if (!GetVarint64(&n)) return false;
    if (n > remaining()) return Failed();
    *s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool GetRaw(void* p, size_t n) {
    if (!ok_ || n > remaining()) return Failed();
    if (n > 0) std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }

  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  void Fail() { ok_ = false; }

 private:
  bool Failed() {
    ok_ = false;
    return false;
  }
  template <typename U>
  bool GetLittleEndian(U* v) {
    unsigned char b[sizeof(U)];
    if (!GetRaw(b, sizeof(U))) return false;
    *v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) *v |= static_cast<U>(static_cast<U>(b[i]) << (8 * i));
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

namespace internal {

template <typename>
inline constexpr bool kCodecAlwaysFalse = false;

template <template <typename> class Member, typename T, typename = void>
struct Detected : std::false_type {};
template <template <typename> class Member, typename T>
struct Detected<Member, T, std::void_t<Member<T>>> : std::true_type {};

template <typename T>
using SerializeMember = decltype(std::declval<const T&>().serialize(std::declval<Writer&>()));
template <typename T>
using DeserializeMember = decltype(bool(std::declval<T&>().deserialize(std::declval<Reader&>())));
template <typename T>
using SerializeToStringMember =
    decltype(bool(std::declval<const T&>().SerializeToString(std::declval<std::string*>())));
template <typename T>
using ParseFromArrayMember =
    decltype(bool(std::declval<T&>().ParseFromArray(std::declval<const void*>(), int{})));
template <typename T>
using ParseFromStringMember =
    decltype(bool(std::declval<T&>().ParseFromString(std::declval<const std::string&>())));

template <typename T>
inline constexpr bool kIsUserSerializable =
    std::conjunction_v<std::is_default_constructible<T>, Detected<SerializeMember, T>,
                       Detected<DeserializeMember, T>>;
// Protobuf messages are recognised by shape, so this header need not include protobuf. A type
// that has both shapes gets the user codec: its author wrote that one for Ember.
template <typename T>
inline constexpr bool kIsProtoLike = Detected<SerializeToStringMember, T>::value &&
                                     (Detected<ParseFromArrayMember, T>::value ||
                                      Detected<ParseFromStringMember, T>::value) &&
                                     !kIsUserSerializable<T>;

// Numbers whose encoding is their fixed-width little-endian bits inside a vector. bool is out
// (vector<bool> has no array to copy) and so is long double (its padding bytes are garbage).
template <typename T>
inline constexpr bool kIsFixedWidthNumber = (std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                             sizeof(T) <= 8) ||
                                            std::is_same_v<T, float> || std::is_same_v<T, double>;

}  // namespace internal

#define EMBER_NO_CODEC_MESSAGE                                                                   \
  "ember: no Codec<T> for this type, so it cannot be shipped, shuffled or checkpointed. Give T " \
  "members `void serialize(ember::Writer&) const` and `bool deserialize(ember::Reader&)` (and "  \
  "a default constructor), or specialize ember::Codec<T> with static "                           \
  "`void Encode(const T&, ember::Writer&)` and `bool Decode(ember::Reader&, T*)`. Pairs, "       \
  "tuples, optionals and containers have a codec only when all their element types do."

// The codec of T. Specialize it (with static Encode/Decode as below) for a type you cannot give
// serialize/deserialize members; every value must encode to at least one byte.
template <typename T, typename Enable = void>
struct Codec {
  // Lets kHasCodec see that no codec exists without instantiating the functions below, whose
  // static_assert must fire only when someone actually tries to encode a T.
  using EmberNoCodec = void;

  static void Encode(const T&, Writer&) {
    static_assert(internal::kCodecAlwaysFalse<T>, EMBER_NO_CODEC_MESSAGE);
  }
  static bool Decode(Reader&, T*) {
    static_assert(internal::kCodecAlwaysFalse<T>, EMBER_NO_CODEC_MESSAGE);
    return false;
  }
};

#undef EMBER_NO_CODEC_MESSAGE

namespace internal {
template <typename T, typename = void>
struct HasCodec : std::true_type {};
template <typename T>
struct HasCodec<T, std::void_t<typename Codec<T>::EmberNoCodec>> : std::false_type {};
}  // namespace internal

// True iff Codec<T> is usable; asking never triggers the "no codec" static_assert.
template <typename T>
inline constexpr bool kHasCodec = internal::HasCodec<T>::value;

template <typename T>
void Encode(const T& v, Writer& w) {
  Codec<T>::Encode(v, w);
}

// A failed decode always leaves the reader failed, even if a hand-written codec forgot to.
template <typename T>
bool Decode(Reader& r, T* out) {
  if (!Codec<T>::Decode(r, out)) {
    r.Fail();
    return false;
  }
  return r.ok();
}

// ------------------------------------------------------------------------------ scalars

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                 !std::is_same_v<T, char> && sizeof(T) <= 8>> {
  static void Encode(const T& v, Writer& w) {
    if constexpr (std::is_signed_v<T>) {
      const auto u = static_cast<uint64_t>(static_cast<int64_t>(v));
      w.PutVarint64(v < 0 ? ~(u << 1) : (u << 1));
    } else {
      w.PutVarint64(static_cast<uint64_t>(v));
    }
  }
  static bool Decode(Reader& r, T* out) {
    uint64_t u = 0;
    if (!r.GetVarint64(&u)) return false;
    if constexpr (std::is_signed_v<T>) {
      const auto v = static_cast<int64_t>((u & 1) ? ~(u >> 1) : (u >> 1));
      if constexpr (sizeof(T) < sizeof(int64_t)) {
        if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
      }
      *out = static_cast<T>(v);
    } else {
      if constexpr (sizeof(T) < sizeof(uint64_t)) {
        if (u > std::numeric_limits<T>::max()) return false;
      }
      *out = static_cast<T>(u);
    }
    return true;
  }
};

template <>
struct Codec<bool> {
  static void Encode(const bool& v, Writer& w) {
    const char c = v ? 1 : 0;
    w.PutRaw(&c, 1);
  }
  static bool Decode(Reader& r, bool* out) {
    unsigned char c = 0;
    if (!r.GetRaw(&c, 1) || c > 1) return false;
    *out = c == 1;
    return true;
  }
};

template <>
struct Codec<char> {
  static void Encode(const char& v, Writer& w) { w.PutRaw(&v, 1); }
  static bool Decode(Reader& r, char* out) { return r.GetRaw(out, 1); }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, float> || std::is_same_v<T, double>>> {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  static void Encode(const T& v, Writer& w) {
    Bits bits;
    std::memcpy(&bits, &v, sizeof bits);
    if constexpr (sizeof bits == 4) w.PutFixed32(bits);
    if constexpr (sizeof bits == 8) w.PutFixed64(bits);
  }
  static bool Decode(Reader& r, T* out) {
    Bits bits = 0;
    if constexpr (sizeof bits == 4) {
      if (!r.GetFixed32(&bits)) return false;
    } else {
      if (!r.GetFixed64(&bits)) return false;
    }
    std::memcpy(out, &bits, sizeof bits);
    return true;
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_enum_v<T>>> {
  using U = std::underlying_type_t<T>;
  static void Encode(const T& v, Writer& w) { ember::Encode(static_cast<U>(v), w); }
  static bool Decode(Reader& r, T* out) {
    U u{};
    if (!ember::Decode(r, &u)) return false;
    *out = static_cast<T>(u);
    return true;
  }
};

template <>
struct Codec<std::string> {
  static void Encode(const std::string& v, Writer& w) { w.PutBytes(v); }
  static bool Decode(Reader& r, std::string* out) {
    std::string_view s;
    if (!r.GetBytes(&s)) return false;
    out->assign(s.data(), s.size());
    return true;
  }
};

// ---------------------------------------------------------------------- pairs and tuples

template <typename A, typename B>
struct Codec<std::pair<A, B>, std::enable_if_t<kHasCodec<A> && kHasCodec<B>>> {
  static void Encode(const std::pair<A, B>& v, Writer& w) {
    ember::Encode(v.first, w);
    ember::Encode(v.second, w);
  }
  static bool Decode(Reader& r, std::pair<A, B>* out) {
    return ember::Decode(r, &out->first) && ember::Decode(r, &out->second);
  }
};

template <typename... Ts>
struct Codec<std::tuple<Ts...>, std::enable_if_t<(kHasCodec<Ts> && ...)>> {
  static void Encode(const std::tuple<Ts...>& v, Writer& w) {
    if constexpr (sizeof...(Ts) == 0) {
      w.PutVarint64(0);  // keeps "every value takes a byte" true for tuple<>
    } else {
      std::apply([&w](const Ts&... xs) { (ember::Encode(xs, w), ...); }, v);
    }
  }
  static bool Decode(Reader& r, std::tuple<Ts...>* out) {
    if constexpr (sizeof...(Ts) == 0) {
      uint64_t zero = 0;
      return r.GetVarint64(&zero) && zero == 0;
    } else {
      return std::apply([&r](Ts&... xs) { return (ember::Decode(r, &xs) && ...); }, *out);
    }
  }
};

// ---------------------------------------------------------------------------- containers

namespace internal {

// Reads a container's element count, refusing one that the remaining bytes cannot hold given
// that each element takes at least min_element_bytes.
inline bool GetCount(Reader& r, size_t min_element_bytes, size_t* count) {
  uint64_t n = 0;
  if (!r.GetVarint64(&n)) return false;
  if (n > r.remaining() / min_element_bytes) {
    r.Fail();
    return false;
  }
  *count = static_cast<size_t>(n);
  return true;
}

template <typename T, typename A>
void EncodeVectorTo(const std::vector<T, A>& v, Writer& w) {
  w.PutVarint64(v.size());
  if constexpr (kIsFixedWidthNumber<T>) {
    w.PutRaw(v.data(), v.size() * sizeof(T));
  } else {
    for (const T& x : v) ember::Encode<T>(x, w);
  }
}

// Appends the decoded elements; on failure *out may hold some of them.
template <typename T, typename A>
bool AppendVectorFrom(Reader& r, std::vector<T, A>* out) {
  size_t n = 0;
  if constexpr (kIsFixedWidthNumber<T>) {
    if (!GetCount(r, sizeof(T), &n)) return false;
    const size_t old = out->size();
    out->resize(old + n);
    return r.GetRaw(out->data() + old, n * sizeof(T));
  } else {
    if (!GetCount(r, 1, &n)) return false;
    out->reserve(out->size() + n);
    for (size_t i = 0; i < n; ++i) {
      T x{};
      if (!ember::Decode(r, &x)) return false;
      out->push_back(std::move(x));
    }
    return true;
  }
}

// A set's element, or a map's key and value.
template <typename C>
void EncodeEntry(const typename C::value_type& x, Writer& w) {
  if constexpr (std::is_same_v<typename C::key_type, typename C::value_type>) {
    ember::Encode(x, w);
  } else {
    ember::Encode(x.first, w);
    ember::Encode(x.second, w);
  }
}

// Equal unordered containers can iterate in different orders (insertion history, bucket
// count), but StableHash and checkpoints need equal values to encode to equal bytes, so those
// write their entries sorted by their encodings.
template <typename C>
void EncodeAssociative(const C& c, Writer& w, bool sort_by_bytes) {
  w.PutVarint64(c.size());
  if (!sort_by_bytes) {
    for (const auto& x : c) EncodeEntry<C>(x, w);
    return;
  }
  std::vector<std::string> entries;
  entries.reserve(c.size());
  for (const auto& x : c) {
    Writer entry(&entries.emplace_back());
    EncodeEntry<C>(x, entry);
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string& e : entries) w.PutRaw(e.data(), e.size());
}

// A repeated key cannot come from an encoder, so it marks corrupt input.
template <typename C>
bool DecodeAssociative(Reader& r, C* out) {
  out->clear();
  size_t n = 0;
  if (!GetCount(r, 1, &n)) return false;
  for (size_t i = 0; i < n; ++i) {
    typename C::key_type k{};
    if (!ember::Decode(r, &k)) return false;
    if constexpr (std::is_same_v<typename C::key_type, typename C::value_type>) {
      if (!out->insert(std::move(k)).second) return false;
    } else {
      typename C::mapped_type v{};
      if (!ember::Decode(r, &v) || !out->emplace(std::move(k), std::move(v)).second) return false;
    }
  }
  return true;
}

}  // namespace internal

template <typename T, typename A>
struct Codec<std::vector<T, A>, std::enable_if_t<kHasCodec<T>>> {
  static void Encode(const std::vector<T, A>& v, Writer& w) { internal::EncodeVectorTo(v, w); }
  static bool Decode(Reader& r, std::vector<T, A>* out) {
    out->clear();
    return internal::AppendVectorFrom(r, out);
  }
};

template <typename T>
struct Codec<std::optional<T>, std::enable_if_t<kHasCodec<T>>> {
  static void Encode(const std::optional<T>& v, Writer& w) {
    const char flag = v ? 1 : 0;
    w.PutRaw(&flag, 1);
    if (v) ember::Encode(*v, w);
  }
  static bool Decode(Reader& r, std::optional<T>* out) {
    unsigned char flag = 0;
    if (!r.GetRaw(&flag, 1) || flag > 1) return false;
    if (flag == 0) {
      out->reset();
      return true;
    }
    if (!out->has_value()) out->emplace();
    return ember::Decode(r, &**out);
  }
};

template <typename K, typename C, typename A>
struct Codec<std::set<K, C, A>, std::enable_if_t<kHasCodec<K>>> {
  using Set = std::set<K, C, A>;
  static void Encode(const Set& v, Writer& w) { internal::EncodeAssociative(v, w, false); }
  static bool Decode(Reader& r, Set* out) { return internal::DecodeAssociative(r, out); }
};

template <typename K, typename H, typename E, typename A>
struct Codec<std::unordered_set<K, H, E, A>, std::enable_if_t<kHasCodec<K>>> {
  using Set = std::unordered_set<K, H, E, A>;
  static void Encode(const Set& v, Writer& w) { internal::EncodeAssociative(v, w, true); }
  static bool Decode(Reader& r, Set* out) { return internal::DecodeAssociative(r, out); }
};

template <typename K, typename V, typename C, typename A>
struct Codec<std::map<K, V, C, A>, std::enable_if_t<kHasCodec<K> && kHasCodec<V>>> {
  using Map = std::map<K, V, C, A>;
  static void Encode(const Map& v, Writer& w) { internal::EncodeAssociative(v, w, false); }
  static bool Decode(Reader& r, Map* out) { return internal::DecodeAssociative(r, out); }
};

template <typename K, typename V, typename H, typename E, typename A>
struct Codec<std::unordered_map<K, V, H, E, A>, std::enable_if_t<kHasCodec<K> && kHasCodec<V>>> {
  using Map = std::unordered_map<K, V, H, E, A>;
  static void Encode(const Map& v, Writer& w) { internal::EncodeAssociative(v, w, true); }
  static bool Decode(Reader& r, Map* out) { return internal::DecodeAssociative(r, out); }
};

// ------------------------------------------------------------ protobuf and user types

template <typename T>
struct Codec<T, std::enable_if_t<internal::kIsProtoLike<T>>> {
  static void Encode(const T& v, Writer& w) {
    std::string bytes;
    // False only for a proto2 message missing required fields; its partial bytes are written
    // anyway and will fail to parse, so the error surfaces where the value is read.
    (void)v.SerializeToString(&bytes);
    w.PutBytes(bytes);
  }
  static bool Decode(Reader& r, T* out) {
    std::string_view bytes;
    if (!r.GetBytes(&bytes)) return false;
    if constexpr (internal::Detected<internal::ParseFromArrayMember, T>::value) {
      if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
      return out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    } else {
      return out->ParseFromString(std::string(bytes));
    }
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<internal::kIsUserSerializable<T>>> {
  static void Encode(const T& v, Writer& w) {
    std::string* buf = w.buffer();
    const size_t start = buf->size();
    Writer inner(buf);
    v.serialize(inner);
    // The length is only known afterwards; shifting the (usually short) payload once is cheaper
    // than serializing into a scratch string and copying it.
    char len[internal::kMaxVarint64Bytes];
    buf->insert(start, len, internal::EncodeVarint64(buf->size() - start, len));
  }
  static bool Decode(Reader& r, T* out) {
    std::string_view bytes;
    if (!r.GetBytes(&bytes)) return false;
    Reader inner(bytes);
    return out->deserialize(inner) && inner.done();
  }
};

// ---------------------------------------------------------------------------- helpers

template <typename T>
std::string EncodeToString(const T& v) {
  std::string out;
  Writer w(&out);
  Encode(v, w);
  return out;
}

// False if `in` is malformed or has bytes after the value.
template <typename T>
bool DecodeFromString(std::string_view in, T* out) {
  Reader r(in);
  return Decode(r, out) && r.done();
}

// Appends the same bytes as EncodeToString(v).
template <typename T>
void EncodeVector(const std::vector<T>& v, std::string* out) {
  Writer w(out);
  internal::EncodeVectorTo(v, w);
}

// Appends the elements encoded in `in` to *out. An empty `in` holds no elements (empty blocks
// and partitions may be stored as no bytes at all). On failure *out is left as it was.
template <typename T>
bool DecodeVector(std::string_view in, std::vector<T>* out) {
  static_assert(kHasCodec<T>, "ember: DecodeVector<T> needs a Codec<T>; see ember::Codec");
  if (in.empty()) return true;
  const size_t old = out->size();
  Reader r(in);
  if (internal::AppendVectorFrom(r, out) && r.done()) return true;
  out->erase(out->begin() + static_cast<std::ptrdiff_t>(old), out->end());
  return false;
}

}  // namespace ember
