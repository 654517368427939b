#include "util/task_status.h"

#include "absl/strings/cord.h"

namespace ember {
namespace internal {

namespace {
constexpr char kStateLostUrl[] = "ember.internal/StateLost";
}  // namespace

absl::Status StateLostStatus(absl::string_view message) {
  absl::Status s = absl::FailedPreconditionError(message);
  s.SetPayload(kStateLostUrl, absl::Cord());
  return s;
}

bool IsStateLost(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kStateLostUrl).has_value();
}

}  // namespace internal
}  // namespace ember
