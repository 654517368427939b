#pragma once
// What the local-mode benchmarks share: running a started context's batches on its manual
// clock (a ManualClock given to the context) and timing them.

#include <chrono>
#include <string>

#include "absl/time/time.h"
#include "common/ember.h"
#include "runtime/context_core.h"

namespace ember {
namespace bench {

// A local[2] configuration on a manual clock, without the web UI.
inline Conf ManualLocalConf(const std::string& name) {
  Conf conf;
  conf.setMaster("local[2]").setAppName(name).set("ember.ui.enabled", "false");
  return conf;
}

// Runs `batches` batches one at a time, each to its end; returns the mean wall time per batch
// of those after the first `warmup`.
inline double MeanBatchMs(StreamingContext& ssc, int batches, int warmup) {
  auto& clock = static_cast<ManualClock&>(ssc.clock());
  double measured_ms = 0;
  for (int b = 0; b < batches; ++b) {
    auto start = std::chrono::steady_clock::now();
    clock.Advance(1000);
    ssc.core()->WaitForBatch(Time(clock.NowMs() / 1000 * 1000), absl::Seconds(600));
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (b >= warmup) measured_ms += ms;
  }
  return batches > warmup ? measured_ms / (batches - warmup) : 0;
}

}  // namespace bench
}  // namespace ember
