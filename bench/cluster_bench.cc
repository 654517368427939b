// Cluster throughput: the seed's network word count on a driver and two executors (real
// processes on 127.0.0.1, blocks replicated to the other executor) against the same job in
// local[3], in the same run, fed by ember-textserver generating 10-word lines from an 8-word
// vocabulary as fast as the receiver reads. The cluster runs twice: with each application in
// processes of its own (the default layout) and with isolation=thread on both daemons (the
// in-process layout, job code on the daemons' threads).
//
// For each mode it prints the records (words) and MB received per second of run time (what
// the receiver sustained) and per second of batch processing time (what the engine could
// sustain). Then, for the control cost, both cluster layouts run the job again on a trickle
// of input (10 lines/s, 200 ms batches) and it prints their mean processing time per batch.
// Last: `isolated/in-process: X.XX` (throughput), `control cost: +X.XX ms per batch` and
// `ratio: X.XX` (isolated cluster / local, by processing rate).
//
//   bench/cluster_bench [--seconds N] [--batch-ms N]

#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/batch_log.h"
#include "tests/process.h"

namespace {

using ember::bench::MeasureRun;
using ember::bench::Run;
using ember::testing::ListeningAddress;
using ember::testing::MakeTempDir;
using ember::testing::Subprocess;
using namespace std::chrono_literals;

void Report(const char* mode, const Run& r, double bytes_per_word) {
  double mb = static_cast<double>(r.words) * bytes_per_word / 1e6;
  std::printf(
      "%-8s %10lld words in %lld batches | received %10.0f words/s %6.2f MB/s | "
      "processed %10.0f words/s %6.2f MB/s\n",
      mode, static_cast<long long>(r.words), static_cast<long long>(r.batches), r.words / r.seconds,
      mb / r.seconds, r.execution_s > 0 ? r.words / r.execution_s : 0,
      r.execution_s > 0 ? mb / r.execution_s : 0);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 10, batch_ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds")
      seconds = std::stoi(argv[i + 1]);
    else if (a == "--batch-ms")
      batch_ms = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: cluster_bench [--seconds N] [--batch-ms N]\n");
      return 2;
    }
  }
  std::string dir = MakeTempDir("cluster-bench");
  // "w0".."w7" plus a space: 3 bytes per word on the wire.
  const double kBytesPerWord = 3.0;
  auto source = [&](const std::string& name) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{"tools/ember-textserver", "--port", "0", "--generate",
                                 "--vocabulary", "8", "--words-per-line", "10", "--rate", "0"},
        dir, name);
  };
  std::vector<std::string> job_args = {"examples/libnetwork_word_count.so", "--", "127.0.0.1"};
  std::string run_ms = std::to_string(seconds * 1000);

  // Local mode.
  Run local;
  {
    auto server = source("local-source");
    if (!server->WaitForOutput("listening on", 10s)) return 1;
    std::string port = ListeningAddress(*server).substr(ListeningAddress(*server).rfind(':') + 1);
    Subprocess job({"tools/ember-submit", "--master", "local[3]", "--log-level", "INFO",
                    job_args[0], "--", "127.0.0.1", port, std::to_string(batch_ms), run_ms},
                   dir, "local");
    if (job.Wait(std::chrono::seconds(seconds + 60)) != 0) {
      std::fprintf(stderr, "local run failed:\n%s\n", job.Stderr().c_str());
      return 1;
    }
    local = MeasureRun(job.Stdout(), job.Stderr());
    local.seconds = seconds;
  }

  // Cluster: a driver and two executors, replication on (the default, 2 copies).
  auto run_cluster = [&](const std::string& isolation, const std::string& rate, int run_batch_ms,
                         int run_seconds, Run* out) {
    std::string tag = isolation + "-" + rate;
    Subprocess driver({"driver/ember-driver", "--port", "0", "--ui-port", "0", "--work-dir",
                       dir + "/work-" + tag, "--isolation", isolation},
                      dir, "driver-" + tag);
    if (!driver.WaitForOutput("listening on", 20s)) return false;
    std::string address = ListeningAddress(driver);
    std::vector<std::unique_ptr<Subprocess>> executors;
    for (int i = 0; i < 2; ++i) {
      executors.push_back(std::make_unique<Subprocess>(
          std::vector<std::string>{"executor/ember-executor", "--driver", address, "--port", "0",
                                   "--data-dir", dir + "/e" + std::to_string(i) + "-" + tag,
                                   "--slots", "2", "--isolation", isolation},
          dir, "executor" + std::to_string(i) + "-" + tag));
      if (!executors.back()->WaitForOutput("listening on", 20s)) return false;
    }
    for (auto& e : executors) {
      if (!e->WaitForOutput("registered", 20s, /*in_stderr=*/true)) return false;
    }
    auto server = std::make_unique<Subprocess>(
        std::vector<std::string>{"tools/ember-textserver", "--port", "0", "--generate",
                                 "--vocabulary", "8", "--words-per-line", "10", "--rate", rate},
        dir, "source-" + tag);
    if (!server->WaitForOutput("listening on", 10s)) return false;
    std::string port = ListeningAddress(*server).substr(ListeningAddress(*server).rfind(':') + 1);
    Subprocess job({"tools/ember-submit", "--master", "ember://" + address, "--conf",
                    "ember.storage.replication=2", job_args[0], "--", "127.0.0.1", port,
                    std::to_string(run_batch_ms), std::to_string(run_seconds * 1000)},
                   dir, "job-" + tag);
    if (job.Wait(std::chrono::seconds(run_seconds + 60)) != 0) {
      std::fprintf(stderr, "cluster run (%s) failed:\n%s\n%s\n", tag.c_str(), job.Stderr().c_str(),
                   driver.Stderr().c_str());
      return false;
    }
    // The batches' log lines are the application driver process's, on the daemon's stderr.
    *out = MeasureRun(job.Stdout(), driver.Stderr());
    out->seconds = run_seconds;
    return true;
  };
  Run isolated, in_process, isolated_trickle, in_process_trickle;
  if (!run_cluster("thread", "0", batch_ms, seconds, &in_process) ||
      !run_cluster("process", "0", batch_ms, seconds, &isolated) ||
      !run_cluster("thread", "10", 200, 5, &in_process_trickle) ||
      !run_cluster("process", "10", 200, 5, &isolated_trickle)) {
    return 1;
  }

  Report("local[3]", local, kBytesPerWord);
  Report("in-proc", in_process, kBytesPerWord);
  Report("isolated", isolated, kBytesPerWord);
  auto rate = ember::bench::ProcessingRate;
  auto per_batch_ms = [](const Run& r) {
    return r.batches > 0 ? 1000.0 * r.execution_s / static_cast<double>(r.batches) : 0.0;
  };
  std::printf(
      "trickle (10 lines/s, 200 ms batches): in-process %.2f ms, isolated %.2f ms of "
      "processing per batch (%lld and %lld batches)\n",
      per_batch_ms(in_process_trickle), per_batch_ms(isolated_trickle),
      static_cast<long long>(in_process_trickle.batches),
      static_cast<long long>(isolated_trickle.batches));
  std::printf("isolated/in-process: %.2f\n",
              rate(in_process) > 0 ? rate(isolated) / rate(in_process) : 0.0);
  std::printf("control cost: %+.2f ms per batch\n",
              per_batch_ms(isolated_trickle) - per_batch_ms(in_process_trickle));
  std::printf("ratio: %.2f\n", rate(local) > 0 ? rate(isolated) / rate(local) : 0.0);
  return 0;
}
