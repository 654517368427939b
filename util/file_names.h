#pragma once
// File names made from what clients send (application ids, plugin names): only the safe
// characters of the name's last path component, so that no name reaches outside its
// directory or starts with a dot.

#include <string>

#include "absl/strings/string_view.h"

namespace ember {
namespace internal {

// "../a b/lib x.so" -> "lib_x.so"; letters, digits, '.', '-' and '_' kept, others '_';
// "job" prepended to an empty name or one starting with '.'.
std::string SafeFileName(absl::string_view name);

}  // namespace internal
}  // namespace ember
