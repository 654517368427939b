// Runtime helpers the header-only API declares: part files, object files, broadcasts.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/broadcast.h"
#include "common/dstream.h"
#include "common/errors.h"
#include "common/hadoop.h"
#include "common/object_file.h"
#include "common/result_ops.h"
#include "runtime/runtime_hooks.h"

namespace ember {
namespace internal {

namespace {

void MakeDirs(const std::string& dir) {
  std::string path;
  std::stringstream parts(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') path = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    path += part;
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      throw EmberError("cannot create directory " + path + ": " + std::strerror(errno));
    }
    path += "/";
  }
}

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw EmberError("cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      throw EmberError("cannot write " + tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    throw EmberError("cannot write " + path + ": " + std::strerror(err));
  }
}

}  // namespace

void WritePartFile(const std::string& dir, int partition, const std::string& contents,
                   const std::string& prefix) {
  MakeDirs(dir);
  WriteFileAtomically(absl::StrFormat("%s/%s%05d", dir, prefix, partition), contents);
}

namespace {
// `path` without trailing slashes, split into its parent ("." when none) and its name.
std::pair<std::string, std::string> SplitOutputPath(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p == "/" || p == "." || p == "..") {
    throw EmberError("cannot save to \"" + path + "\": not a directory name");
  }
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return {".", p};
  return {slash == 0 ? "/" : p.substr(0, slash), p.substr(slash + 1)};
}
void RemoveTree(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) throw EmberError("cannot remove " + path + ": " + error.message());
}
}  // namespace

std::string BeginOutputDirectory(const std::string& path) {
  auto [parent, name] = SplitOutputPath(path);
  // Hidden ('.'), so that Hadoop's and Spark's readers and Ember's file streams skip it.
  std::string temporary = parent + "/." + name + ".ember-temporary";
  RemoveTree(temporary);
  MakeDirs(temporary);
  return temporary;
}

void CommitOutputDirectory(const std::string& temporary, const std::string& path) {
  auto [parent, name] = SplitOutputPath(path);
  WriteFileAtomically(temporary + "/_SUCCESS", "");  // complete, as Hadoop's committer marks it
  struct stat st;
  std::string replaced;
  if (lstat(path.c_str(), &st) == 0) {
    // A batch written again: the earlier copy moves aside whole, then goes.
    replaced = parent + "/." + name + ".ember-replaced";
    RemoveTree(replaced);
    if (rename(path.c_str(), replaced.c_str()) != 0) {
      throw EmberError("cannot replace " + path + ": " + std::strerror(errno));
    }
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    int err = errno;
    if (!replaced.empty()) rename(replaced.c_str(), path.c_str());
    throw EmberError("cannot rename " + temporary + " to " + path + ": " + std::strerror(err));
  }
  if (!replaced.empty()) RemoveTree(replaced);
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EmberError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> ListPartFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) throw EmberError("cannot list " + dir + ": " + std::strerror(errno));
  std::vector<std::string> parts;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("part-", 0) == 0 && name.find(".tmp-") == std::string::npos) {
      parts.push_back(dir + "/" + name);
    }
  }
  closedir(d);
  std::sort(parts.begin(), parts.end());
  return parts;
}

std::string BatchDirectory(const std::string& prefix, const std::string& suffix, Time time) {
  // As Spark's rddToFileName: an empty prefix leaves out the dash too.
  std::string dir = std::to_string(time.milliseconds());
  if (!prefix.empty()) dir = prefix + "-" + dir;
  if (!suffix.empty()) dir += "." + suffix;
  return dir;
}

// ------------------------------------------------------------------------------ broadcasts

namespace {
struct BroadcastEntry {
  std::string bytes;
  std::shared_ptr<const void> value;  // decoded on first use
};
absl::Mutex broadcast_mu(absl::kConstInit);
// Ids start at a random point so that a restarted driver does not reuse the ids an executor
// may still remember from its previous run.
int64_t next_broadcast_id ABSL_GUARDED_BY(broadcast_mu) = -1;
BroadcastFetcher* broadcast_fetcher ABSL_GUARDED_BY(broadcast_mu) = nullptr;
absl::flat_hash_map<int64_t, BroadcastEntry>& Broadcasts() {
  static auto* map = new absl::flat_hash_map<int64_t, BroadcastEntry>();
  return *map;
}
}  // namespace

int64_t NewBroadcast(std::string bytes) {
  absl::MutexLock lock(&broadcast_mu);
  if (next_broadcast_id < 0) {
    next_broadcast_id = static_cast<int64_t>(std::random_device()() & 0x7fffffff) << 20;
  }
  int64_t id = next_broadcast_id++;
  Broadcasts()[id].bytes = std::move(bytes);
  return id;
}

void SetBroadcastFetcher(BroadcastFetcher fetcher) {
  absl::MutexLock lock(&broadcast_mu);
  delete broadcast_fetcher;
  broadcast_fetcher = fetcher ? new BroadcastFetcher(std::move(fetcher)) : nullptr;
}

bool BroadcastBytes(int64_t id, std::string* out) {
  absl::MutexLock lock(&broadcast_mu);
  auto it = Broadcasts().find(id);
  if (it == Broadcasts().end()) return false;
  *out = it->second.bytes;
  return true;
}

const void* BroadcastValue(int64_t id, BroadcastDecodeFn decode) {
  absl::MutexLock lock(&broadcast_mu);
  auto it = Broadcasts().find(id);
  if (it == Broadcasts().end() && broadcast_fetcher != nullptr) {
    // An executor: the bytes live on the driver. Fetch them without holding the lock.
    BroadcastFetcher fetch = *broadcast_fetcher;
    broadcast_mu.Unlock();
    absl::StatusOr<std::string> bytes = fetch(id);
    broadcast_mu.Lock();
    if (!bytes.ok()) {
      throw EmberError("cannot fetch broadcast variable " + std::to_string(id) + ": " +
                       std::string(bytes.status().message()));
    }
    it = Broadcasts().find(id);
    if (it == Broadcasts().end())
      it = Broadcasts().emplace(id, BroadcastEntry{*bytes, nullptr}).first;
  }
  if (it == Broadcasts().end()) {
    throw EmberError("unknown broadcast variable " + std::to_string(id));
  }
  if (it->second.value == nullptr) {
    it->second.value = decode(it->second.bytes);
    if (it->second.value == nullptr) {
      throw EmberError("broadcast variable " + std::to_string(id) + " does not decode");
    }
  }
  return it->second.value.get();
}

// ------------------------------------------------------------------------ progress hook

namespace {
absl::Mutex observer_mu(absl::kConstInit);
ProgressObserverFactory* observer_factory ABSL_GUARDED_BY(observer_mu) = nullptr;
}  // namespace

void SetProgressObserverFactory(ProgressObserverFactory factory) {
  absl::MutexLock lock(&observer_mu);
  delete observer_factory;
  observer_factory = factory ? new ProgressObserverFactory(std::move(factory)) : nullptr;
}

ProgressObserverFactory GetProgressObserverFactory() {
  absl::MutexLock lock(&observer_mu);
  return observer_factory == nullptr ? nullptr : *observer_factory;
}

}  // namespace internal
}  // namespace ember
