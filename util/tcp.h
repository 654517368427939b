#pragma once
// A TCP connection to HOST:PORT, for the receivers that read a socket (socketTextStream, MQTT).

#include <string>

#include "absl/time/time.h"

namespace ember {

// A connected, blocking socket (close-on-exec), or -1 with `error` saying why. Every address
// the host resolves to is tried, each for at most `timeout`.
int ConnectTcp(const std::string& host, int port, absl::Duration timeout, std::string* error);

}  // namespace ember
