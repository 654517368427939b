#pragma once
// Fault injection for tests, as Ray's rpc_chaos: with EMBER_TESTING_RPC_CHAOS set in a
// process's environment, its calls fail at random, each method's requests and replies with
// their own probability:
//
//   EMBER_TESTING_RPC_CHAOS="*=0.02:0.02"                 every method
//   EMBER_TESTING_RPC_CHAOS="RunTask=0.1:0,Heartbeat=0:0.5"
//
// METHOD=REQUEST:REPLY, comma separated; METHOD is the method's name (the part after the last
// '/'), or * for the methods not named. A dropped request is refused by the server from its
// metadata, before any handler sees it; a dropped reply is one the server sent and the client
// discards. Both end the call with UNAVAILABLE, as a connection lost at that point would.
// The processes a daemon starts inherit the variable. Never for production: it is read only
// from the environment, and the daemons log a warning when it is set.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ember {
namespace rpc {

constexpr char kChaosVariable[] = "EMBER_TESTING_RPC_CHAOS";
// The metadata a client adds to a call whose request is to be dropped.
constexpr char kChaosDropHeader[] = "x-ember-chaos-drop";

struct ChaosRates {
  double request = 0;  // probability that a call's request is dropped
  double reply = 0;    // probability that its reply is dropped
};

// Parses the variable's value; an error names what is malformed.
absl::StatusOr<std::map<std::string, ChaosRates>> ParseChaos(const std::string& spec);

// The client interceptors that inject the faults; empty when the variable is unset. A
// malformed value is fatal at the first channel: a test that asked for chaos must get it.
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ChaosInterceptors();
// True when the variable is set: servers then refuse calls carrying kChaosDropHeader.
bool ChaosEnabled();

}  // namespace rpc
}  // namespace ember
