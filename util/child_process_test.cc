#include "util/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "absl/synchronization/mutex.h"

namespace ember {
namespace internal {
namespace {

struct Collected {
  absl::Mutex mu;
  std::string out;
  int exits = 0;
  ExitStatus status;
};

ChildProcess::Options Shell(const std::string& script, Collected* c) {
  ChildProcess::Options o;
  o.argv = {"/bin/sh", "-c", script};
  o.on_stdout = [c](std::string_view s) {
    absl::MutexLock lock(&c->mu);
    c->out.append(s);
  };
  o.on_exit = [c](const ExitStatus& s) {
    absl::MutexLock lock(&c->mu);
    ++c->exits;
    c->status = s;
  };
  return o;
}

TEST(ChildProcessTest, GetsItsInputAndGivesItsOutputBeforeItsEnd) {
  Collected c;
  ChildProcess::Options o = Shell("read line; echo \"got $line\"; exit 3", &c);
  o.input = "hello\n";
  auto child = ChildProcess::Start(std::move(o));
  ASSERT_TRUE(child.ok()) << child.status();
  ExitStatus status;
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(20), &status));
  EXPECT_EQ(status.code, 3);
  EXPECT_FALSE(status.crashed());
  EXPECT_EQ(status.ToString(), "exited with code 3");
  child->reset();  // joins the watcher: on_exit has run
  absl::MutexLock lock(&c.mu);
  EXPECT_EQ(c.out, "got hello\n");
  EXPECT_EQ(c.exits, 1);
}

TEST(ChildProcessTest, NamesTheSignalThatKilledIt) {
  Collected c;
  auto child = ChildProcess::Start(Shell("kill -SEGV $$", &c));
  ASSERT_TRUE(child.ok());
  ExitStatus status;
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(20), &status));
  EXPECT_TRUE(status.crashed());
  EXPECT_EQ(status.signal, SIGSEGV);
  EXPECT_EQ(status.ToString(), "killed by signal 11 (SIGSEGV)");
}

TEST(ChildProcessTest, SignalAndDestructorEndARunningChild) {
  Collected c;
  auto child = ChildProcess::Start(Shell("echo started; exec sleep 1000", &c));
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE((*child)->WaitFor(absl::Milliseconds(50)));
  (*child)->Signal(SIGTERM);
  ExitStatus status;
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(20), &status));
  EXPECT_EQ(status.signal, SIGTERM);
  (*child)->Signal(SIGKILL);  // after the end: nothing to signal, no harm
  // WaitFor returns once the end is known; on_exit runs after that, on the watching thread,
  // which the destructor joins.
  child->reset();
  {
    absl::MutexLock lock(&c.mu);
    EXPECT_EQ(c.exits, 1);
  }

  auto second = ChildProcess::Start(Shell("exec sleep 1000", &c));
  ASSERT_TRUE(second.ok());
  second->reset();  // kills and reaps
  absl::MutexLock lock(&c.mu);
  EXPECT_EQ(c.exits, 2);
  EXPECT_EQ(c.status.signal, SIGKILL);
}

TEST(ChildProcessTest, AMissingProgramExitsWith127) {
  ChildProcess::Options o;
  o.argv = {"/nonexistent/program"};
  auto child = ChildProcess::Start(std::move(o));
  ASSERT_TRUE(child.ok());
  ExitStatus status;
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(20), &status));
  EXPECT_EQ(status.code, 127);
}

TEST(ChildProcessTest, TheMemoryLimitFailsAnAllocationPastIt) {
  // 64 MB of data for a shell that tries to hold a 512 MB string: the shell's allocation
  // fails (it exits non-zero), where without the limit it succeeds.
  const std::string script = "x=$(head -c 536870912 /dev/zero | tr '\\0' a); echo ${#x}";
  Collected limited;
  ChildProcess::Options o = Shell(script, &limited);
  o.memory_limit_bytes = 64 << 20;
  auto child = ChildProcess::Start(std::move(o));
  ASSERT_TRUE(child.ok());
  ExitStatus status;
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(60), &status));
  EXPECT_TRUE(status.code != 0 || status.crashed()) << status.ToString();
  child->reset();
  absl::MutexLock lock(&limited.mu);
  EXPECT_EQ(limited.out.find("536870912"), std::string::npos);
}

TEST(ChildProcessTest, DescriptorsOfTheParentAreNotInherited) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // no O_CLOEXEC
  Collected c;
  auto child = ChildProcess::Start(Shell("ls /proc/self/fd | wc -l", &c));
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE((*child)->WaitFor(absl::Seconds(20)));
  child->reset();
  close(fds[0]);
  close(fds[1]);
  absl::MutexLock lock(&c.mu);
  // ls's own: 0, 1, 2 and the directory it reads (wc's pipe is ls's stdout).
  EXPECT_EQ(std::stoi(c.out), 4) << c.out;
}

}  // namespace
}  // namespace internal
}  // namespace ember
