// Backpressure, seen over time: a receiver floods 100,000 records a second into a job that can
// process about 40,000 a second on its task slots (50 us of work a record), in local[3] with
// 500 ms batches, for --seconds without backpressure and then with it, in the same run. Writes
// each batch's input rate, processing time and scheduling delay to DIR/backpressure.csv and,
// when gnuplot is installed (Debian's gnuplot-nox), draws them to DIR/backpressure.png, the
// README's chart. Prints per run the mean input rate and the last batch's scheduling delay.
//
//   bench/backpressure_bench [--seconds N] [--out DIR]

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/ember.h"
#include "runtime/overload_job.h"

namespace {

std::vector<ember::BatchInfo> Run(bool backpressure, int seconds) {
  ember::Conf conf;
  conf.setMaster("local[3]")
      .setAppName("backpressure-bench")
      .set("ember.ui.enabled", "false")
      .set("ember.streaming.backpressure.enabled", backpressure ? "true" : "false")
      .set("ember.streaming.backpressure.initialRate", "2000")
      .set("ember.streaming.receiver.maxRate", "100000")
      .set("ember.streaming.blockInterval", "100ms");
  ember::StreamingContext ssc(conf, ember::Milliseconds(500));
  auto listener = std::make_shared<ember::testing::CompletedBatches>();
  ssc.addStreamingListener(listener);
  ember::testing::AddOverloadedJob(ssc, std::make_shared<std::atomic<int64_t>>(0));
  ssc.start();
  ssc.awaitTerminationOrTimeout(seconds * 1000);
  ssc.stop(true, /*stopGracefully=*/false);
  return listener->get();
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 30;
  std::string out = "/tmp/backpressure-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") {
      seconds = std::stoi(argv[i + 1]);
    } else if (a == "--out") {
      out = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: backpressure_bench [--seconds N] [--out DIR]\n");
      return 2;
    }
  }
  std::filesystem::create_directories(out);
  std::ofstream csv(out + "/backpressure.csv");
  csv << "run,second,input_rate,processing_s,scheduling_delay_s\n";
  for (bool on : {false, true}) {
    std::vector<ember::BatchInfo> batches = Run(on, seconds);
    if (batches.empty()) continue;
    const int64_t t0 = batches.front().batchTime.milliseconds();
    double rates = 0;
    for (const auto& b : batches) {
      double rate = static_cast<double>(b.numRecords) / 0.5;
      rates += rate;
      csv << (on ? "on" : "off") << ","
          << static_cast<double>(b.batchTime.milliseconds() - t0) / 1000.0 << "," << rate << ","
          << static_cast<double>(b.processingDelay()) / 1000.0 << ","
          << static_cast<double>(b.schedulingDelay()) / 1000.0 << "\n";
    }
    std::printf(
        "backpressure %-3s: %zu batches, mean input %.0f records/s, last scheduling "
        "delay %.2f s\n",
        on ? "on" : "off", batches.size(), rates / static_cast<double>(batches.size()),
        static_cast<double>(batches.back().schedulingDelay()) / 1000.0);
  }
  csv.close();
  const std::string plot = out + "/backpressure.gp";
  std::ofstream(plot)
      << "set terminal pngcairo size 1000,700 font 'sans,10' noenhanced\n"
      << "set output '" << out << "/backpressure.png'\n"
      << "set datafile separator ','\n"
      << "set multiplot layout 3,1 title 'A job that processes ~40,000 records/s, fed 100,000/s "
         "(500 ms batches, local[3])'\n"
      << "set key top right\nset grid\n"
      << "set ylabel 'input (records/s)'\n"
      << "plot '< grep ^off " << out
      << "/backpressure.csv' using 2:3 with lines lw 2 title "
         "'backpressure off', '< grep ^on "
      << out
      << "/backpressure.csv' using 2:3 with lines "
         "lw 2 title 'backpressure on'\n"
      << "set ylabel 'processing (s)'\n"
      << "plot '< grep ^off " << out
      << "/backpressure.csv' using 2:4 with lines lw 2 title "
         "'off', '< grep ^on "
      << out << "/backpressure.csv' using 2:4 with lines lw 2 title 'on'\n"
      << "set ylabel 'scheduling delay (s)'\nset xlabel 'seconds since the first batch'\n"
      << "plot '< grep ^off " << out
      << "/backpressure.csv' using 2:5 with lines lw 2 title "
         "'off', '< grep ^on "
      << out << "/backpressure.csv' using 2:5 with lines lw 2 title 'on'\n"
      << "unset multiplot\n";
  if (std::system(("command -v gnuplot >/dev/null && gnuplot " + plot).c_str()) == 0) {
    std::printf("chart: %s/backpressure.png\n", out.c_str());
  } else {
    std::printf("no chart (install gnuplot-nox); data: %s/backpressure.csv\n", out.c_str());
  }
  return 0;
}
