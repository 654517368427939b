#pragma once
// Command-line configuration shared by ember-driver, ember-executor and ember-submit:
// KEY=VALUE arguments (--conf) and properties files (KEY=VALUE lines, '#' comments).

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace ember {

// "k=v" -> (k, v); false when there is no '=' or the key is empty.
bool SplitKeyValue(const std::string& kv, std::string* key, std::string* value);

// The keys of a properties file; an unreadable file or a malformed line ("FILE:LINE: expected
// KEY=VALUE") is an InvalidArgument error.
absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path);

}  // namespace ember
