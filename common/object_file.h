#pragma once
// Ember's object files (saveAsObjectFiles): Hadoop SequenceFiles of NullWritable keys and
// BytesWritable values, each value one record's Codec<T> encoding, so that Hadoop's and Spark's
// tools can list and count the records (Spark's own object files are SequenceFiles of
// serialized Java objects in the same way). Read back with ReadObjectFile<T>(path),
// ReadObjectFiles<T>(dir) or StreamingContext::objectFileStream<T>(dir).
// Files of the format before (magic "EMBEROBJ", varint-framed records) are still read.

#include <string>
#include <vector>

#include "common/codec.h"
#include "common/errors.h"
#include "common/hadoop.h"

namespace ember {

namespace internal {

inline constexpr char kObjectFileMagic[] = "EMBEROBJ";  // the format before SequenceFiles

template <typename T>
std::string EncodeObjectFile(const std::vector<T>& records) {
  SequenceFileHeader header;
  header.key_class = Writable<hadoop::NullWritable>::kClass;
  header.value_class = Writable<hadoop::Bytes>::kClass;
  header.metadata = {{"ember.object.file", "1"}};
  SequenceFileWriter writer(header);
  std::string record, value;
  for (const T& x : records) {
    record.clear();
    Writer w(&record);
    Encode(x, w);
    value.clear();
    PutBigEndian32(static_cast<uint32_t>(record.size()), &value);
    value.append(record);
    writer.Append({}, value);
  }
  return writer.Finish();
}

template <typename T>
class ObjectFileReader : public SequenceFileVisitor {
 public:
  ObjectFileReader(const std::string& name, std::vector<T>* out) : name_(name), out_(out) {}
  void Header(const SequenceFileHeader& header) override {
    CheckSequenceFileClasses(header, Writable<hadoop::NullWritable>::kClass,
                             Writable<hadoop::Bytes>::kClass, name_);
  }
  void Record(std::string_view key, std::string_view value) override {
    uint32_t n = 0;
    T x;
    if (!key.empty() || !GetBigEndian32(&value, &n) || n != value.size() ||
        !DecodeFromString(value, &x)) {
      throw EmberError("object file " + name_ + ": record " + std::to_string(out_->size()) +
                       " is not of this record type");
    }
    out_->push_back(std::move(x));
  }

 private:
  const std::string& name_;
  std::vector<T>* out_;
};

// Appends the records of one object file to `out`; throws EmberError naming `name` when the
// bytes are not an object file of T records.
template <typename T>
void DecodeObjectFile(std::string_view bytes, const std::string& name, std::vector<T>* out) {
  if (bytes.substr(0, 8) == std::string_view(kObjectFileMagic, 8)) {
    Reader r(bytes.substr(8));
    uint64_t version = 0;
    bool ok = r.GetVarint64(&version) && version == 1;
    while (ok && r.remaining() > 0) {
      std::string_view rec;
      T x;
      ok = r.GetBytes(&rec) && DecodeFromString(rec, &x);
      if (ok) out->push_back(std::move(x));
    }
    if (!ok || !r.ok()) throw EmberError("not an Ember object file of this record type: " + name);
    return;
  }
  ObjectFileReader<T> reader(name, out);
  ReadSequenceFile(bytes, name, &reader);
}

}  // namespace internal

// Reads one object file; throws EmberError when it is missing or malformed.
template <typename T>
std::vector<T> ReadObjectFile(const std::string& path) {
  std::vector<T> out;
  internal::DecodeObjectFile(internal::ReadWholeFile(path), path, &out);
  return out;
}

// Reads every part file of a directory written by saveAsObjectFiles, in partition order.
template <typename T>
std::vector<T> ReadObjectFiles(const std::string& dir) {
  std::vector<T> out;
  for (const std::string& path : internal::ListPartFiles(dir)) {
    internal::DecodeObjectFile(internal::ReadWholeFile(path), path, &out);
  }
  return out;
}

}  // namespace ember
