#include "common/show.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

// Shaped like a generated protobuf message; ShortDebugString beats the other members.
struct FakeProto {
  std::string ShortDebugString() const { return "id: 7 name: \"x\""; }
  std::string toString() const { return "not this"; }
};

struct Temperature {
  double celsius;
  std::string toString() const { return "Temperature(" + std::to_string(celsius) + ")"; }
};
std::ostream& operator<<(std::ostream& os, const Temperature&) { return os << "not this"; }

struct Streamed {
  int id;
};
std::ostream& operator<<(std::ostream& os, const Streamed& s) { return os << "Streamed#" << s.id; }

enum class Level { kLow, kHigh };
std::ostream& operator<<(std::ostream& os, Level l) {
  return os << (l == Level::kLow ? "Low" : "High");
}

struct NoShow {};

}  // namespace

namespace ember {
namespace {

TEST(ShowTest, StringsAndCharsAsTheyAre) {
  EXPECT_EQ(ToShowString(std::string("hello world")), "hello world");
  EXPECT_EQ(ToShowString(std::string()), "");
  EXPECT_EQ(ToShowString(std::string_view("view")), "view");
  const char* c_str = "c string";
  EXPECT_EQ(ToShowString(c_str), "c string");
  const char* null_str = nullptr;
  EXPECT_EQ(ToShowString(null_str), "null");
  char buf[] = "mutable";
  EXPECT_EQ(ToShowString(static_cast<char*>(buf)), "mutable");
  EXPECT_EQ(ToShowString("literal"), "literal");
  EXPECT_EQ(ToShowString('x'), "x");
}

TEST(ShowTest, BoolsAndIntegers) {
  EXPECT_EQ(ToShowString(true), "true");
  EXPECT_EQ(ToShowString(false), "false");
  EXPECT_EQ(ToShowString(0), "0");
  EXPECT_EQ(ToShowString(-42), "-42");
  EXPECT_EQ(ToShowString(int8_t{-5}), "-5");  // Scala's Byte is a number, not a char
  EXPECT_EQ(ToShowString(uint8_t{200}), "200");
  EXPECT_EQ(ToShowString(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(ToShowString(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(ToShowString(size_t{12345}), "12345");
}

TEST(ShowTest, DoublesPrintAsJavaDoubleToString) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {1.0, "1.0"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {100.0, "100.0"},
      {123.456, "123.456"},
      {1000000.0, "1000000.0"},
      {1234567.125, "1234567.125"},
      {9999999.0, "9999999.0"},
      {1e7, "1.0E7"},
      {-1e7, "-1.0E7"},
      {12345678.9, "1.23456789E7"},
      {1e10, "1.0E10"},
      {1e21, "1.0E21"},
      {1.5e300, "1.5E300"},
      {0.001, "0.001"},
      {0.00123, "0.00123"},
      {0.00099, "9.9E-4"},
      {0.0001, "1.0E-4"},
      {1.234e-5, "1.234E-5"},
      {-1e-5, "-1.0E-5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {9007199254740992.0, "9.007199254740992E15"},
      {std::numeric_limits<double>::max(), "1.7976931348623157E308"},
      {std::numeric_limits<double>::min(), "2.2250738585072014E-308"},
      // Java prints Double.MIN_VALUE as "4.9E-324"; we print its shortest round-trip digits,
      // deliberately (see AppendJavaFloating).
      {std::numeric_limits<double>::denorm_min(), "5.0E-324"},
      {std::numeric_limits<double>::infinity(), "Infinity"},
      {-std::numeric_limits<double>::infinity(), "-Infinity"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const auto& [value, expected] : cases) EXPECT_EQ(ToShowString(value), expected) << expected;
}

TEST(ShowTest, FloatsUseFloatsShortestDigits) {
  EXPECT_EQ(ToShowString(0.1f), "0.1");  // not 0.10000000149011612, the double's digits
  EXPECT_EQ(ToShowString(1.1f), "1.1");
  EXPECT_EQ(ToShowString(100.0f), "100.0");
  EXPECT_EQ(ToShowString(-0.0f), "-0.0");
  EXPECT_EQ(ToShowString(0.001f), "0.001");
  EXPECT_EQ(ToShowString(1e-4f), "1.0E-4");
  EXPECT_EQ(ToShowString(16777216.0f), "1.6777216E7");
  EXPECT_EQ(ToShowString(1e10f), "1.0E10");
  EXPECT_EQ(ToShowString(std::numeric_limits<float>::max()), "3.4028235E38");
  // Java: "1.4E-45"; shortest round-trip digits, as for doubles.
  EXPECT_EQ(ToShowString(std::numeric_limits<float>::denorm_min()), "1.0E-45");
  EXPECT_EQ(ToShowString(std::numeric_limits<float>::quiet_NaN()), "NaN");
  EXPECT_EQ(ToShowString(-std::numeric_limits<float>::infinity()), "-Infinity");
}

TEST(ShowTest, PairsAndTuplesLikeScalaTuples) {
  EXPECT_EQ(ToShowString(std::make_pair(std::string("word"), 3)), "(word,3)");
  EXPECT_EQ(ToShowString(std::make_pair(std::string("word"), std::make_pair(1, 2))),
            "(word,(1,2))");
  EXPECT_EQ(ToShowString(std::make_tuple(1, 2.0, std::string("c"))), "(1,2.0,c)");
  EXPECT_EQ(ToShowString(std::make_tuple(true)), "(true)");
  EXPECT_EQ(ToShowString(std::tuple<>()), "()");
  EXPECT_EQ(ToShowString(std::make_pair(std::make_tuple('a', 'b'), 0.5)), "((a,b),0.5)");
}

TEST(ShowTest, SequencesLikeScalaVector) {
  EXPECT_EQ(ToShowString(std::vector<int>{1, 2, 3}), "Vector(1, 2, 3)");
  EXPECT_EQ(ToShowString(std::vector<int>{}), "Vector()");
  EXPECT_EQ(ToShowString(std::vector<std::string>{"a", "b c"}), "Vector(a, b c)");
  EXPECT_EQ(ToShowString(std::vector<bool>{true, false}), "Vector(true, false)");
  EXPECT_EQ(ToShowString(std::deque<double>{1.0, 0.5}), "Vector(1.0, 0.5)");
  EXPECT_EQ(ToShowString(std::list<char>{'x', 'y'}), "Vector(x, y)");
  EXPECT_EQ(ToShowString(std::vector<std::vector<int>>{{1}, {}}), "Vector(Vector(1), Vector())");
  EXPECT_EQ(ToShowString(std::make_pair(std::string("k"), std::vector<int>{1, 2})),
            "(k,Vector(1, 2))");
}

TEST(ShowTest, SetsAndMapsLikeScala) {
  EXPECT_EQ(ToShowString(std::set<std::string>{"b", "a"}), "Set(a, b)");
  EXPECT_EQ(ToShowString(std::set<int>{}), "Set()");
  EXPECT_EQ(ToShowString(std::unordered_set<int>{7}), "Set(7)");
  EXPECT_EQ(ToShowString(std::map<std::string, int>{{"a", 1}, {"b", 2}}), "Map(a -> 1, b -> 2)");
  EXPECT_EQ(ToShowString(std::map<int, int>{}), "Map()");
  EXPECT_EQ(ToShowString(std::unordered_map<std::string, std::vector<double>>{{"k", {1.5}}}),
            "Map(k -> Vector(1.5))");
  const std::string two = ToShowString(std::unordered_set<int>{1, 2});
  EXPECT_TRUE(two == "Set(1, 2)" || two == "Set(2, 1)") << two;
}

TEST(ShowTest, OptionalsLikeScalaOption) {
  EXPECT_EQ(ToShowString(std::optional<int>(5)), "Some(5)");
  EXPECT_EQ(ToShowString(std::optional<int>()), "None");
  EXPECT_EQ(ToShowString(std::optional<std::pair<std::string, int>>({"a", 1})), "Some((a,1))");
  EXPECT_EQ(ToShowString(std::optional<std::optional<int>>(std::optional<int>())), "Some(None)");
  EXPECT_EQ(ToShowString(std::make_pair(1, std::optional<double>())), "(1,None)");
}

TEST(ShowTest, OtherTypesByProtobufThenToStringThenStream) {
  EXPECT_EQ(ToShowString(FakeProto{}), "id: 7 name: \"x\"");
  EXPECT_EQ(ToShowString(Temperature{21.5}), "Temperature(21.500000)");
  std::ostringstream streamed;  // the operator<< that toString() takes precedence over
  streamed << Temperature{21.5};
  EXPECT_EQ(streamed.str(), "not this");
  EXPECT_EQ(ToShowString(Streamed{3}), "Streamed#3");
  EXPECT_EQ(ToShowString(Level::kHigh), "High");
  EXPECT_EQ(ToShowString(std::vector<Streamed>{{1}, {2}}), "Vector(Streamed#1, Streamed#2)");
  EXPECT_EQ(ToShowString(std::make_pair(std::string("p"), FakeProto{})), "(p,id: 7 name: \"x\")");
}

TEST(ShowTest, ShowAppends) {
  std::string out = "> ";
  Show(std::make_pair(1, 2), &out);
  Show(' ', &out);
  Show(2.0, &out);
  EXPECT_EQ(out, "> (1,2) 2.0");
}

TEST(ShowTest, KnowsWhichTypesPrint) {
  static_assert(kHasShow<int> && kHasShow<std::string> && kHasShow<const char*>);
  static_assert(kHasShow<std::map<std::string, std::vector<std::optional<Streamed>>>>);
  static_assert(kHasShow<FakeProto> && kHasShow<Temperature> && kHasShow<Level>);
  static_assert(!kHasShow<NoShow>);
  static_assert(!kHasShow<std::vector<NoShow>> && !kHasShow<std::optional<NoShow>>);
  static_assert(!kHasShow<std::pair<int, NoShow>> && !kHasShow<std::tuple<NoShow, int>>);
  static_assert(!kHasShow<std::map<NoShow, int>> && !kHasShow<std::set<NoShow>>);
  static_assert(!kHasShow<std::vector<std::vector<NoShow>>>);
}

}  // namespace
}  // namespace ember
