#include "runtime/checkpoint_store.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/durable_file.h"

namespace ember {
namespace internal {

namespace {

namespace fs = std::filesystem;

std::string StreamDir(const std::string& dir, int stream) {
  return absl::StrCat(dir, "/state-", stream);
}

}  // namespace

absl::Status WriteStateCheckpoint(const std::string& dir, int stream, int64_t time_ms,
                                  const std::vector<std::string>& parts) {
  std::string base = StreamDir(dir, stream);
  std::string final_dir = absl::StrCat(base, "/", time_ms);
  std::string tmp = final_dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError("cannot create " + tmp + ": " + ec.message());
  std::string manifest = absl::StrCat("ember-state 1\n", time_ms, "\n", parts.size(), "\n");
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string name = absl::StrFormat("part-%05d", i);
    absl::Status s = WriteFileSynced(tmp + "/" + name, parts[i]);
    if (!s.ok()) {
      fs::remove_all(tmp, ec);
      return s;
    }
    absl::StrAppend(&manifest, name, " ", parts[i].size(), " ", Crc32(parts[i]), "\n");
  }
  absl::Status s = WriteFileSynced(tmp + "/MANIFEST", manifest);
  if (!s.ok()) {
    fs::remove_all(tmp, ec);
    return s;
  }
  SyncDirectory(tmp);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::InternalError("cannot rename " + tmp + ": " + ec.message());
  SyncDirectory(base);
  // Keep the newest two.
  std::vector<int64_t> times;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") == std::string::npos && !name.empty()) {
      times.push_back(std::stoll(name));
    }
  }
  std::sort(times.begin(), times.end());
  for (size_t i = 0; i + 2 < times.size(); ++i)
    fs::remove_all(absl::StrCat(base, "/", times[i]), ec);
  return absl::OkStatus();
}

std::optional<StateCheckpoint> ReadStateCheckpoint(const std::string& dir, int stream, int64_t t) {
  std::string cp = absl::StrCat(StreamDir(dir, stream), "/", t);
  std::ifstream manifest(cp + "/MANIFEST");
  std::string magic, version;
  int64_t time_ms = -1;
  size_t count = 0;
  bool ok = static_cast<bool>(manifest >> magic >> version >> time_ms >> count) &&
            magic == "ember-state" && version == "1" && time_ms == t;
  StateCheckpoint out;
  out.time_ms = t;
  for (size_t i = 0; ok && i < count; ++i) {
    std::string name;
    size_t size = 0;
    uint32_t crc = 0;
    ok = static_cast<bool>(manifest >> name >> size >> crc);
    if (!ok) break;
    std::ifstream in(cp + "/" + name, std::ios::binary);
    std::ostringstream data;
    data << in.rdbuf();
    std::string bytes = data.str();
    ok = in.good() || in.eof();
    ok = ok && bytes.size() == size && Crc32(bytes) == crc;
    out.parts.push_back(std::move(bytes));
  }
  if (ok) return out;
  LOG(WARNING) << "state checkpoint " << cp
               << " is incomplete or corrupt; falling back to the one before";
  return std::nullopt;
}

std::vector<int64_t> StateCheckpointTimes(const std::string& dir, int stream) {
  std::error_code ec;
  std::vector<int64_t> times;
  for (const auto& e : fs::directory_iterator(StreamDir(dir, stream), ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
      times.push_back(std::stoll(name));
    }
  }
  std::sort(times.rbegin(), times.rend());
  return times;
}

std::optional<StateCheckpoint> ReadLatestStateCheckpoint(const std::string& dir, int stream) {
  for (int64_t t : StateCheckpointTimes(dir, stream)) {
    auto cp = ReadStateCheckpoint(dir, stream, t);
    if (cp) return cp;
  }
  return std::nullopt;
}

namespace {

constexpr int kMetadataKept = 3;

// Metadata checkpoints, oldest first: (sequence number, path).
std::vector<std::pair<int64_t, std::string>> MetadataFiles(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/metadata", ec)) {
    const std::string name = e.path().filename().string();
    long long seq = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "checkpoint-%lld%c", &seq, &tail) == 1) {
      files.emplace_back(seq, e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

absl::Status WriteMetadataCheckpoint(const std::string& dir, const proto::MetadataCheckpoint& cp) {
  std::string base = dir + "/metadata";
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) return absl::InternalError("cannot create " + base + ": " + ec.message());
  std::string bytes;
  if (!cp.SerializeToString(&bytes)) return absl::InternalError("cannot encode a checkpoint");
  auto files = MetadataFiles(dir);
  int64_t seq = files.empty() ? 1 : files.back().first + 1;
  absl::Status s = WriteFramedFile(absl::StrCat(base, "/checkpoint-", seq), "EMCP", bytes);
  if (!s.ok()) return s;
  for (size_t i = 0; i + kMetadataKept <= files.size(); ++i) fs::remove(files[i].second, ec);
  return absl::OkStatus();
}

std::optional<proto::MetadataCheckpoint> ReadLatestMetadataCheckpoint(const std::string& dir) {
  auto files = MetadataFiles(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const std::string& path = it->second;
    auto bytes = ReadFramedFile(path, "EMCP");
    proto::MetadataCheckpoint cp;
    if (bytes.ok() && cp.ParseFromString(*bytes)) return cp;
    LOG(WARNING) << "metadata checkpoint " << path << " is unreadable ("
                 << (bytes.ok() ? "not a checkpoint" : std::string(bytes.status().message()))
                 << "); falling back to the one before";
  }
  return std::nullopt;
}

absl::Status WriteCheckpointSubmission(const std::string& dir, const std::string& submission) {
  return WriteFramedFile(dir + "/submission", "EMSB", submission);
}

absl::StatusOr<std::string> ReadCheckpointSubmission(const std::string& dir) {
  return ReadFramedFile(dir + "/submission", "EMSB");
}

}  // namespace internal
}  // namespace ember
