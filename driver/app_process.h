#pragma once
// An application's driver process: `ember-driver --app-process`, started by ember-driver
// (ProcessRunner) with a proto::AppProcessLaunch on its standard input. It loads the plugin
// and runs the entry point (AppDriver), its contexts sending tasks to the executors directly.
// Its executors mirror the daemon's (WatchExecutors); executors' reports about its receivers
// and broadcast fetches reach it through the daemon (the AppDriver service, on an abstract unix
// socket only the daemon has the token for). It tells the daemon its phase (loaded, context
// active, ended) and its contexts' listener events, which the daemon's UI and REST API show.
// The job's output is its standard output.
//
// Exit codes: 0 the entry point returned (how, it reported), 3 the plugin did not load, 2
// no launch. A crash (a signal) or any other end is the daemon's to handle.

namespace ember {
namespace internal {

int AppProcessMain();

}  // namespace internal
}  // namespace ember
