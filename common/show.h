#pragma once
// How a record prints in print() and saveAsTextFiles(): exactly as Spark (Scala) prints it, so
// that output can be diffed against a Spark job's. Scala's toString is the model throughout:
//   strings and chars as they are, bool true/false, integers in decimal
//   float, double       Java's Double.toString / Float.toString (see AppendJavaFloating)
//   pair, tuple         (a,b,c)                  no spaces, like scala.Tuple3
//   vector/deque/list   Vector(1, 2, 3)
//   set                 Set(a, b)
//   map                 Map(k -> v, k2 -> v2)
//   optional            Some(x) / None
// then, for other types: a protobuf message's ShortDebugString(), a `std::string toString()
// const` member, or an operator<<, in that order.

#include <charconv>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ember {
namespace internal {

template <typename>
inline constexpr bool kShowAlwaysFalse = false;

// Java's rule: plain decimal for 1e-3 <= |x| < 1e7, else d.dddE±n; always a digit after the
// point. The digits are the shortest that round-trip (std::to_chars), as in Java 19+, with one
// deliberate difference: where the shortest is a single digit, Java shows the two-digit decimal
// nearest the exact value, which only differs from "d.0" for the least precise subnormals:
// Java prints Double.MIN_VALUE as "4.9E-324" and Float.MIN_VALUE as "1.4E-45", we print
// "5.0E-324" and "1.0E-45".
template <typename F>
void AppendJavaFloating(F x, std::string* out) {
  if (std::isnan(x)) {
    out->append("NaN");
    return;
  }
  if (std::signbit(x)) {
    out->push_back('-');
    x = -x;
  }
  if (std::isinf(x)) {
    out->append("Infinity");
    return;
  }
  if (x == 0) {
    out->append("0.0");
    return;
  }
  // Shortest scientific form: "d[.ddd]e[+-]xx".
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e = s.find('e');
  std::string digits(1, s[0]);
  if (e > 2) digits.append(s.substr(2, e - 2));
  const char* exp_begin = s.data() + e + 1;
  if (*exp_begin == '+') ++exp_begin;
  int exp = 0;
  std::from_chars(exp_begin, s.data() + s.size(), exp);

  const double magnitude = static_cast<double>(x);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exp >= 0) {
      const size_t int_digits = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_digits) {
        out->append(digits);
        out->append(int_digits - digits.size(), '0');
        out->append(".0");
      } else {
        out->append(digits, 0, int_digits);
        out->push_back('.');
        out->append(digits, int_digits, std::string::npos);
      }
    } else {
      out->append("0.");
      out->append(static_cast<size_t>(-exp - 1), '0');
      out->append(digits);
    }
  } else {
    out->push_back(digits[0]);
    out->push_back('.');
    if (digits.size() > 1) {
      out->append(digits, 1, std::string::npos);
    } else {
      out->push_back('0');
    }
    out->push_back('E');
    char ebuf[16];
    const auto er = std::to_chars(ebuf, ebuf + sizeof ebuf, exp);
    out->append(ebuf, er.ptr);
  }
}

template <typename T, typename = void>
struct HasShortDebugString : std::false_type {};
template <typename T>
struct HasShortDebugString<
    T, std::enable_if_t<std::is_convertible_v<decltype(std::declval<const T&>().ShortDebugString()),
                                              std::string>>> : std::true_type {};

template <typename T, typename = void>
struct HasToString : std::false_type {};
template <typename T>
struct HasToString<T, std::enable_if_t<std::is_convertible_v<
                          decltype(std::declval<const T&>().toString()), std::string>>>
    : std::true_type {};

template <typename T, typename = void>
struct HasStreamOut : std::false_type {};
template <typename T>
struct HasStreamOut<
    T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

// Templates printed by the rules above; they never fall back to operator<< (a user's
// operator<< for, say, std::vector would otherwise make the choice ambiguous).
template <typename T>
struct IsShownStdTemplate : std::false_type {};
template <typename A, typename B>
struct IsShownStdTemplate<std::pair<A, B>> : std::true_type {};
template <typename... Ts>
struct IsShownStdTemplate<std::tuple<Ts...>> : std::true_type {};
template <typename T, typename A>
struct IsShownStdTemplate<std::vector<T, A>> : std::true_type {};
template <typename T, typename A>
struct IsShownStdTemplate<std::deque<T, A>> : std::true_type {};
template <typename T, typename A>
struct IsShownStdTemplate<std::list<T, A>> : std::true_type {};
template <typename T, typename C, typename A>
struct IsShownStdTemplate<std::set<T, C, A>> : std::true_type {};
template <typename T, typename H, typename E, typename A>
struct IsShownStdTemplate<std::unordered_set<T, H, E, A>> : std::true_type {};
template <typename K, typename V, typename C, typename A>
struct IsShownStdTemplate<std::map<K, V, C, A>> : std::true_type {};
template <typename K, typename V, typename H, typename E, typename A>
struct IsShownStdTemplate<std::unordered_map<K, V, H, E, A>> : std::true_type {};
template <typename T>
struct IsShownStdTemplate<std::optional<T>> : std::true_type {};

// Which of the "other types" rules applies; at most one is true for a given T.
template <typename T>
inline constexpr bool kUserShowable =
    !IsShownStdTemplate<T>::value && !std::is_same_v<T, std::string> &&
    !std::is_same_v<T, std::string_view> && (std::is_class_v<T> || std::is_enum_v<T>);
template <typename T>
inline constexpr bool kShowAsProto = kUserShowable<T> && (HasShortDebugString<T>::value);
template <typename T>
inline constexpr bool kShowAsToString =
    !HasShortDebugString<T>::value && HasToString<T>::value && kUserShowable<T>;
template <typename T>
inline constexpr bool kShowAsStream = !HasShortDebugString<T>::value && !HasToString<T>::value &&
                                      HasStreamOut<T>::value && kUserShowable<T>;

template <typename T, typename Enable = void>
struct ShowImpl {
  // Lets kHasShow answer without instantiating Append and its static_assert.
  using EmberNoShow = void;
  static void Append(const T&, std::string*) {
    static_assert(kShowAlwaysFalse<T>,
                  "ember: cannot print this type. Give T a member `std::string toString() const` "
                  "or an `std::ostream& operator<<(std::ostream&, const T&)`. Pairs, tuples, "
                  "optionals and containers print only when all their element types do.");
  }
};

template <typename T, typename = void>
struct HasShow : std::true_type {};
template <typename T>
struct HasShow<T, std::void_t<typename ShowImpl<T>::EmberNoShow>> : std::false_type {};

}  // namespace internal

// True iff Show<T> compiles; asking never triggers the "cannot print" static_assert.
template <typename T>
inline constexpr bool kHasShow = internal::HasShow<T>::value;

// Appends v as Scala would print it.
template <typename T>
void Show(const T& v, std::string* out) {
  internal::ShowImpl<T>::Append(v, out);
}

template <typename T>
std::string ToShowString(const T& v) {
  std::string out;
  Show(v, &out);
  return out;
}

namespace internal {

// ------------------------------------------------------------------------------ scalars

template <>
struct ShowImpl<std::string> {
  static void Append(const std::string& v, std::string* out) { out->append(v); }
};
template <>
struct ShowImpl<std::string_view> {
  static void Append(std::string_view v, std::string* out) { out->append(v); }
};
template <>
struct ShowImpl<const char*> {
  // Scala prints a null String as "null".
  static void Append(const char* v, std::string* out) { out->append(v ? v : "null"); }
};
template <>
struct ShowImpl<char*> {
  static void Append(const char* v, std::string* out) { out->append(v ? v : "null"); }
};
// A string literal; it may hold a NUL before its end.
template <size_t N>
struct ShowImpl<char[N]> {
  static void Append(const char (&v)[N], std::string* out) {
    const char* nul = std::char_traits<char>::find(v, N, '\0');
    out->append(v, nul != nullptr ? static_cast<size_t>(nul - v) : N);
  }
};
template <>
struct ShowImpl<char> {
  static void Append(char v, std::string* out) { out->push_back(v); }
};
template <>
struct ShowImpl<bool> {
  static void Append(bool v, std::string* out) { out->append(v ? "true" : "false"); }
};

// Every other integer type, signed char and unsigned char included (Scala's Byte is a number).
template <typename T>
struct ShowImpl<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                    !std::is_same_v<T, char>>> {
  static void Append(T v, std::string* out) {
    using Wide = std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>;
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, static_cast<Wide>(v));
    out->append(buf, res.ptr);
  }
};

template <>
struct ShowImpl<double> {
  static void Append(double v, std::string* out) { AppendJavaFloating(v, out); }
};
template <>
struct ShowImpl<float> {
  static void Append(float v, std::string* out) { AppendJavaFloating(v, out); }
};

// ---------------------------------------------------------------------- pairs and tuples

template <typename A, typename B>
struct ShowImpl<std::pair<A, B>, std::enable_if_t<kHasShow<A> && kHasShow<B>>> {
  static void Append(const std::pair<A, B>& v, std::string* out) {
    out->push_back('(');
    Show(v.first, out);
    out->push_back(',');
    Show(v.second, out);
    out->push_back(')');
  }
};

template <typename... Ts>
struct ShowImpl<std::tuple<Ts...>, std::enable_if_t<(kHasShow<Ts> && ...)>> {
  static void Append(const std::tuple<Ts...>& v, std::string* out) {
    out->push_back('(');
    if constexpr (sizeof...(Ts) > 0) {
      std::apply(
          [out](const auto& first, const auto&... rest) {
            Show(first, out);
            ((out->push_back(','), Show(rest, out)), ...);
          },
          v);
    }
    out->push_back(')');
  }
};

// ---------------------------------------------------------------------------- containers

// "Name(e1, e2)". Elements are shown as value_type so that vector<bool>'s proxies print.
template <typename C>
void AppendElements(const char* name, const C& c, std::string* out) {
  out->append(name);
  out->push_back('(');
  bool first = true;
  for (const auto& x : c) {
    if (!first) out->append(", ");
    first = false;
    Show<typename C::value_type>(x, out);
  }
  out->push_back(')');
}

template <typename C>
void AppendMap(const C& c, std::string* out) {
  out->append("Map(");
  bool first = true;
  for (const auto& kv : c) {
    if (!first) out->append(", ");
    first = false;
    Show(kv.first, out);
    out->append(" -> ");
    Show(kv.second, out);
  }
  out->push_back(')');
}

template <typename T, typename A>
struct ShowImpl<std::vector<T, A>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::vector<T, A>& v, std::string* out) {
    AppendElements("Vector", v, out);
  }
};
template <typename T, typename A>
struct ShowImpl<std::deque<T, A>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::deque<T, A>& v, std::string* out) {
    AppendElements("Vector", v, out);
  }
};
template <typename T, typename A>
struct ShowImpl<std::list<T, A>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::list<T, A>& v, std::string* out) {
    AppendElements("Vector", v, out);
  }
};
template <typename T, typename C, typename A>
struct ShowImpl<std::set<T, C, A>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::set<T, C, A>& v, std::string* out) {
    AppendElements("Set", v, out);
  }
};
template <typename T, typename H, typename E, typename A>
struct ShowImpl<std::unordered_set<T, H, E, A>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::unordered_set<T, H, E, A>& v, std::string* out) {
    AppendElements("Set", v, out);
  }
};
template <typename K, typename V, typename C, typename A>
struct ShowImpl<std::map<K, V, C, A>, std::enable_if_t<kHasShow<K> && kHasShow<V>>> {
  static void Append(const std::map<K, V, C, A>& v, std::string* out) { AppendMap(v, out); }
};
template <typename K, typename V, typename H, typename E, typename A>
struct ShowImpl<std::unordered_map<K, V, H, E, A>, std::enable_if_t<kHasShow<K> && kHasShow<V>>> {
  static void Append(const std::unordered_map<K, V, H, E, A>& v, std::string* out) {
    AppendMap(v, out);
  }
};

template <typename T>
struct ShowImpl<std::optional<T>, std::enable_if_t<kHasShow<T>>> {
  static void Append(const std::optional<T>& v, std::string* out) {
    if (!v) {
      out->append("None");
      return;
    }
    out->append("Some(");
    Show(*v, out);
    out->push_back(')');
  }
};

// ------------------------------------------------------------------------- other types

template <typename T>
struct ShowImpl<T, std::enable_if_t<kShowAsProto<T>>> {
  static void Append(const T& v, std::string* out) { out->append(v.ShortDebugString()); }
};
template <typename T>
struct ShowImpl<T, std::enable_if_t<kShowAsToString<T>>> {
  static void Append(const T& v, std::string* out) { out->append(v.toString()); }
};
template <typename T>
struct ShowImpl<T, std::enable_if_t<kShowAsStream<T>>> {
  static void Append(const T& v, std::string* out) {
    std::ostringstream os;
    os << v;
    out->append(os.str());
  }
};

}  // namespace internal
}  // namespace ember
