#pragma once
// How a user function travels to an executor (DESIGN.md, decision 2).
//
// A closure is shipped as bytes: a trivially copyable closure (a lambda capturing numbers, or
// nothing) is copied byte for byte; any other function object must say how it serializes, with
// the same members a user type gives its Codec. Anything else fails to compile with a message
// that says what to do.

#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <type_traits>

#include "common/codec.h"

namespace ember {
namespace internal {

template <typename F>
inline constexpr bool kIsShippable = std::is_trivially_copyable_v<F> || kHasCodec<F>;

#define EMBER_ASSERT_SHIPPABLE(F)                                                           \
  static_assert(::ember::internal::kIsShippable<F>,                                         \
                "ember: this function cannot be shipped to executors because its captures " \
                "are not trivially copyable. Capture only plain values (numbers, enums, "   \
                "fixed arrays), not std::string, containers or smart pointers; pass large " \
                "or non-trivial data as a broadcast variable (ssc.broadcast(value)) and "   \
                "capture the Broadcast handle; or write a function object with members "    \
                "`void serialize(ember::Writer&) const` and `bool deserialize(ember::Reader&)`")

template <typename F>
void SaveClosure(const F& f, Writer& w) {
  EMBER_ASSERT_SHIPPABLE(F);
  if constexpr (std::is_trivially_copyable_v<F>) {
    w.PutBytes(std::string_view(reinterpret_cast<const char*>(&f), sizeof(F)));
  } else {
    std::string bytes;
    Writer inner(&bytes);
    Codec<F>::Encode(f, inner);
    w.PutBytes(bytes);
  }
}

template <typename F>
std::optional<F> LoadClosure(Reader& r) {
  EMBER_ASSERT_SHIPPABLE(F);
  std::string_view bytes;
  if (!r.GetBytes(&bytes)) return std::nullopt;
  if constexpr (std::is_trivially_copyable_v<F>) {
    if (bytes.size() != sizeof(F)) return std::nullopt;
    // A trivially copyable object may be recreated from its bytes; lambdas have no default
    // constructor, so the bytes go into suitably aligned storage and are copied out.
    alignas(F) unsigned char storage[sizeof(F)];
    std::memcpy(storage, bytes.data(), sizeof(F));
    return *std::launder(reinterpret_cast<F*>(storage));
  } else {
    F f;
    Reader inner(bytes);
    if (!Codec<F>::Decode(inner, &f) || !inner.done()) return std::nullopt;
    return f;
  }
}

}  // namespace internal
}  // namespace ember
