#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/wait.h"
#include "tools/text_server_lib.h"

namespace ember {
namespace tools {
namespace {

constexpr int64_t kDeadlineMs = 30 * 1000;

bool WaitForCondition(const std::function<bool()>& done, int64_t timeout_ms = kDeadlineMs) {
  return testing::WaitForCondition(done, std::chrono::milliseconds(timeout_ms),
                                   std::chrono::milliseconds(1));
}

std::vector<std::string> Generate(const TextGenerator::Options& options, int n) {
  TextGenerator generator(options);
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) lines.push_back(generator.NextLine());
  return lines;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/text_server_test_", getpid(), "_", name);
}

// A blocking TCP client on 127.0.0.1 that reads lines with a deadline.
class TestClient {
 public:
  // receive_buffer > 0 shrinks the socket's receive buffer (and so the TCP window) before
  // connecting, so that a client that stops reading pushes back on the server quickly.
  explicit TestClient(int port, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    EXPECT_TRUE(connected_) << "connect to port " << port;
  }
  ~TestClient() { Close(); }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Reads until `n` lines, EOF, or the deadline.
  std::vector<std::string> ReadLines(size_t n, int64_t timeout_ms = kDeadlineMs) {
    std::vector<std::string> lines;
    const int64_t deadline = MonotonicMs() + timeout_ms;
    while (lines.size() < n && !eof_) {
      size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        lines.push_back(buffer_.substr(0, newline));
        buffer_.erase(0, newline + 1);
        continue;
      }
      if (!Fill(deadline)) break;
    }
    return lines;
  }

  // Reads every line until the server closes the connection; eof() tells whether it did.
  std::vector<std::string> ReadToEnd(int64_t timeout_ms = kDeadlineMs) {
    std::vector<std::string> lines = ReadLines(SIZE_MAX, timeout_ms);
    if (eof_ && !buffer_.empty()) lines.push_back(buffer_);  // unterminated: shows as a diff
    return lines;
  }

  bool eof() const { return eof_; }
  bool connected() const { return connected_; }

 private:
  bool Fill(int64_t deadline) {
    const int64_t left = deadline - MonotonicMs();
    if (left <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[64 * 1024];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

// A TextServer on port 0 run by its own thread.
class RunningServer {
 public:
  RunningServer(TextServer::Options options, std::unique_ptr<LineSource> source) {
    options.bind_host = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<TextServer>> server =
        TextServer::Create(options, std::move(source));
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) std::abort();  // every test below needs it; fail loudly, not later
    server_ = std::move(*server);
    thread_ = std::thread([this] { status_ = server_->Run(); });
  }
  ~RunningServer() {
    server_->Stop();
    Join().IgnoreError();  // a test that cares has joined and checked already
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  TextServer& server() { return *server_; }
  int port() const { return server_->port(); }
  pthread_t native_thread() { return thread_.native_handle(); }

  // Waits for Run to return (the caller arranged for it to end) and returns its status.
  absl::Status Join() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }

 private:
  std::unique_ptr<TextServer> server_;
  std::thread thread_;
  absl::Status status_;
};

TextGenerator::Options GeneratorOptions(uint64_t seed, int words_per_line = 10) {
  TextGenerator::Options options;
  options.seed = seed;
  options.words_per_line = words_per_line;
  options.vocabulary = 1000;
  return options;
}

TEST(TextGeneratorTest, SameSeedSameLinesOtherSeedOtherLines) {
  EXPECT_EQ(Generate(GeneratorOptions(42), 100), Generate(GeneratorOptions(42), 100));
  EXPECT_NE(Generate(GeneratorOptions(42), 100), Generate(GeneratorOptions(43), 100));
}

TEST(TextGeneratorTest, PinnedOutput) {
  // Recorded expectations elsewhere (scripts, other tools' tests) depend on these exact lines.
  TextGenerator::Options options = GeneratorOptions(7, 4);
  EXPECT_EQ(Generate(options, 2),
            (std::vector<std::string>{"w487 w804 w346 w203", "w674 w305 w798 w182"}));
}

TEST(TextGeneratorTest, WordsComeFromTheVocabulary) {
  TextGenerator::Options options;
  options.seed = 1;
  options.words_per_line = 7;
  options.vocabulary = 20;
  std::set<std::string> seen;
  for (const std::string& line : Generate(options, 500)) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    ASSERT_EQ(words.size(), 7u) << line;
    for (const std::string& word : words) {
      int index = -1;
      ASSERT_EQ(word[0], 'w') << word;
      ASSERT_TRUE(absl::SimpleAtoi(word.substr(1), &index)) << word;
      ASSERT_GE(index, 0);
      ASSERT_LT(index, 20);
      seen.insert(word);
    }
  }
  EXPECT_EQ(seen.size(), 20u) << "3500 draws should hit all 20 words";

  options.vocabulary = 1;
  EXPECT_EQ(Generate(options, 1)[0], "w0 w0 w0 w0 w0 w0 w0");
}

TEST(RatePacerTest, SpacesLinesFromTheStart) {
  RatePacer pacer(4);
  pacer.Start(1000);
  EXPECT_EQ(pacer.DueMs(0), 1000);
  EXPECT_EQ(pacer.DueMs(1), 1250);
  EXPECT_EQ(pacer.DueMs(4), 2000);
  EXPECT_EQ(pacer.DueMs(4000), 1000 + 1000 * 1000);

  RatePacer thirds(3);  // 333.33 ms apart: rounding must not accumulate
  thirds.Start(0);
  EXPECT_EQ(thirds.DueMs(1), 333);
  EXPECT_EQ(thirds.DueMs(3), 1000);
  EXPECT_EQ(thirds.DueMs(3000), 1000 * 1000);

  RatePacer unpaced(0);
  unpaced.Start(500);
  EXPECT_EQ(unpaced.DueMs(0), 500);
  EXPECT_EQ(unpaced.DueMs(1000000), 500);
}

TEST(TextServerTest, TwoClientsGetExactlyTheGeneratedLines) {
  constexpr int kLines = 2000;
  TextServer::Options options;
  options.wait_for_clients = 2;
  options.max_lines = kLines;
  options.exit_when_source_ends = true;
  RunningServer running(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(11)));

  TestClient a(running.port());
  TestClient b(running.port());
  std::vector<std::string> from_b;
  std::thread reader([&] { from_b = b.ReadToEnd(); });
  std::vector<std::string> from_a = a.ReadToEnd();
  reader.join();

  const std::vector<std::string> expected = Generate(GeneratorOptions(11), kLines);
  EXPECT_TRUE(a.eof());
  EXPECT_TRUE(b.eof());
  EXPECT_EQ(from_a, expected);
  EXPECT_EQ(from_b, expected);
  EXPECT_TRUE(running.Join().ok());
  EXPECT_EQ(running.server().LinesTaken(), kLines);
  EXPECT_EQ(running.server().LinesSent(), kLines);
}

TEST(TextServerTest, SendsNothingUntilEnoughClientsAreConnected) {
  TextServer::Options options;
  options.wait_for_clients = 2;
  options.max_lines = 10;
  RunningServer running(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(3)));

  TestClient first(running.port());
  ASSERT_TRUE(WaitForCondition([&] { return running.server().NumClients() == 1; }));
  // The server has seen the client and must still hold back: nothing may arrive.
  EXPECT_TRUE(first.ReadLines(1, /*timeout_ms=*/100).empty());
  EXPECT_EQ(running.server().LinesTaken(), 0);

  TestClient second(running.port());
  const std::vector<std::string> expected = Generate(GeneratorOptions(3), 10);
  EXPECT_EQ(first.ReadLines(10), expected);
  EXPECT_EQ(second.ReadLines(10), expected);
}

// The client leaves with unread data, which resets its connection, while the server still has
// more to send than that client's socket buffers can hold: the server must notice and go on.
TEST(TextServerTest, ClientResettingMidStreamDoesNotDisturbTheOthers) {
  constexpr int kLines = 20000;  // about 12 MB at 100 words a line, more than buffers hold
  TextServer::Options options;
  options.wait_for_clients = 3;
  options.max_lines = kLines;
  options.exit_when_source_ends = true;
  options.slow_client_timeout_ms = 0;  // only the reset may release the server
  RunningServer running(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(5, 100)));

  TestClient leaver(running.port(), /*receive_buffer=*/4096);
  TestClient b(running.port());
  TestClient c(running.port());
  std::vector<std::string> from_b, from_c;
  std::thread read_b([&] { from_b = b.ReadToEnd(); });
  std::thread read_c([&] { from_c = c.ReadToEnd(); });
  EXPECT_EQ(leaver.ReadLines(10).size(), 10u);
  EXPECT_LT(running.server().LinesTaken(), kLines) << "the leaver must leave mid-stream";
  leaver.Close();
  read_b.join();
  read_c.join();

  const std::vector<std::string> expected = Generate(GeneratorOptions(5, 100), kLines);
  EXPECT_TRUE(b.eof());
  EXPECT_TRUE(c.eof());
  EXPECT_EQ(from_b.size(), expected.size());
  EXPECT_TRUE(from_b == expected) << "client b got different lines";
  EXPECT_TRUE(from_c == expected) << "client c got different lines";
  EXPECT_TRUE(running.Join().ok());
}

// Lines come from a pipe the test writes, so "mid-stream" is exact: the leaver hangs up
// between two batches, and the server must count it gone before the second.
TEST(TextServerTest, ClientHangingUpBetweenLinesDoesNotDisturbTheOthers) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  TextServer::Options options;
  options.wait_for_clients = 3;
  options.exit_when_source_ends = true;
  RunningServer running(options, std::make_unique<FdLineSource>(pipe_fds[0]));

  TestClient leaver(running.port());
  TestClient b(running.port());
  TestClient c(running.port());
  ASSERT_TRUE(WaitForCondition([&] { return running.server().NumClients() == 3; }));
  std::string first_half, second_half;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&first_half, "first ", i, "\n");
  for (int i = 0; i < 100; ++i) absl::StrAppend(&second_half, "second ", i, "\n");
  ASSERT_EQ(write(pipe_fds[1], first_half.data(), first_half.size()),
            static_cast<ssize_t>(first_half.size()));
  EXPECT_EQ(leaver.ReadLines(100).size(), 100u);
  leaver.Close();
  ASSERT_TRUE(WaitForCondition([&] { return running.server().NumClients() == 2; }));
  ASSERT_EQ(write(pipe_fds[1], second_half.data(), second_half.size()),
            static_cast<ssize_t>(second_half.size()));
  // A last line without a newline is still a line.
  ASSERT_EQ(write(pipe_fds[1], "tail", 4), 4);
  close(pipe_fds[1]);

  std::vector<std::string> expected = absl::StrSplit(first_half + second_half + "tail", '\n');
  EXPECT_EQ(b.ReadToEnd(), expected);
  EXPECT_EQ(c.ReadToEnd(), expected);
  EXPECT_TRUE(running.Join().ok());
  close(pipe_fds[0]);
}

TEST(TextServerTest, StuckClientIsDroppedAndTheOthersCarryOn) {
  constexpr int kLines = 20000;
  TextServer::Options options;
  options.wait_for_clients = 2;
  options.max_lines = kLines;
  options.exit_when_source_ends = true;
  options.slow_client_timeout_ms = 200;
  RunningServer running(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(9, 100)));

  TestClient stuck(running.port(), /*receive_buffer=*/4096);  // connected, never reads
  TestClient reader(running.port());
  std::vector<std::string> lines = reader.ReadToEnd();
  EXPECT_TRUE(reader.eof());
  EXPECT_TRUE(lines == Generate(GeneratorOptions(9, 100), kLines)) << lines.size() << " lines";
  EXPECT_TRUE(running.Join().ok());
  EXPECT_LT(stuck.ReadToEnd(/*timeout_ms=*/1000).size(), static_cast<size_t>(kLines));
}

TEST(TextServerTest, FileLoopsAndCountStopsIt) {
  const std::string path = TempPath("loop.txt");
  {
    std::ofstream out(path);
    out << "alpha\nbeta\ngamma";  // no final newline
  }
  absl::StatusOr<std::unique_ptr<FileLineSource>> source = FileLineSource::Open(path, true);
  ASSERT_TRUE(source.ok()) << source.status();
  TextServer::Options options;
  options.wait_for_clients = 1;
  options.max_lines = 7;
  options.exit_when_source_ends = true;
  RunningServer running(options, std::move(*source));

  TestClient client(running.port());
  EXPECT_EQ(client.ReadToEnd(), (std::vector<std::string>{"alpha", "beta", "gamma", "alpha", "beta",
                                                          "gamma", "alpha"}));
  EXPECT_TRUE(running.Join().ok());
  std::remove(path.c_str());

  EXPECT_FALSE(FileLineSource::Open(TempPath("missing.txt"), false).ok());
}

int64_t ThreadCpuMs(pthread_t thread) {
  clockid_t clock;
  if (pthread_getcpuclockid(thread, &clock) != 0) return -1;
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

TEST(TextServerTest, PacesLinesRecordsThemAndDoesNotSpin) {
  constexpr int kLines = 10;
  constexpr double kRate = 20;  // 50 ms apart: 450 ms from first to last
  const std::string record = TempPath("record.tsv");
  std::remove(record.c_str());
  TextServer::Options options;
  options.wait_for_clients = 1;
  options.max_lines = kLines;
  options.lines_per_second = kRate;
  options.record_path = record;
  RunningServer running(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(1)));

  TestClient client(running.port());
  const int64_t started = MonotonicMs();
  std::vector<std::string> lines = client.ReadLines(kLines);
  const int64_t elapsed = MonotonicMs() - started;
  ASSERT_EQ(lines, Generate(GeneratorOptions(1), kLines));
  EXPECT_GE(elapsed, 450 - 5);
  // Waiting between lines must sleep in poll: the serving thread may use only a sliver of the
  // time it spent pacing.
  const int64_t cpu = ThreadCpuMs(running.native_thread());
  EXPECT_GE(cpu, 0);
  EXPECT_LT(cpu, elapsed / 4) << "serving thread used " << cpu << " ms of CPU in " << elapsed
                              << " ms";

  // Without exit_when_source_ends the server keeps serving; Stop ends it and closes clients.
  running.server().Stop();
  EXPECT_TRUE(running.Join().ok());
  EXPECT_TRUE(client.ReadToEnd().empty());
  EXPECT_TRUE(client.eof());

  std::ifstream in(record);
  std::string row;
  std::vector<int64_t> stamps;
  std::vector<std::string> recorded;
  while (std::getline(in, row)) {
    std::vector<std::string> fields = absl::StrSplit(row, absl::MaxSplits('\t', 1));
    ASSERT_EQ(fields.size(), 2u) << row;
    int64_t ms = 0;
    ASSERT_TRUE(absl::SimpleAtoi(fields[0], &ms)) << row;
    stamps.push_back(ms);
    recorded.push_back(fields[1]);
  }
  EXPECT_EQ(recorded, lines);
  ASSERT_EQ(stamps.size(), static_cast<size_t>(kLines));
  for (size_t i = 1; i < stamps.size(); ++i) {
    EXPECT_GE(stamps[i] - stamps[0], static_cast<int64_t>(i * 1000 / kRate)) << "line " << i;
  }
  std::remove(record.c_str());
}

TEST(TextServerTest, StopBeforeAnyClientEndsRun) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  {
    RunningServer running(TextServer::Options(), std::make_unique<FdLineSource>(pipe_fds[0]));
    running.server().Stop();
    EXPECT_TRUE(running.Join().ok());
  }
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(TextServerTest, CreateFailsOnAPortInUse) {
  TextServer::Options idle;
  idle.wait_for_clients = 1;
  RunningServer first(idle, std::make_unique<GeneratedLineSource>(GeneratorOptions(1)));
  TextServer::Options options;
  options.port = first.port();
  EXPECT_FALSE(
      TextServer::Create(options, std::make_unique<GeneratedLineSource>(GeneratorOptions(1))).ok());
}

}  // namespace
}  // namespace tools
}  // namespace ember
