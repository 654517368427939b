// Hadoop's SequenceFile, written and read as Hadoop's SequenceFile.Writer and Reader do
// (common/hadoop.h has the layout), with zlib for DefaultCodec and GzipCodec.

#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/hadoop.h"

namespace ember {
namespace internal {
namespace {

constexpr char kDefaultCodecClass[] = "org.apache.hadoop.io.compress.DefaultCodec";
constexpr char kGzipCodecClass[] = "org.apache.hadoop.io.compress.GzipCodec";
// DeflateCodec is DefaultCodec under another name: the same zlib streams.
constexpr char kDeflateCodecClass[] = "org.apache.hadoop.io.compress.DeflateCodec";
constexpr size_t kSyncSize = 16;
constexpr int32_t kSyncEscape = -1;
// Hadoop's SYNC_INTERVAL (5 KB * 20 bytes) and io.seqfile.compress.blocksize defaults.
constexpr size_t kSyncInterval = 5 * 1024 * 20;
constexpr size_t kCompressionBlockSize = 1000000;

void PutText(std::string_view s, std::string* out) {
  PutHadoopVLong(static_cast<int64_t>(s.size()), out);
  out->append(s);
}

// Writes whole zlib (DefaultCodec) or gzip (GzipCodec) streams, one per call, as the codec's
// compression stream writes them between resetState() and finish(); one z_stream serves every
// call (deflateReset), as Hadoop reuses its compressor.
class Compressor {
 public:
  Compressor(hadoop::Codec codec, int level) {
    if (level < -1 || level > 9) {
      throw EmberError("zlib compression level " + std::to_string(level) +
                       " is out of range (0 to 9, or -1 for zlib's default)");
    }
    if (deflateInit2(&z_, level, Z_DEFLATED, codec == hadoop::Codec::kGzip ? 31 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      throw EmberError("zlib: cannot start a compression stream");
    }
  }
  ~Compressor() { deflateEnd(&z_); }
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  void Compress(std::string_view data, std::string* out) {
    deflateReset(&z_);
    out->resize(deflateBound(&z_, data.size()) + 32);
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    z_.next_out = reinterpret_cast<Bytef*>(out->data());
    z_.avail_out = static_cast<uInt>(out->size());
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) throw EmberError("zlib: compression failed");
    out->resize(out->size() - z_.avail_out);
  }

 private:
  z_stream z_{};
};

// Inflates whole zlib or gzip streams (concatenated gzip members too), one per call, with one
// z_stream for the file (inflateReset).
class Decompressor {
 public:
  Decompressor() {
    if (inflateInit2(&z_, 15 + 32) != Z_OK) {  // +32: zlib or gzip, by its header
      throw EmberError("zlib: cannot start a decompression stream");
    }
  }
  ~Decompressor() { inflateEnd(&z_); }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // False when `data` is not one whole stream.
  bool Decompress(std::string_view data, std::string* out) {
    out->clear();
    if (inflateReset(&z_) != Z_OK) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    char buf[64 * 1024];
    while (true) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof(buf);
      int rc = inflate(&z_, Z_NO_FLUSH);
      out->append(buf, sizeof(buf) - z_.avail_out);
      if (rc == Z_STREAM_END) {
        if (z_.avail_in == 0) return true;
        if (inflateReset(&z_) != Z_OK) return false;  // another gzip member follows
        continue;
      }
      // An error, or the input ended before the stream did.
      if (rc != Z_OK || (z_.avail_in == 0 && z_.avail_out != 0)) return false;
    }
  }

 private:
  z_stream z_{};
};

const char* CodecClass(hadoop::Codec codec) {
  return codec == hadoop::Codec::kGzip ? kGzipCodecClass : kDefaultCodecClass;
}

// A cursor over a file's bytes that names the file and the offset in its errors.
class Input {
 public:
  Input(std::string_view bytes, const std::string& name) : all_(bytes), rest_(bytes), name_(name) {}
  size_t offset() const { return all_.size() - rest_.size(); }
  bool done() const { return rest_.empty(); }
  [[noreturn]] void Fail(const std::string& what) const {
    throw EmberError(absl::StrCat("SequenceFile ", name_, ": ", what, " at byte ", offset()));
  }
  std::string_view Take(size_t n, const char* what) {
    if (rest_.size() < n) Fail(absl::StrCat("truncated (", what, ")"));
    std::string_view s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }
  int32_t Int(const char* what) {
    uint32_t v = 0;
    if (!GetBigEndian32(&rest_, &v)) Fail(absl::StrCat("truncated (", what, ")"));
    return static_cast<int32_t>(v);
  }
  int64_t VLong(const char* what) {
    int64_t v = 0;
    if (!GetHadoopVLong(&rest_, &v)) Fail(absl::StrCat("truncated (", what, ")"));
    return v;
  }
  size_t Length(const char* what) {
    int64_t n = VLong(what);
    if (n < 0 || static_cast<uint64_t>(n) > rest_.size()) {
      Fail(absl::StrCat("bad length ", n, " (", what, ")"));
    }
    return static_cast<size_t>(n);
  }
  std::string_view Text(const char* what) { return Take(Length(what), what); }
  bool Bool(const char* what) { return Take(1, what)[0] != 0; }

 private:
  std::string_view all_;
  std::string_view rest_;
  const std::string& name_;
};

}  // namespace

struct SequenceFileWriter::State {
  SequenceFileHeader header;
  std::string out;
  char sync[kSyncSize];
  size_t last_sync = 0;
  // Block compression: the block's key lengths, keys, value lengths and values.
  std::string key_lengths, keys, value_lengths, values;
  int64_t buffered = 0;
  std::string compressed;
  std::unique_ptr<Compressor> compressor;  // when compressed

  void WriteSync() {
    if (last_sync == out.size()) return;
    PutBigEndian32(static_cast<uint32_t>(kSyncEscape), &out);
    out.append(sync, kSyncSize);
    last_sync = out.size();
  }
  void WriteCompressedBuffer(const std::string& buffer) {
    compressor->Compress(buffer, &compressed);
    PutHadoopVLong(static_cast<int64_t>(compressed.size()), &out);
    out.append(compressed);
  }
  void FlushBlock() {
    if (buffered == 0) return;
    WriteSync();
    PutHadoopVLong(buffered, &out);
    WriteCompressedBuffer(key_lengths);
    WriteCompressedBuffer(keys);
    WriteCompressedBuffer(value_lengths);
    WriteCompressedBuffer(values);
    key_lengths.clear();
    keys.clear();
    value_lengths.clear();
    values.clear();
    buffered = 0;
  }
};

SequenceFileWriter::SequenceFileWriter(const SequenceFileHeader& header)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.header = header;
  // Hadoop derives the marker from a UID and the time; any 16 bytes unlikely to occur in the
  // data serve.
  std::random_device random;
  for (size_t i = 0; i < kSyncSize; i += 4) {
    uint32_t r = random();
    std::memcpy(s.sync + i, &r, 4);
  }
  s.out.append("SEQ\x06", 4);
  PutText(header.key_class, &s.out);
  PutText(header.value_class, &s.out);
  bool compressed = header.compression != hadoop::CompressionType::kNone;
  s.out.push_back(compressed ? 1 : 0);
  s.out.push_back(header.compression == hadoop::CompressionType::kBlock ? 1 : 0);
  if (compressed) {
    PutText(CodecClass(header.codec), &s.out);
    s.compressor = std::make_unique<Compressor>(header.codec, header.level);
  }
  PutBigEndian32(static_cast<uint32_t>(header.metadata.size()), &s.out);
  for (const auto& [k, v] : header.metadata) {
    PutText(k, &s.out);
    PutText(v, &s.out);
  }
  s.out.append(s.sync, kSyncSize);
}

SequenceFileWriter::~SequenceFileWriter() = default;

void SequenceFileWriter::Append(std::string_view key, std::string_view value) {
  State& s = *state_;
  switch (s.header.compression) {
    case hadoop::CompressionType::kBlock:
      PutHadoopVLong(static_cast<int64_t>(key.size()), &s.key_lengths);
      s.keys.append(key);
      PutHadoopVLong(static_cast<int64_t>(value.size()), &s.value_lengths);
      s.values.append(value);
      ++s.buffered;
      if (s.keys.size() + s.values.size() >= kCompressionBlockSize) s.FlushBlock();
      return;
    case hadoop::CompressionType::kRecord:
      s.compressor->Compress(value, &s.compressed);
      value = s.compressed;
      break;
    case hadoop::CompressionType::kNone:
      break;
  }
  if (s.out.size() >= s.last_sync + kSyncInterval) s.WriteSync();
  PutBigEndian32(static_cast<uint32_t>(key.size() + value.size()), &s.out);
  PutBigEndian32(static_cast<uint32_t>(key.size()), &s.out);
  s.out.append(key);
  s.out.append(value);
}

std::string SequenceFileWriter::Finish() {
  state_->FlushBlock();
  return std::move(state_->out);
}

void ReadSequenceFile(std::string_view bytes, const std::string& name,
                      SequenceFileVisitor* visitor) {
  Input in(bytes, name);
  if (bytes.size() < 4 || bytes.substr(0, 3) != "SEQ") in.Fail("not a SequenceFile (no SEQ)");
  int version = static_cast<unsigned char>(in.Take(4, "version")[3]);
  if (version < 4 || version > 6) {
    in.Fail(absl::StrCat("version ", version, " is not read (versions 4 to 6 are)"));
  }
  SequenceFileHeader header;
  header.key_class = std::string(in.Text("key class"));
  header.value_class = std::string(in.Text("value class"));
  bool compressed = in.Bool("compression flag");
  bool block = in.Bool("block compression flag");
  if (compressed) {
    std::string codec = version >= 5 ? std::string(in.Text("codec")) : kDefaultCodecClass;
    if (codec == kDefaultCodecClass || codec == kDeflateCodecClass) {
      header.codec = hadoop::Codec::kDefault;
    } else if (codec == kGzipCodecClass) {
      header.codec = hadoop::Codec::kGzip;
    } else {
      in.Fail("codec " + codec + " is not read (DefaultCodec, DeflateCodec and GzipCodec are)");
    }
    header.compression = block ? hadoop::CompressionType::kBlock : hadoop::CompressionType::kRecord;
  }
  if (version >= 6) {
    int32_t entries = in.Int("metadata count");
    if (entries < 0) in.Fail("negative metadata count");
    for (int32_t i = 0; i < entries; ++i) {
      std::string k(in.Text("metadata key"));
      header.metadata.emplace_back(std::move(k), std::string(in.Text("metadata value")));
    }
  }
  std::string_view sync = in.Take(kSyncSize, "sync marker");
  visitor->Header(header);

  auto check_sync = [&] {
    if (in.Take(kSyncSize, "sync entry") != sync) in.Fail("sync entry does not match the header's");
  };
  Decompressor inflater;
  std::string value_buffer;
  if (header.compression != hadoop::CompressionType::kBlock) {
    while (!in.done()) {
      int32_t length = in.Int("record length");
      if (length == kSyncEscape) {
        check_sync();
        continue;
      }
      int32_t key_length = in.Int("key length");
      if (length < 0 || key_length < 0 || key_length > length) {
        in.Fail(absl::StrCat("bad record: length ", length, ", key length ", key_length));
      }
      std::string_view key = in.Take(static_cast<size_t>(key_length), "key");
      std::string_view value = in.Take(static_cast<size_t>(length - key_length), "value");
      if (compressed) {
        if (!inflater.Decompress(value, &value_buffer)) {
          in.Fail("a compressed value does not inflate");
        }
        value = value_buffer;
      }
      visitor->Record(key, value);
    }
    return;
  }
  std::string buffers[4];  // key lengths, keys, value lengths, values
  static constexpr const char* kBufferNames[4] = {"key lengths", "keys", "value lengths", "values"};
  while (!in.done()) {
    if (in.Int("sync escape") != kSyncEscape) in.Fail("a block does not start with a sync entry");
    check_sync();
    int64_t records = in.VLong("block record count");
    if (records < 0) in.Fail("negative block record count");
    for (int i = 0; i < 4; ++i) {
      std::string_view packed = in.Text(kBufferNames[i]);
      if (!inflater.Decompress(packed, &buffers[i])) {
        in.Fail(absl::StrCat("a block's ", kBufferNames[i], " do not inflate"));
      }
    }
    std::string_view key_lengths = buffers[0], keys = buffers[1];
    std::string_view value_lengths = buffers[2], values = buffers[3];
    for (int64_t r = 0; r < records; ++r) {
      int64_t kn = 0, vn = 0;
      if (!GetHadoopVLong(&key_lengths, &kn) || !GetHadoopVLong(&value_lengths, &vn) || kn < 0 ||
          vn < 0 || static_cast<uint64_t>(kn) > keys.size() ||
          static_cast<uint64_t>(vn) > values.size()) {
        in.Fail(absl::StrCat("block record ", r, " of ", records, " overruns its block"));
      }
      std::string_view key = keys.substr(0, static_cast<size_t>(kn));
      std::string_view value = values.substr(0, static_cast<size_t>(vn));
      keys.remove_prefix(static_cast<size_t>(kn));
      values.remove_prefix(static_cast<size_t>(vn));
      visitor->Record(key, value);
    }
  }
}

void CheckSequenceFileClasses(const SequenceFileHeader& header, const char* key_class,
                              const char* value_class, const std::string& name) {
  if (header.key_class != key_class || header.value_class != value_class) {
    throw EmberError(absl::StrCat("SequenceFile ", name, " holds (", header.key_class, ", ",
                                  header.value_class, ") records, not the (", key_class, ", ",
                                  value_class, ") its reader's types are written as"));
  }
}

}  // namespace internal
}  // namespace ember
