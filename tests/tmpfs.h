#pragma once
// A small tmpfs mounted for a test (the full-disk tests), and a file that fills it. Mounting
// needs root. The mount is made in a mount namespace of the test's own (its children share
// it), so it goes with the test's process even when that dies; the destructor removes it
// before.

#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace ember {
namespace testing {

// A tmpfs of `megabytes` at `dir` while it lives.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, int megabytes) : dir_(dir) {
    std::filesystem::create_directories(dir);
    // Possible while the process has one thread (before the test starts any): otherwise the
    // mount is shared, as before.
    static const bool own_namespace =
        unshare(CLONE_NEWNS) == 0 && mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    (void)own_namespace;
    std::string options = "size=" + std::to_string(megabytes) + "m";
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ = "mount tmpfs at " + dir + ": " + strerror(errno) + " (the test needs root)";
    }
  }
  ~Tmpfs() {
    if (error_.empty()) umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }

 private:
  std::string dir_, error_;
};

// The bytes free on the filesystem of `path`.
inline uint64_t FreeBytes(const std::string& path) {
  struct statvfs fs;
  if (statvfs(path.c_str(), &fs) != 0) return 0;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Writes zeros to `path` until `leave` bytes are free on its filesystem; the bytes written.
inline int64_t FillUntil(const std::string& path, uint64_t leave) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::vector<char> chunk(64 << 10, 0);
  int64_t written = 0;
  while (FreeBytes(path) > leave + chunk.size()) {
    size_t n = std::fwrite(chunk.data(), 1, chunk.size(), f);
    written += static_cast<int64_t>(n);
    if (n < chunk.size() || std::fflush(f) != 0) break;
  }
  std::fclose(f);
  return written;
}

}  // namespace testing
}  // namespace ember
