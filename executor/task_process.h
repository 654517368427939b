#pragma once
// An application's task process: `ember-executor --task-process`, started by the executor
// (TaskProcessApp) with a proto::TaskProcessLaunch on its standard input. It loads the
// application's plugin (AppHost) and serves the application's part of the Executor service
// (tasks, receivers, its map outputs, cleanups) to its executor, which alone holds the token.
// Blocks go to the executor's RocksDB through the executor (ExecutorLocal); reports go to the
// driver, and shuffle reads and replicas to the peers, directly. SIGTERM stops its receivers,
// each reporting its last block, and ends it. If the plugin does not load, every call gets
// the load's error.

namespace ember {
namespace internal {

// Runs the process; returns its exit code.
int TaskProcessMain();

}  // namespace internal
}  // namespace ember
