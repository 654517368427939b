#pragma once
// How the programs show the protocol's enums to people.

#include <string>

#include "proto/cluster.pb.h"

namespace ember {
namespace proto {

// "RUNNING", "FINISHED", ... (the enum's name without its "APP_" prefix).
inline std::string AppStateName(AppState state) {
  std::string name = AppState_Name(state);
  return name.rfind("APP_", 0) == 0 ? name.substr(4) : name;
}

}  // namespace proto
}  // namespace ember
