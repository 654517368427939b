#include "common/codec.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

// A user record with the members the codec looks for.
struct Point {
  int32_t x = 0;
  int32_t y = 0;
  void serialize(ember::Writer& w) const {
    ember::Encode(x, w);
    ember::Encode(y, w);
  }
  bool deserialize(ember::Reader& r) { return ember::Decode(r, &x) && ember::Decode(r, &y); }
  bool operator==(const Point& o) const { return x == o.x && y == o.y; }
  bool operator<(const Point& o) const { return std::tie(x, y) < std::tie(o.x, o.y); }
};

// Shaped like a generated protobuf message (ParseFromString flavour), without protobuf.
struct FakeProto {
  std::string name;
  bool SerializeToString(std::string* out) const {
    *out = "P" + name;
    return true;
  }
  bool ParseFromString(const std::string& in) {
    if (in.empty() || in[0] != 'P') return false;
    name = in.substr(1);
    return true;
  }
  bool operator==(const FakeProto& o) const { return name == o.name; }
};

// The ParseFromArray flavour, which the codec prefers because it needs no copy.
struct FakeProtoArray {
  int64_t id = 0;
  bool SerializeToString(std::string* out) const {
    *out = std::to_string(id);
    return true;
  }
  bool ParseFromArray(const void* data, int size) {
    const char* begin = static_cast<const char*>(data);
    const auto res = std::from_chars(begin, begin + size, id);
    return res.ec == std::errc() && res.ptr == begin + size;
  }
  bool operator==(const FakeProtoArray& o) const { return id == o.id; }
};

// Both shapes: the user codec must win.
struct BothShapes {
  int32_t v = 0;
  void serialize(ember::Writer& w) const { ember::Encode(v, w); }
  bool deserialize(ember::Reader& r) { return ember::Decode(r, &v); }
  bool SerializeToString(std::string*) const { return false; }
  bool ParseFromString(const std::string&) { return false; }
};

// Writes nothing at all, like a Scala Unit record.
struct Empty {
  void serialize(ember::Writer&) const {}
  bool deserialize(ember::Reader&) { return true; }
  bool operator==(const Empty&) const { return true; }
};

// Reads more than it wrote, which must not run into the next record.
struct Greedy {
  void serialize(ember::Writer& w) const { w.PutVarint64(1); }
  bool deserialize(ember::Reader& r) {
    uint64_t a = 0, b = 0;
    return r.GetVarint64(&a) && r.GetVarint64(&b);
  }
};

// Reads less than it wrote.
struct Lazy {
  void serialize(ember::Writer& w) const { w.PutVarint64(7); }
  bool deserialize(ember::Reader&) { return true; }
};

struct Celsius {
  double degrees = 0;
  bool operator==(const Celsius& o) const { return degrees == o.degrees; }
};

enum class Color : uint8_t { kRed = 1, kBlue = 200 };
enum Signed { kNegative = -5, kPositive = 5 };

struct NoCodec {};

}  // namespace

namespace ember {

// A hand-written specialization, for a type its author cannot add members to.
template <>
struct Codec<Celsius> {
  static void Encode(const Celsius& v, Writer& w) { ember::Encode(v.degrees, w); }
  static bool Decode(Reader& r, Celsius* out) { return ember::Decode(r, &out->degrees); }
};

namespace {

// Round-trips v and checks what every encoding must satisfy: no strict prefix decodes (the
// format is self-delimiting) and a trailing byte is rejected.
template <typename T>
void ExpectRoundTrip(const T& v) {
  const std::string bytes = EncodeToString(v);
  T out{};
  ASSERT_TRUE(DecodeFromString(bytes, &out)) << "size " << bytes.size();
  EXPECT_TRUE(out == v);
  EXPECT_EQ(EncodeToString(out), bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    T partial{};
    EXPECT_FALSE(DecodeFromString(std::string_view(bytes).substr(0, n), &partial)) << n;
  }
  T trailing{};
  EXPECT_FALSE(DecodeFromString(bytes + '\0', &trailing));
}

// -------------------------------------------------------------------- Writer and Reader

TEST(WriterReaderTest, VarintLengthsAtBoundaries) {
  const std::vector<std::pair<uint64_t, size_t>> cases = {
      {0, 1},     {1, 1},          {127, 1},       {128, 2},         {16383, 2},
      {16384, 3}, {UINT32_MAX, 5}, {INT64_MAX, 9}, {1ULL << 63, 10}, {UINT64_MAX, 10}};
  for (const auto& [v, len] : cases) {
    std::string s;
    Writer(&s).PutVarint64(v);
    EXPECT_EQ(s.size(), len) << v;
    Reader r(s);
    uint64_t got = 0;
    ASSERT_TRUE(r.GetVarint64(&got));
    EXPECT_EQ(got, v);
    EXPECT_TRUE(r.done());
  }
}

TEST(WriterReaderTest, RejectsVarintsThatOverflowOrNeverEnd) {
  uint64_t v = 0;
  const std::string eleven_bytes = std::string(10, '\x80') + '\x00';
  Reader eleven(eleven_bytes);
  EXPECT_FALSE(eleven.GetVarint64(&v));
  const std::string tenth_too_big_bytes = std::string(9, '\xff') + '\x02';
  Reader tenth_too_big(tenth_too_big_bytes);
  EXPECT_FALSE(tenth_too_big.GetVarint64(&v));
  Reader unterminated("\x80\x80");
  EXPECT_FALSE(unterminated.GetVarint64(&v));
  Reader empty("");
  EXPECT_FALSE(empty.GetVarint64(&v));
}

TEST(WriterReaderTest, FixedWidthIsLittleEndian) {
  std::string s;
  Writer w(&s);
  w.PutFixed32(0x04030201u);
  w.PutFixed64(0x0807060504030201ull);
  EXPECT_EQ(s, std::string("\x01\x02\x03\x04\x01\x02\x03\x04\x05\x06\x07\x08", 12));
  Reader r(s);
  uint32_t a = 0;
  uint64_t b = 0;
  ASSERT_TRUE(r.GetFixed32(&a) && r.GetFixed64(&b));
  EXPECT_EQ(a, 0x04030201u);
  EXPECT_EQ(b, 0x0807060504030201ull);
  EXPECT_TRUE(r.done());
}

TEST(WriterReaderTest, BytesAreBoundsCheckedAndViewTheInput) {
  std::string s;
  Writer w(&s);
  w.PutBytes("hello");
  w.PutRaw("xy", 2);
  EXPECT_EQ(w.buffer(), &s);
  Reader r(s);
  std::string_view got;
  ASSERT_TRUE(r.GetBytes(&got));
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(got.data(), s.data() + 1);
  EXPECT_EQ(r.remaining(), 2u);
  char raw[2];
  ASSERT_TRUE(r.GetRaw(raw, 2));
  EXPECT_TRUE(r.GetRaw(nullptr, 0));
  EXPECT_TRUE(r.done());

  Reader short_bytes("\005abc");
  EXPECT_FALSE(short_bytes.GetBytes(&got));
  Reader huge_length("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
  EXPECT_FALSE(huge_length.GetBytes(&got));
}

TEST(WriterReaderTest, FailureIsSticky) {
  Reader r(std::string_view("\x01\x02", 2));
  uint32_t v = 0;
  EXPECT_FALSE(r.GetFixed32(&v));
  EXPECT_FALSE(r.ok());
  uint64_t u = 0;
  EXPECT_FALSE(r.GetVarint64(&u));  // bytes remain, but the reader has failed
  EXPECT_FALSE(r.done());

  Reader f("\x01");
  f.Fail();
  EXPECT_FALSE(f.GetVarint64(&u));
  EXPECT_FALSE(f.done());
}

// ------------------------------------------------------------------------------ scalars

template <typename T>
class IntegerCodecTest : public ::testing::Test {};
using IntegerTypes = ::testing::Types<int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                                      int64_t, uint64_t, signed char, unsigned char, wchar_t,
                                      char16_t, char32_t, long long, unsigned long long>;
TYPED_TEST_SUITE(IntegerCodecTest, IntegerTypes);

TYPED_TEST(IntegerCodecTest, RoundTripsAtBoundaries) {
  using L = std::numeric_limits<TypeParam>;
  for (TypeParam v : {L::min(), static_cast<TypeParam>(L::min() + 1), TypeParam{0}, TypeParam{1},
                      static_cast<TypeParam>(L::max() - 1), L::max()}) {
    ExpectRoundTrip(v);
  }
}

TEST(CodecTest, ZigzagKeepsSmallNegativesShort) {
  EXPECT_EQ(EncodeToString(int64_t{0}), std::string(1, '\0'));
  EXPECT_EQ(EncodeToString(int64_t{-1}), "\x01");
  EXPECT_EQ(EncodeToString(int64_t{1}), "\x02");
  EXPECT_EQ(EncodeToString(int64_t{-64}).size(), 1u);
  EXPECT_EQ(EncodeToString(int64_t{64}).size(), 2u);
  EXPECT_EQ(EncodeToString(std::numeric_limits<int64_t>::min()).size(), 10u);
  EXPECT_EQ(EncodeToString(uint32_t{300}), "\xac\x02");
}

TEST(CodecTest, OutOfRangeIntegersAreRejected) {
  int8_t i8 = 0;
  EXPECT_FALSE(DecodeFromString(EncodeToString(int64_t{128}), &i8));
  EXPECT_FALSE(DecodeFromString(EncodeToString(int64_t{-129}), &i8));
  EXPECT_TRUE(DecodeFromString(EncodeToString(int64_t{-128}), &i8));
  EXPECT_EQ(i8, -128);
  uint8_t u8 = 0;
  EXPECT_FALSE(DecodeFromString(EncodeToString(uint64_t{256}), &u8));
  uint32_t u32 = 0;
  EXPECT_FALSE(DecodeFromString(EncodeToString(uint64_t{1} << 32), &u32));
  int32_t i32 = 0;
  EXPECT_FALSE(DecodeFromString(EncodeToString(int64_t{1} << 31), &i32));
}

TEST(CodecTest, BoolAndChar) {
  ExpectRoundTrip(true);
  ExpectRoundTrip(false);
  EXPECT_EQ(EncodeToString(true), "\x01");
  bool b = false;
  EXPECT_FALSE(DecodeFromString("\x02", &b));
  EXPECT_FALSE(DecodeFromString("\xff", &b));
  for (char c : {'a', '\0', '\x7f', '\x80', '\xff'}) ExpectRoundTrip(c);
  EXPECT_EQ(EncodeToString('z'), "z");
}

// Compares bit patterns, so that NaN equals itself and -0.0 differs from 0.0.
template <typename F>
void ExpectBitExactRoundTrip(F f) {
  using Bits = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
  const std::string bytes = EncodeToString(f);
  EXPECT_EQ(bytes.size(), sizeof(F));
  F out = 0;
  ASSERT_TRUE(DecodeFromString(bytes, &out));
  Bits want, got;
  std::memcpy(&want, &f, sizeof(F));
  std::memcpy(&got, &out, sizeof(F));
  EXPECT_EQ(got, want) << f;
}

TEST(CodecTest, FloatingPointKeepsEveryBit) {
  using D = std::numeric_limits<double>;
  for (double d : {0.0, -0.0, 1.5, -2.25, D::min(), D::denorm_min(), D::max(), D::lowest(),
                   D::infinity(), -D::infinity(), D::quiet_NaN()}) {
    ExpectBitExactRoundTrip(d);
  }
  using F = std::numeric_limits<float>;
  for (float f : {0.0f, -0.0f, 0.1f, F::denorm_min(), F::max(), -F::infinity(), F::quiet_NaN()}) {
    ExpectBitExactRoundTrip(f);
  }
  EXPECT_EQ(EncodeToString(1.0), std::string("\0\0\0\0\0\0\xf0\x3f", 8));
}

TEST(CodecTest, EnumsUseTheirUnderlyingInteger) {
  ExpectRoundTrip(Color::kBlue);
  ExpectRoundTrip(kNegative);
  EXPECT_EQ(EncodeToString(Color::kBlue), EncodeToString(uint8_t{200}));
  Color c{};
  EXPECT_FALSE(DecodeFromString(EncodeToString(uint64_t{300}), &c));
}

TEST(CodecTest, Strings) {
  ExpectRoundTrip(std::string());
  ExpectRoundTrip(std::string("hello"));
  ExpectRoundTrip(std::string("a\0b\xff", 4));
  ExpectRoundTrip(std::string(1000, 'x'));
  const std::string big(1 << 20, 'q');
  std::string out;
  ASSERT_TRUE(DecodeFromString(EncodeToString(big), &out));
  EXPECT_EQ(out, big);
  EXPECT_EQ(EncodeToString(std::string("ab")), "\002ab");
}

// ------------------------------------------------------------------ composite types

TEST(CodecTest, PairsAndTuples) {
  ExpectRoundTrip(std::make_pair(7, std::string("seven")));
  ExpectRoundTrip(std::make_pair(std::string("word"), std::make_pair(1, 2)));
  ExpectRoundTrip(std::tuple<>());
  ExpectRoundTrip(std::make_tuple(int64_t{-3}, 2.5, std::string("x"), true, 'c'));
  ExpectRoundTrip(std::make_tuple(std::make_tuple(1), std::make_pair(2u, std::tuple<>())));
  EXPECT_EQ(EncodeToString(std::make_pair(uint8_t{1}, 'a')), "\001a");
}

TEST(CodecTest, Vectors) {
  ExpectRoundTrip(std::vector<int>{});
  ExpectRoundTrip(std::vector<int>{1, -1, std::numeric_limits<int>::min()});
  ExpectRoundTrip(std::vector<double>{0.5, -1e300});
  ExpectRoundTrip(std::vector<char>{'a', '\0', 'z'});
  ExpectRoundTrip(std::vector<std::string>{"", "a", std::string(200, 'b')});
  ExpectRoundTrip(std::vector<std::vector<std::string>>{{}, {"x"}, {"y", "z"}});
  ExpectRoundTrip(std::vector<std::vector<std::vector<int>>>{{{1}, {}}, {}, {{2, 3}}});
  ExpectRoundTrip(std::vector<bool>{true, false, true});
  ExpectRoundTrip(std::vector<std::pair<std::string, int64_t>>{{"a", 1}, {"b", -2}});
  ExpectRoundTrip(std::vector<std::tuple<>>(1000));
}

TEST(CodecTest, VectorsOfFixedWidthNumbersAreOneRawArray) {
  const std::vector<int32_t> v = {1, -1};
  EXPECT_EQ(EncodeToString(v), std::string("\x02\x01\0\0\0\xff\xff\xff\xff", 9));
  const std::vector<uint16_t> u = {0x0102};
  EXPECT_EQ(EncodeToString(u), std::string("\x01\x02\x01", 3));
  // A count the remaining bytes cannot hold, or a partial element, is malformed.
  std::vector<int32_t> out;
  EXPECT_FALSE(DecodeFromString(std::string("\x02\x01\0\0\0\xff\xff\xff", 8), &out));
  EXPECT_FALSE(DecodeFromString(std::string("\x01\x01\0\0", 4), &out));
}

TEST(CodecTest, Optionals) {
  ExpectRoundTrip(std::optional<int>());
  ExpectRoundTrip(std::optional<int>(0));
  ExpectRoundTrip(std::optional<std::string>("s"));
  ExpectRoundTrip(std::optional<std::optional<int>>(std::optional<int>()));
  ExpectRoundTrip(std::optional<std::optional<int>>(5));
  std::optional<int> o = 3;
  ASSERT_TRUE(DecodeFromString(EncodeToString(std::optional<int>()), &o));
  EXPECT_FALSE(o.has_value());
  EXPECT_FALSE(DecodeFromString("\x02\x00", &o));
}

TEST(CodecTest, MapsAndSets) {
  ExpectRoundTrip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  ExpectRoundTrip(std::map<int, std::vector<std::string>>{{1, {"x"}}, {2, {}}});
  ExpectRoundTrip(std::unordered_map<std::string, double>{{"pi", 3.14}, {"e", 2.72}});
  ExpectRoundTrip(std::set<int64_t>{-5, 0, 5});
  ExpectRoundTrip(std::unordered_set<std::string>{"a", "b", "c"});
  ExpectRoundTrip(std::map<std::string, std::vector<std::pair<int, std::optional<double>>>>{
      {"k", {{1, 2.0}, {3, std::nullopt}}}, {"", {}}});
  ExpectRoundTrip(std::map<Point, std::set<std::string>>{{{1, 2}, {"p"}}});
  std::map<std::string, int> m = {{"stale", 1}};
  ASSERT_TRUE(DecodeFromString(EncodeToString(std::map<std::string, int>{{"a", 1}}), &m));
  EXPECT_EQ(m.size(), 1u);
}

TEST(CodecTest, RepeatedKeysAreMalformed) {
  std::set<int> s;
  EXPECT_FALSE(DecodeFromString(std::string("\x02\x02\x02", 3), &s));
  std::unordered_map<std::string, int> m;
  EXPECT_FALSE(DecodeFromString(std::string("\x02\x01k\x02\x01k\x04", 7), &m));
  std::map<std::string, int> ok;
  EXPECT_TRUE(DecodeFromString(std::string("\x02\x01k\x02\x01l\x04", 7), &ok));
}

TEST(CodecTest, EqualUnorderedContainersEncodeToEqualBytes) {
  std::unordered_set<int> a, b;
  b.reserve(1000);
  for (int i = 0; i < 200; ++i) a.insert(i);
  for (int i = 199; i >= 0; --i) b.insert(i);
  EXPECT_EQ(EncodeToString(a), EncodeToString(b));
  std::unordered_map<std::string, std::unordered_set<int>> m1, m2;
  for (int i = 0; i < 50; ++i) m1[std::to_string(i)] = {i, i + 1, i + 2};
  m2.rehash(512);
  for (int i = 49; i >= 0; --i) m2[std::to_string(i)] = {i + 2, i + 1, i};
  EXPECT_EQ(EncodeToString(m1), EncodeToString(m2));
}

// -------------------------------------------------------- protobuf-like and user types

TEST(CodecTest, ProtobufLikeMessagesTravelAsLengthPrefixedBytes) {
  static_assert(kHasCodec<FakeProto> && kHasCodec<FakeProtoArray>);
  ExpectRoundTrip(FakeProto{"hello"});
  ExpectRoundTrip(FakeProtoArray{-42});
  ExpectRoundTrip(std::vector<FakeProto>{{"a"}, {""}, {"c"}});
  EXPECT_EQ(EncodeToString(FakeProto{"ab"}), "\003Pab");
  // Well-framed bytes that the messages' own parsers refuse.
  FakeProto p;
  EXPECT_FALSE(DecodeFromString("\002Xa", &p));
  FakeProtoArray a;
  EXPECT_FALSE(DecodeFromString("\x02x1", &a));
}

TEST(CodecTest, UserTypesTravelAsLengthPrefixedBytes) {
  ExpectRoundTrip(Point{3, -4});
  ExpectRoundTrip(std::vector<Point>{{1, 2}, {-1, -2}});
  EXPECT_EQ(EncodeToString(Point{1, 2}), "\x02\x02\x04");
  // The user codec wins over the protobuf shape (whose SerializeToString would fail).
  BothShapes both;
  both.v = 9;
  EXPECT_EQ(EncodeToString(both), "\x01\x12");
  // Zero-byte records still take a byte each, so containers of them decode.
  ExpectRoundTrip(std::vector<Empty>(1000));
}

TEST(CodecTest, AMisbehavingDeserializeStaysInsideItsRecord) {
  // Greedy's second read would take the 5 that follows it, were it not confined to its frame.
  std::pair<Greedy, int> g;
  EXPECT_FALSE(DecodeFromString(EncodeToString(std::make_pair(Greedy{}, 5)), &g));
  std::pair<Lazy, int> l;
  EXPECT_FALSE(DecodeFromString(EncodeToString(std::make_pair(Lazy{}, 5)), &l));
}

TEST(CodecTest, HandWrittenSpecializations) {
  static_assert(kHasCodec<Celsius> && kHasCodec<std::vector<Celsius>>);
  ExpectRoundTrip(Celsius{36.6});
  ExpectRoundTrip(std::map<std::string, Celsius>{{"in", {21.5}}, {"out", {-3}}});
}

TEST(CodecTest, KnowsWhichTypesHaveACodec) {
  auto plain = [](int x) { return x; };
  std::string captured;
  auto capturing = [captured](int) { return captured; };
  static_assert(kHasCodec<int> && kHasCodec<std::string> && kHasCodec<std::tuple<>>);
  static_assert(kHasCodec<std::map<std::string, std::vector<std::optional<Point>>>>);
  static_assert(!kHasCodec<NoCodec>);
  static_assert(!kHasCodec<decltype(plain)> && !kHasCodec<decltype(capturing)>);
  static_assert(!kHasCodec<std::vector<NoCodec>> && !kHasCodec<std::optional<NoCodec>>);
  static_assert(!kHasCodec<std::pair<int, NoCodec>> && !kHasCodec<std::tuple<int, NoCodec>>);
  static_assert(!kHasCodec<std::map<NoCodec, int>> && !kHasCodec<std::set<NoCodec>>);
  static_assert(!kHasCodec<std::vector<std::vector<NoCodec>>>);
  static_assert(!kHasCodec<int*> && !kHasCodec<long double> && !kHasCodec<std::string_view>);
  (void)plain(0);
  (void)capturing(0);
}

// ----------------------------------------------------------- helpers and bad input

TEST(CodecTest, DecodeFromStringRejectsTrailingBytes) {
  int v = 0;
  EXPECT_TRUE(DecodeFromString(EncodeToString(5), &v));
  EXPECT_FALSE(DecodeFromString(EncodeToString(5) + "x", &v));
  std::vector<std::string> s;
  EXPECT_FALSE(DecodeFromString(EncodeToString(std::vector<std::string>{"a"}) + '\0', &s));
  EXPECT_FALSE(DecodeFromString("", &v));
}

TEST(CodecTest, EncodeVectorMatchesEncodeToStringAndDecodeVectorAppends) {
  const std::vector<std::pair<std::string, int>> v = {{"a", 1}, {"b", 2}};
  std::string bytes = "prefix";
  EncodeVector(v, &bytes);
  EXPECT_EQ(bytes, "prefix" + EncodeToString(v));
  std::vector<std::pair<std::string, int>> out = {{"old", 0}};
  ASSERT_TRUE(DecodeVector(std::string_view(bytes).substr(6), &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].first, "old");
  EXPECT_EQ(out[2], v[1]);

  std::vector<double> d = {1.0};
  std::string raw;
  EncodeVector(std::vector<double>{2.0, 3.0}, &raw);
  ASSERT_TRUE(DecodeVector(raw, &d));
  EXPECT_EQ(d, (std::vector<double>{1.0, 2.0, 3.0}));
}

TEST(CodecTest, DecodeVectorOfNothingIsEmptyAndFailureLeavesOutputAlone) {
  std::vector<int> out = {7};
  EXPECT_TRUE(DecodeVector("", &out));
  EXPECT_EQ(out, std::vector<int>{7});
  std::string bytes;
  EncodeVector(std::vector<int>{1, 2}, &bytes);
  EXPECT_FALSE(DecodeVector(bytes + "x", &out));
  EXPECT_FALSE(DecodeVector(bytes.substr(0, bytes.size() - 1), &out));
  EXPECT_EQ(out, std::vector<int>{7});
  std::vector<std::string> strings = {"keep"};
  std::string sb;
  EncodeVector(std::vector<std::string>{"a", "b"}, &sb);
  EXPECT_FALSE(DecodeVector(sb.substr(0, sb.size() - 1), &strings));
  EXPECT_EQ(strings, std::vector<std::string>{"keep"});
}

template <typename T>
bool Rejects(const std::string& bytes) {
  T v{};
  return !DecodeFromString(bytes, &v);
}
template <typename... Ts>
void ExpectAllReject(const std::string& bytes) {
  const std::pair<const char*, bool> results[] = {{typeid(Ts).name(), Rejects<Ts>(bytes)}...};
  for (const auto& [type, rejected] : results) EXPECT_TRUE(rejected) << type;
}

// A forged count must be refused before anything is reserved: a reserve() of 2^64 elements
// would throw and fail this test.
TEST(CodecTest, HugeCountsAreRefusedBeforeAllocating) {
  const std::string max_count = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
  const std::string count_2_40 = "\x80\x80\x80\x80\x80\x20";
  for (const std::string& count : {max_count, count_2_40}) {
    for (const std::string& tail : {std::string(), std::string(64, '\0'), std::string(64, 'a')}) {
      const std::string bytes = count + tail;
      ExpectAllReject<std::vector<std::string>, std::vector<int64_t>, std::vector<double>,
                      std::vector<std::tuple<>>, std::vector<Empty>, std::vector<bool>,
                      std::map<int, int>, std::unordered_set<std::string>, std::string>(bytes);
      std::vector<int64_t> vi;
      std::vector<std::string> vs;
      EXPECT_FALSE(DecodeVector(bytes, &vi));
      EXPECT_FALSE(DecodeVector(bytes, &vs));
    }
  }
}

// ------------------------------------------------------------------------------- fuzz

using Record = std::tuple<int64_t, uint8_t, std::string, std::vector<std::pair<uint32_t, double>>,
                          std::optional<std::map<std::string, std::set<int16_t>>>, bool, char,
                          float, std::unordered_map<int, std::vector<std::string>>, Point,
                          std::vector<bool>, FakeProto>;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  template <typename I>
  I Int() {
    return static_cast<I>(rng_() >> Below(64));  // many small values, some huge
  }
  std::string Str() {
    std::string s(Below(6), '\0');
    for (char& c : s) c = static_cast<char>(Below(256));
    return s;
  }
  Record MakeRecord() {
    Record r;
    std::get<0>(r) = Int<int64_t>();
    std::get<1>(r) = Int<uint8_t>();
    std::get<2>(r) = Str();
    for (uint64_t i = Below(4); i > 0; --i) {
      std::get<3>(r).emplace_back(Int<uint32_t>(), static_cast<double>(Int<int32_t>()) / 7);
    }
    if (Below(2) == 1) {
      auto& m = std::get<4>(r).emplace();
      for (uint64_t i = Below(3); i > 0; --i) m[Str()].insert(Int<int16_t>());
    }
    std::get<5>(r) = Below(2) == 1;
    std::get<6>(r) = static_cast<char>(Below(256));
    std::get<7>(r) = static_cast<float>(Int<int32_t>()) / 3;
    for (uint64_t i = Below(3); i > 0; --i) std::get<8>(r)[Int<int>()].push_back(Str());
    std::get<9>(r) = Point{Int<int32_t>(), Int<int32_t>()};
    for (uint64_t i = Below(10); i > 0; --i) std::get<10>(r).push_back(Below(2) == 1);
    std::get<11>(r).name = Str();
    return r;
  }
  // Bytes skewed towards the values that steer a decoder: small counts, flags, varint ends.
  std::string Bytes() {
    static const char kInteresting[] = {'\0', '\x01', '\x02', '\x03', '\x7f', '\x80', '\xff', 'P'};
    std::string s(Below(48), '\0');
    for (char& c : s) {
      c = Below(2) == 0 ? kInteresting[Below(sizeof kInteresting)] : static_cast<char>(Below(256));
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// Whatever a decode accepts must re-encode to bytes that decode to the same encoding.
template <typename T>
void ExpectStableIfAccepted(std::string_view bytes) {
  T v{};
  if (!DecodeFromString(bytes, &v)) return;
  const std::string again = EncodeToString(v);
  T w{};
  ASSERT_TRUE(DecodeFromString(again, &w));
  EXPECT_EQ(EncodeToString(w), again);
}

TEST(CodecFuzzTest, ValidRecordsRoundTripAndEveryTruncationFails) {
  Gen gen(20240601);
  for (int i = 0; i < 2000; ++i) {
    const Record r = gen.MakeRecord();
    const std::string bytes = EncodeToString(r);
    Record out;
    ASSERT_TRUE(DecodeFromString(bytes, &out));
    ASSERT_TRUE(out == r) << i;
    for (size_t n = 0; n < bytes.size(); ++n) {
      ASSERT_FALSE(DecodeFromString(std::string_view(bytes).substr(0, n), &out)) << i << " " << n;
    }
  }
}

TEST(CodecFuzzTest, CorruptedRecordsNeverCrash) {
  Gen gen(7);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string bytes = EncodeToString(gen.MakeRecord());
    for (int flips = 0; flips < 5; ++flips) {
      std::string bad = bytes;
      bad[gen.Below(bad.size())] = static_cast<char>(gen.Below(256));
      if (gen.Below(4) == 0) bad.insert(gen.Below(bad.size()), 1, '\x80');
      Record out;
      ++(DecodeFromString(bad, &out) ? accepted : rejected);
      ExpectStableIfAccepted<Record>(bad);
    }
  }
  // Both outcomes occur: a flip inside a string or number still decodes, one in a length,
  // count or flag does not.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

TEST(CodecFuzzTest, RandomBytesNeverCrash) {
  Gen gen(42);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string bytes = gen.Bytes();
    ExpectStableIfAccepted<std::vector<std::string>>(bytes);
    ExpectStableIfAccepted<std::map<int64_t, std::optional<std::vector<uint16_t>>>>(bytes);
    ExpectStableIfAccepted<std::vector<std::tuple<bool, char, std::set<int8_t>>>>(bytes);
    ExpectStableIfAccepted<std::unordered_map<std::string, std::vector<bool>>>(bytes);
    ExpectStableIfAccepted<std::pair<FakeProtoArray, std::vector<Point>>>(bytes);
    ExpectStableIfAccepted<std::vector<std::vector<double>>>(bytes);
    ExpectStableIfAccepted<Record>(bytes);
    std::vector<std::pair<int32_t, std::string>> appended;
    if (DecodeVector(bytes, &appended)) ++accepted;
  }
  EXPECT_GT(accepted, 0);  // the generator does reach valid encodings
}

}  // namespace
}  // namespace ember
