#include "util/file_names.h"

#include <cctype>

namespace ember {
namespace internal {

std::string SafeFileName(absl::string_view name) {
  size_t slash = name.find_last_of('/');
  if (slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "job" + out;
  return out;
}

}  // namespace internal
}  // namespace ember
