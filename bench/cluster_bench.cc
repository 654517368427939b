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
// With --tls it runs the default layout twice instead, without and with mutual TLS on every
// connection (certificates made with openssl), and prints `tls/plain: X.XX` last. With
// --receiver-slots it runs local[2] only, with the receiver's slot reserved as Spark does
// (ember.local.reserveReceiverSlots) and shared (the default), and prints `shared/reserved:
// X.XX` last.
//
//   bench/cluster_bench [--seconds N] [--batch-ms N] [--tls | --receiver-slots]

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
  bool tls = false, receiver_slots = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tls") {
      tls = true;
    } else if (a == "--receiver-slots") {
      receiver_slots = true;
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stoi(argv[++i]);
    } else if (a == "--batch-ms" && i + 1 < argc) {
      batch_ms = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: cluster_bench [--seconds N] [--batch-ms N] [--tls | "
                   "--receiver-slots]\n");
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
  auto run_local = [&](const std::string& master, const std::string& name, bool reserve, Run* out) {
    auto server = source(name + "-source");
    if (!server->WaitForOutput("listening on", 10s)) return false;
    std::string port = ListeningAddress(*server).substr(ListeningAddress(*server).rfind(':') + 1);
    Subprocess job({"tools/ember-submit", "--master", master, "--log-level", "INFO", "--conf",
                    std::string("ember.local.reserveReceiverSlots=") + (reserve ? "true" : "false"),
                    job_args[0], "--", "127.0.0.1", port, std::to_string(batch_ms), run_ms},
                   dir, name);
    if (job.Wait(std::chrono::seconds(seconds + 60)) != 0) {
      std::fprintf(stderr, "local run failed:\n%s\n", job.Stderr().c_str());
      return false;
    }
    *out = MeasureRun(job.Stdout(), job.Stderr());
    out->seconds = seconds;
    return true;
  };
  if (receiver_slots) {
    Run reserved, shared;
    if (!run_local("local[2]", "reserved", true, &reserved) ||
        !run_local("local[2]", "shared", false, &shared)) {
      return 1;
    }
    Report("reserved", reserved, kBytesPerWord);
    Report("shared", shared, kBytesPerWord);
    auto rate = ember::bench::ProcessingRate;
    std::printf("shared/reserved: %.2f\n",
                rate(reserved) > 0 ? rate(shared) / rate(reserved) : 0.0);
    return 0;
  }
  Run local;
  if (!run_local("local[3]", "local", false, &local)) return 1;

  // Cluster: a driver and two executors, replication on (the default, 2 copies).
  // Mutual TLS on every connection of the cluster (--tls), with certificates made here.
  std::vector<std::string> tls_args;
  if (tls) {
    std::string error = ember::testing::MakeTestCertificates(dir, "bench");
    if (!error.empty()) {
      std::fprintf(stderr, "cannot make certificates: %s\n", error.c_str());
      return 1;
    }
    tls_args = {"--tls-cert",       dir + "/bench.pem", "--tls-key",
                dir + "/bench.key", "--tls-ca",         dir + "/bench-ca.pem"};
  }
  auto run_cluster = [&](const std::string& isolation, const std::string& rate, int run_batch_ms,
                         int run_seconds, Run* out, bool with_tls = false) {
    std::string tag = isolation + "-" + rate + (with_tls ? "-tls" : "");
    const std::vector<std::string> extra = with_tls ? tls_args : std::vector<std::string>{};
    auto with = [&](std::vector<std::string> argv) {
      argv.insert(argv.end(), extra.begin(), extra.end());
      return argv;
    };
    Subprocess driver(with({"driver/ember-driver", "--port", "0", "--ui-port", "0", "--work-dir",
                            dir + "/work-" + tag, "--isolation", isolation}),
                      dir, "driver-" + tag);
    if (!driver.WaitForOutput("listening on", 20s)) return false;
    std::string address = ListeningAddress(driver);
    std::vector<std::unique_ptr<Subprocess>> executors;
    for (int i = 0; i < 2; ++i) {
      executors.push_back(std::make_unique<Subprocess>(
          with({"executor/ember-executor", "--driver", address, "--port", "0", "--data-dir",
                dir + "/e" + std::to_string(i) + "-" + tag, "--slots", "2", "--isolation",
                isolation}),
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
    std::vector<std::string> submit = with({"tools/ember-submit", "--master", "ember://" + address,
                                            "--conf", "ember.storage.replication=2"});
    for (const std::string& a :
         {job_args[0], std::string("--"), std::string("127.0.0.1"), port,
          std::to_string(run_batch_ms), std::to_string(run_seconds * 1000)}) {
      submit.push_back(a);
    }
    Subprocess job(submit, dir, "job-" + tag);
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
  if (tls) {
    // TLS off and on, the default layout, in the same run.
    Run plain, secured;
    if (!run_cluster("process", "0", batch_ms, seconds, &plain) ||
        !run_cluster("process", "0", batch_ms, seconds, &secured, /*with_tls=*/true)) {
      return 1;
    }
    Report("local[3]", local, kBytesPerWord);
    Report("plain", plain, kBytesPerWord);
    Report("tls", secured, kBytesPerWord);
    auto rate = ember::bench::ProcessingRate;
    std::printf("tls/plain: %.2f\n", rate(plain) > 0 ? rate(secured) / rate(plain) : 0.0);
    return 0;
  }
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
