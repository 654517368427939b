// The seed's two programs, as shipped plugins, run end to end by ember-submit in local mode:
// the network word count against ember-textserver over real TCP, the file word count against a
// real directory. The printed output is parsed and checked against the input.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace {

using testing::MakeTempDir;
using testing::Subprocess;
using namespace std::chrono_literals;

const std::string kDashes(43, '-');

struct Batch {
  int64_t time_ms = 0;
  std::vector<std::pair<std::string, int>> records;
  bool truncated = false;
};

// Parses print()'s output: dashes, "Time: <ms> ms", dashes, records "(word,n)", an optional
// "...", a blank line. Fails the test on anything else.
std::vector<Batch> ParseBatches(const std::string& out) {
  std::vector<Batch> batches;
  std::istringstream in(out);
  std::string line;
  static const std::regex kTime(R"(Time: (\d+) ms)");
  static const std::regex kRecord(R"(\((.*),(\d+)\))");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    EXPECT_EQ(line, kDashes);
    Batch b;
    std::smatch m;
    std::getline(in, line);
    EXPECT_TRUE(std::regex_match(line, m, kTime)) << line;
    b.time_ms = std::stoll(m[1]);
    std::getline(in, line);
    EXPECT_EQ(line, kDashes);
    while (std::getline(in, line) && !line.empty()) {
      if (line == "...") {
        b.truncated = true;
      } else if (std::regex_match(line, m, kRecord)) {
        b.records.emplace_back(m[1], std::stoi(m[2]));
      } else {
        ADD_FAILURE() << "unexpected line " << line;
      }
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

std::map<std::string, int> CountWords(const std::string& text) {
  std::map<std::string, int> counts;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t start = 0;
    while (true) {  // split(' ') semantics: every field, empty ones too
      size_t sp = line.find(' ', start);
      counts[line.substr(start, sp == std::string::npos ? std::string::npos : sp - start)]++;
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
  }
  return counts;
}

TEST(ExamplesTest, NetworkWordCountCountsEveryWordSent) {
  std::string dir = MakeTempDir("netwc");
  std::string text;
  for (int i = 0; i < 300; ++i) text += "to be or not to be that is the question\n";
  std::ofstream(dir + "/input.txt") << text;

  Subprocess server({"tools/ember-textserver", "--port", "0", "--file", dir + "/input.txt",
                     "--wait-for-clients", "1"},
                    dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s)) << server.Stderr();
  std::smatch m;
  std::string listening = server.Stdout();
  ASSERT_TRUE(std::regex_search(listening, m, std::regex(R"(listening on [^:]+:(\d+))")));
  std::string port = m[1];

  Subprocess job({"tools/ember-submit", "--master", "local[2]", "--log-level", "INFO", "--name", "netwc",
                  "examples/libnetwork_word_count.so", "--", "127.0.0.1", port, "500", "3000"},
                 dir, "job");
  ASSERT_EQ(job.Wait(60s), 0) << job.Stderr();
  std::vector<Batch> batches = ParseBatches(job.Stdout());
  ASSERT_GE(batches.size(), 4u) << job.Stdout();
  std::map<std::string, int> total;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.time_ms % 500, 0);
    EXPECT_FALSE(b.truncated);  // 8 distinct words: print(10) shows them all
    for (const auto& [w, n] : b.records) total[w] += n;
  }
  EXPECT_EQ(total, CountWords(text));
  EXPECT_NE(job.Stderr().find("Total delay: "), std::string::npos);
}

TEST(ExamplesTest, SigtermStopsGracefullyAfterEveryReceivedLine) {
  std::string dir = MakeTempDir("sigterm");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "to be or not to be\n";
  std::ofstream(dir + "/input.txt") << text;
  Subprocess server({"tools/ember-textserver", "--port", "0", "--file", dir + "/input.txt",
                     "--wait-for-clients", "1", "--record", dir + "/sent.txt"},
                    dir, "server");
  ASSERT_TRUE(server.WaitForOutput("listening on", 10s)) << server.Stderr();
  std::smatch m;
  std::string listening = server.Stdout();
  ASSERT_TRUE(std::regex_search(listening, m, std::regex(R"(listening on [^:]+:(\d+))")));
  // 2 s batches, running "forever": only the signal ends it.
  Subprocess job(
      {"tools/ember-submit", "--master", "local[2]", "--log-level", "INFO", "--conf",
       "ember.streaming.stopGracefullyOnShutdown=true", "--conf", "ember.ui.port=0",
       "examples/libnetwork_word_count.so", "--", "127.0.0.1", m[1].str(), "2000", "600000"},
      dir, "job");
  // Every line has been sent (and so received, or about to be) before the signal.
  auto all_sent = [&] {
    std::ifstream in(dir + "/sent.txt");
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n') ==
           200;
  };
  ASSERT_TRUE(testing::WaitForCondition(all_sent, 20s, 20ms));
  ASSERT_TRUE(job.WaitForOutput("Receiver for stream 0 started", 20s, /*in_stderr=*/true));
  job.Kill(SIGTERM);
  ASSERT_EQ(job.Wait(60s), 0) << job.Stderr();
  std::map<std::string, int> total;
  for (const Batch& b : ParseBatches(job.Stdout())) {
    for (const auto& [w, n] : b.records) total[w] += n;
  }
  // The graceful stop processed every line the receiver had before it stopped.
  EXPECT_EQ(total, CountWords(text)) << job.Stdout() << job.Stderr();
}

TEST(ExamplesTest, FileWordCountSortsEachBatchByCount) {
  std::string dir = MakeTempDir("filewc");
  std::string watched = dir + "/in";
  ASSERT_EQ(mkdir(watched.c_str(), 0755), 0);
  Subprocess job({"tools/ember-submit", "--master", "local[2]", "--log-level", "INFO",
                  "examples/libfile_word_count.so",
                  "--", watched, "500", "3000"},
                 dir, "job");
  ASSERT_TRUE(job.WaitForOutput("StreamingContext started", 20s, /*in_stderr=*/true))
      << job.Stderr();
  const std::vector<std::string> files = {"a b b c c c\n", "c d\nd d d\n"};
  std::string all;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string staging = dir + "/f" + std::to_string(i);
    std::ofstream(staging) << files[i];
    ASSERT_EQ(std::rename(staging.c_str(), (watched + "/f" + std::to_string(i) + ".txt").c_str()),
              0);
    all += files[i];
  }
  ASSERT_EQ(job.Wait(60s), 0) << job.Stderr();
  std::map<std::string, int> total;
  for (const Batch& b : ParseBatches(job.Stdout())) {
    for (size_t i = 1; i < b.records.size(); ++i) {
      EXPECT_GE(b.records[i - 1].second, b.records[i].second) << "batch " << b.time_ms;
    }
    for (const auto& [w, n] : b.records) total[w] += n;
  }
  EXPECT_EQ(total, CountWords(all));
}

TEST(ExamplesTest, SubmitErrorsHaveDistinctExitCodes) {
  std::string dir = MakeTempDir("submit");
  std::ofstream(dir + "/libbad.so") << "not a shared object";
  Subprocess bad({"tools/ember-submit", dir + "/libbad.so"}, dir, "bad");
  EXPECT_EQ(bad.Wait(30s), 3);
  EXPECT_NE(bad.Stderr().find("cannot load job plugin"), std::string::npos) << bad.Stderr();

  Subprocess usage({"tools/ember-submit", "--bogus"}, dir, "usage");
  EXPECT_EQ(usage.Wait(30s), 2);
  EXPECT_NE(usage.Stderr().find("unknown option --bogus"), std::string::npos);

  Subprocess master({"tools/ember-submit", "--master", "yarn", "examples/libfile_word_count.so"},
                    dir, "master");
  EXPECT_EQ(master.Wait(30s), 2);

  // The job's own error: the file word count without its directory argument.
  Subprocess failed({"tools/ember-submit", "examples/libfile_word_count.so"}, dir, "failed");
  EXPECT_EQ(failed.Wait(30s), 1);
  EXPECT_NE(failed.Stderr().find("usage: libfile_word_count.so"), std::string::npos)
      << failed.Stderr();
}

TEST(ExamplesTest, ALocalJobLogsWarningsOnlyUnlessAskedAndABadLevelIsUsage) {
  std::string dir = MakeTempDir("loglevel");
  std::string watched = dir + "/in";
  ASSERT_EQ(mkdir(watched.c_str(), 0755), 0);
  static const std::regex kInfo(R"((^|\n)I\d{8} )");
  Subprocess quiet({"tools/ember-submit", "--master", "local[2]", "examples/libfile_word_count.so",
                    "--", watched, "200", "600"},
                   dir, "quiet");
  ASSERT_EQ(quiet.Wait(60s), 0) << quiet.Stderr();
  EXPECT_FALSE(std::regex_search(quiet.Stderr(), kInfo)) << quiet.Stderr();
  EXPECT_NE(quiet.Stdout().find("Time: "), std::string::npos);  // the job's print() still shows
  Subprocess chatty({"tools/ember-submit", "--master", "local[2]", "--conf",
                     "ember.log.level=info", "examples/libfile_word_count.so", "--", watched,
                     "200", "600"},
                    dir, "chatty");
  ASSERT_EQ(chatty.Wait(60s), 0) << chatty.Stderr();
  EXPECT_TRUE(std::regex_search(chatty.Stderr(), kInfo));
  Subprocess bad({"tools/ember-submit", "--master", "local[2]", "--log-level", "LOUD",
                  "examples/libfile_word_count.so"},
                 dir, "bad");
  EXPECT_EQ(bad.Wait(30s), 2);
  EXPECT_NE(bad.Stderr().find("unknown log level 'LOUD'"), std::string::npos) << bad.Stderr();
  Subprocess server({"tools/ember-textserver", "--log-level", "LOUD"}, dir, "server");
  EXPECT_EQ(server.Wait(30s), 2);
  EXPECT_NE(server.Stderr().find("unknown log level 'LOUD'"), std::string::npos)
      << server.Stderr();
}

}  // namespace
}  // namespace ember
