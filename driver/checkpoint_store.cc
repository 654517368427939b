#include "driver/checkpoint_store.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ember {
namespace internal {

namespace {

namespace fs = std::filesystem;

uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

absl::Status WriteFileSynced(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError("cannot create " + path + ": " + strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = strerror(errno);
      close(fd);
      return absl::ResourceExhaustedError("cannot write " + path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string why = strerror(errno);
    close(fd);
    return absl::ResourceExhaustedError("cannot sync " + path + ": " + why);
  }
  close(fd);
  return absl::OkStatus();
}

void SyncDirectory(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

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
  for (size_t i = 0; i + 2 < times.size(); ++i) fs::remove_all(absl::StrCat(base, "/", times[i]), ec);
  return absl::OkStatus();
}

std::optional<StateCheckpoint> ReadLatestStateCheckpoint(const std::string& dir, int stream) {
  std::string base = StreamDir(dir, stream);
  std::error_code ec;
  std::vector<int64_t> times;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
      times.push_back(std::stoll(name));
    }
  }
  std::sort(times.rbegin(), times.rend());
  for (int64_t t : times) {
    std::string cp = absl::StrCat(base, "/", t);
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
  }
  return std::nullopt;
}

}  // namespace internal
}  // namespace ember
