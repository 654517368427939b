#pragma once
// What the benchmarks that run ember-submit read back: the words a word count printed (its
// print() shows every word of the benchmarks' small vocabularies) and the batches' execution
// times from the "Total delay" lines of its log.

#include <cstdint>
#include <regex>
#include <sstream>
#include <string>

namespace ember {
namespace bench {

struct Run {
  int64_t words = 0;
  int64_t batches = 0;
  double execution_s = 0;
  double seconds = 0;  // the run's length, where the caller knows it
};

inline Run MeasureRun(const std::string& out, const std::string& log) {
  Run r;
  static const std::regex kRecord(R"(\((.*),(\d+)\))");
  static const std::regex kExec(
      R"(Total delay: [0-9.]+ s for time \d+ ms \(execution: ([0-9.]+) s\))");
  std::istringstream in(out);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kRecord)) r.words += std::stoll(m[2]);
  }
  for (auto it = std::sregex_iterator(log.begin(), log.end(), kExec); it != std::sregex_iterator();
       ++it) {
    r.execution_s += std::stod((*it)[1]);
    ++r.batches;
  }
  return r;
}

// Words per second of batch processing time.
inline double ProcessingRate(const Run& r) {
  return r.execution_s > 0 ? static_cast<double>(r.words) / r.execution_s : 0;
}

}  // namespace bench
}  // namespace ember
