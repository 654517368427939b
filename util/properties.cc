#include "util/properties.h"

#include <fstream>

namespace ember {

bool SplitKeyValue(const std::string& kv, std::string* key, std::string* value) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *key = kv.substr(0, eq);
  *value = kv.substr(eq + 1);
  return true;
}

absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read properties file " + path);
  std::map<std::string, std::string> keys;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty()) continue;
    std::string key, value;
    if (!SplitKeyValue(line, &key, &value)) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(n) + ": expected KEY=VALUE");
    }
    keys[key] = value;
  }
  return keys;
}

}  // namespace ember
