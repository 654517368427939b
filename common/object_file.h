#pragma once
// Ember's object files (saveAsObjectFiles), the counterpart of Spark's SequenceFile of
// serialized objects. A file is:
//   magic "EMBEROBJ" (8 bytes) | version varint (1) | records...
// and each record is a varint byte length followed by the record's Codec<T> encoding.
// Records can be read back with ReadObjectFile<T>(path) or ReadObjectFiles<T>(dir).

#include <string>
#include <vector>

#include "common/codec.h"
#include "common/errors.h"

namespace ember {

inline constexpr char kObjectFileMagic[] = "EMBEROBJ";

template <typename T>
std::string EncodeObjectFile(const std::vector<T>& records) {
  std::string out(kObjectFileMagic, 8);
  Writer w(&out);
  w.PutVarint64(1);
  std::string one;
  for (const T& x : records) {
    one.clear();
    Writer rw(&one);
    Encode(x, rw);
    w.PutBytes(one);
  }
  return out;
}

// False when `bytes` is not a complete object file of T records.
template <typename T>
bool DecodeObjectFile(std::string_view bytes, std::vector<T>* out) {
  if (bytes.size() < 8 || bytes.substr(0, 8) != std::string_view(kObjectFileMagic, 8)) {
    return false;
  }
  Reader r(bytes.substr(8));
  uint64_t version = 0;
  if (!r.GetVarint64(&version) || version != 1) return false;
  while (r.remaining() > 0) {
    std::string_view rec;
    if (!r.GetBytes(&rec)) return false;
    T x;
    if (!DecodeFromString(rec, &x)) return false;
    out->push_back(std::move(x));
  }
  return r.ok();
}

namespace internal {
// Reads a whole file; throws EmberError naming the path on failure.
std::string ReadWholeFile(const std::string& path);
// The part-NNNNN files of a saved directory, in order.
std::vector<std::string> ListPartFiles(const std::string& dir);
}  // namespace internal

// Reads one object file; throws EmberError when it is missing or malformed.
template <typename T>
std::vector<T> ReadObjectFile(const std::string& path) {
  std::vector<T> out;
  if (!DecodeObjectFile(internal::ReadWholeFile(path), &out)) {
    throw EmberError("not an Ember object file of this record type: " + path);
  }
  return out;
}

// Reads every part file of a directory written by saveAsObjectFiles, in partition order.
template <typename T>
std::vector<T> ReadObjectFiles(const std::string& dir) {
  std::vector<T> out;
  for (const std::string& path : internal::ListPartFiles(dir)) {
    std::vector<T> part = ReadObjectFile<T>(path);
    out.insert(out.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  return out;
}

}  // namespace ember
