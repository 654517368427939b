#pragma once
// A hash that is the same in every process, so that map tasks on different executors send a
// key to the same reducer. (absl::Hash is seeded per process and cannot be used for this.)
// Specialize ember::StableHash<T> for a key type to override the codec-bytes fallback.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "common/codec.h"

namespace ember {

namespace internal {

inline uint64_t Mix64(uint64_t x) {
  // The splitmix64 finalizer: every input bit affects every output bit.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t HashBytes(const char* p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ Mix64(w)) * 0x9fb21c651e98df25ULL;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ Mix64(w ^ (uint64_t{n} << 56))) * 0x9fb21c651e98df25ULL;
  }
  return Mix64(h);
}

inline uint64_t HashCombine(uint64_t a, uint64_t b) {
  return Mix64(a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2)));
}

}  // namespace internal

template <typename T, typename Enable = void>
struct StableHash {
  uint64_t operator()(const T& v) const {
    std::string bytes = EncodeToString(v);
    return internal::HashBytes(bytes.data(), bytes.size());
  }
};

template <typename T>
struct StableHash<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>> {
  uint64_t operator()(T v) const { return internal::Mix64(static_cast<uint64_t>(v)); }
};

template <typename T>
struct StableHash<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  uint64_t operator()(T v) const {
    if (v == 0) v = 0;  // +0.0 and -0.0 are equal keys
    double d = v;
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    return internal::Mix64(bits);
  }
};

template <>
struct StableHash<std::string> {
  uint64_t operator()(const std::string& s) const {
    return internal::HashBytes(s.data(), s.size());
  }
};

template <typename A, typename B>
struct StableHash<std::pair<A, B>> {
  uint64_t operator()(const std::pair<A, B>& p) const {
    return internal::HashCombine(StableHash<A>()(p.first), StableHash<B>()(p.second));
  }
};

template <typename... Ts>
struct StableHash<std::tuple<Ts...>> {
  uint64_t operator()(const std::tuple<Ts...>& t) const {
    uint64_t h = 0;
    std::apply(
        [&h](const Ts&... xs) { ((h = internal::HashCombine(h, StableHash<Ts>()(xs))), ...); }, t);
    return h;
  }
};

namespace internal {
// The reducer a key goes to. The bits taken differ from the ones a hash map uses, so that the
// keys of one reducer still spread over its hash table.
template <typename K>
inline int PartitionOf(const K& key, int num_partitions) {
  return static_cast<int>((StableHash<K>()(key) >> 32) % static_cast<uint64_t>(num_partitions));
}
}  // namespace internal

}  // namespace ember
