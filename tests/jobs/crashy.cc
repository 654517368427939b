// A job that fails in a chosen way, for the crash matrix (tests/isolation_test.cc), beside a
// job that must not notice:
//
//   ember-submit ... libcrashy.so -- MODE MARKER BATCHES N BATCH_MS RUN_MS
//
// Batch i takes the numbers [i*N, (i+1)*N) from a queue (or, with a receiver mode, what the
// receiver stored) and prints "result total=<sum> count=<records>" when it holds any. MARKER
// is a file created by the first failure, so that a "-once" failure happens once.
//
//   segv-map-once         a map function dereferences null in its first attempt
//   segv-map              ... in every attempt
//   abort-receiver-once   its receiver calls abort() as it first starts, then (restarted)
//                         stores the numbers 1..N reliably, 1000 a block
//   throw-entry           the entry point throws after the first result
//   oom-map               a map function allocates 4 GiB (ember.executor.memory refuses it)
//   oom-entry             the entry point allocates 4 GiB (ember.driver.memory refuses it)
//   segv-entry-once       the entry point dereferences null after the first result, once
//   segv-entry            ... in every run
//   none                  no failure

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/ember.h"

namespace {

// True the first time, for this marker file, across processes.
bool FirstTime(const std::string& marker) {
  int fd = open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) return false;
  close(fd);
  return true;
}

void Segfault() {
  volatile int* nowhere = nullptr;
  *nowhere = 1;
}

class AbortingCounter : public ember::Receiver<int64_t> {
 public:
  AbortingCounter(std::string marker, int64_t n) : marker_(std::move(marker)), n_(n) {}
  void onStart() override {
    if (FirstTime(marker_)) std::abort();
    thread_ = std::thread([this] {
      for (int64_t from = 1; from <= n_ && !isStopped(); from += 1000) {
        std::vector<int64_t> block;
        for (int64_t x = from; x < from + 1000 && x <= n_; ++x) block.push_back(x);
        while (!isStopped() && !storeReliably(block)) {
        }
      }
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string marker_;
  int64_t n_;
  std::thread thread_;
};

}  // namespace

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 6) {
    throw ember::EmberError("usage: libcrashy.so MODE MARKER BATCHES N BATCH_MS RUN_MS");
  }
  const std::string mode = args[0], marker = args[1];
  const int batches = std::stoi(args[2]);
  const int64_t n = std::stoll(args[3]), batch_ms = std::stoll(args[4]),
                run_ms = std::stoll(args[5]);
  if (mode == "oom-entry") {
    std::vector<char> huge(size_t{4} << 30, 'x');
    throw ember::EmberError("allocated 4 GiB: no memory limit?");
  }

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  auto queue = std::make_shared<ember::RddQueue<int64_t>>();
  if (mode != "abort-receiver-once") {
    for (int i = 0; i < batches; ++i) {
      std::vector<int64_t> data(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) data[static_cast<size_t>(k)] = i * n + k;
      queue->push(ssc.parallelize(data, 4));
    }
  }
  ember::DStream<int64_t> input = mode == "abort-receiver-once"
                                      ? ssc.receiverStream<AbortingCounter>(marker, n)
                                      : ssc.queueStream(queue);
  // Which failure the map function makes: 0 none, 1 segfault once, 2 always, 3 allocate.
  const int fail = mode == "segv-map-once" ? 1 : mode == "segv-map" ? 2 : mode == "oom-map" ? 3 : 0;
  auto where = ssc.broadcast(marker);
  auto mapped = input.map([fail, where](int64_t x) {
    if (x == 0 && fail == 3) {
      std::vector<char> huge(size_t{4} << 30, 'x');
      return x + static_cast<int64_t>(huge[12345] - 'x');
    }
    if (x == 0 && (fail == 2 || (fail == 1 && FirstTime(where.value())))) Segfault();
    return x;
  });
  std::atomic<int> results{0};
  mapped.foreachRDD([&results](const auto& rdd, ember::Time) {
    auto values = rdd.collect();
    if (values.empty()) return;
    int64_t total = 0;
    for (int64_t v : values) total += v;
    ember::internal::EmitOutput(
        ember::internal::ContextOf(rdd.ref()),
        "result total=" + std::to_string(total) + " count=" + std::to_string(values.size()) + "\n");
    results.fetch_add(1);
  });
  ssc.start();
  if (mode == "throw-entry" || mode == "segv-entry-once" || mode == "segv-entry") {
    while (results.load() == 0) ssc.awaitTerminationOrTimeout(batch_ms);
    if (mode == "throw-entry") throw ember::EmberError("crashy: thrown from the entry point");
    if (mode == "segv-entry" || FirstTime(marker)) Segfault();
  }
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
