#include "util/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ember {
namespace internal {

uint32_t Crc32(const std::string& data) {
  static const auto* table = [] {
    auto* t = new uint32_t[256];
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = table[(crc ^ c) & 0xFFu] ^ (crc >> 8);
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

absl::Status WriteFileAtomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  absl::Status s = WriteFileSynced(tmp, data);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = strerror(errno);
    unlink(tmp.c_str());
    return absl::InternalError("cannot rename " + tmp + ": " + why);
  }
  size_t slash = path.rfind('/');
  SyncDirectory(slash == std::string::npos ? "." : path.substr(0, slash));
  return absl::OkStatus();
}

absl::Status WriteFramedFile(const std::string& path, const std::string& magic,
                             const std::string& data) {
  std::string framed = absl::StrCat(magic, " ", data.size(), " ", Crc32(data), "\n");
  framed += data;
  return WriteFileAtomically(path, framed);
}

absl::StatusOr<std::string> ReadFramedFile(const std::string& path, const std::string& magic) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::ostringstream all;
  all << in.rdbuf();
  std::string bytes = all.str();
  size_t eol = bytes.find('\n');
  std::istringstream header(bytes.substr(0, eol == std::string::npos ? 0 : eol));
  std::string m;
  size_t size = 0;
  uint32_t crc = 0;
  if (eol == std::string::npos || !(header >> m >> size >> crc) || m != magic) {
    return absl::DataLossError(path + " is not a " + magic + " file (torn or corrupt)");
  }
  std::string data = bytes.substr(eol + 1);
  if (data.size() != size || Crc32(data) != crc) {
    return absl::DataLossError(path + " fails its length or CRC check (torn or corrupt)");
  }
  return data;
}

}  // namespace internal
}  // namespace ember
