// Compiled by closure_compile_test.sh: with -DBAD_CAPTURE it must fail to compile with the
// message that tells the author what to do; without, it must compile.
#include <string>

#include "common/ember.h"

void Build(ember::DStream<std::string> lines) {
#ifdef BAD_CAPTURE
  std::string stop = "the";  // a std::string cannot be shipped as bytes
  lines.filter([stop](const std::string& w) { return w != stop; }).print();
#else
  int min_length = 3;  // plain values can
  lines
      .filter(
          [min_length](const std::string& w) { return static_cast<int>(w.size()) >= min_length; })
      .print();
#endif
}
