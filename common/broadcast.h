#pragma once
// Broadcast variables: read-only data sent once to every executor instead of with every task.
// A Broadcast<T> is a small handle that closures capture by value.

#include <cstdint>
#include <memory>
#include <string>

#include "common/codec.h"
#include "common/errors.h"

namespace ember {

namespace internal {
using BroadcastDecodeFn = std::shared_ptr<const void> (*)(std::string_view bytes);
// The decoded value of broadcast `id` in this process, decoding it on first use.
const void* BroadcastValue(int64_t id, BroadcastDecodeFn decode);
int64_t NewBroadcast(std::string bytes);

template <typename T>
std::shared_ptr<const void> DecodeBroadcast(std::string_view bytes) {
  auto v = std::make_shared<T>();
  if (!DecodeFromString(bytes, v.get())) return nullptr;
  return v;
}
}  // namespace internal

template <typename T>
class Broadcast {
 public:
  Broadcast() = default;
  // The value, decoded once per process. Throws EmberError when the broadcast is unknown.
  const T& value() const {
    return *static_cast<const T*>(internal::BroadcastValue(id_, &internal::DecodeBroadcast<T>));
  }
  int64_t id() const { return id_; }

  static Broadcast Create(const T& value) {
    Broadcast b;
    b.id_ = internal::NewBroadcast(EncodeToString(value));
    return b;
  }

 private:
  int64_t id_ = -1;
};

}  // namespace ember
