// Kafka throughput: the word count of examples/kafka_word_count.cc in local[2] (ember-submit,
// 1 s batches) over a topic of librdkafka's mock cluster (4 partitions, run by this process),
// with its counts written back to Kafka (saveToKafka, idempotent) and without, against the
// socket word count (examples/network_word_count.cc fed by ember-textserver) in the same run.
// Lines are 10 words from an 8-word vocabulary, as cluster_bench's. (The mock keeps about
// the last 140,000 records of a partition: keep --lines-per-partition below that.)
//
// For each it prints the words and MB processed per second of batch processing time (from the
// job's "Total delay" lines), then `kafka/socket: X.XX` (without the sink) last.
//
//   bench/kafka_bench [--lines-per-partition N] [--rate-per-partition N] [--seconds N]

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/batch_log.h"
#include "tests/process.h"

namespace {

using ember::bench::MeasureRun;
using ember::bench::Run;
using ember::testing::MakeTempDir;
using ember::testing::Subprocess;
using namespace std::chrono_literals;

void Report(const char* mode, const Run& r) {
  const double kBytesPerWord = 3.0;  // "w0 " .. "w7 "
  double rate = r.execution_s > 0 ? static_cast<double>(r.words) / r.execution_s : 0;
  std::printf("%-18s %10lld words in %3lld batches | processed %10.0f words/s %6.2f MB/s\n", mode,
              static_cast<long long>(r.words), static_cast<long long>(r.batches), rate,
              rate * kBytesPerWord / 1e6);
}

double Rate(const Run& r) { return ember::bench::ProcessingRate(r); }

}  // namespace

int main(int argc, char** argv) {
  int lines_per_partition = 100000, rate_per_partition = 25000, seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--lines-per-partition") {
      lines_per_partition = std::stoi(argv[i + 1]);
    } else if (a == "--rate-per-partition") {
      rate_per_partition = std::stoi(argv[i + 1]);
    } else if (a == "--seconds") {
      seconds = std::stoi(argv[i + 1]);
    } else {
      std::fprintf(stderr,
                   "usage: kafka_bench [--lines-per-partition N] [--rate-per-partition N] "
                   "[--seconds N]\n");
      return 2;
    }
  }
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(handle, 1);
  const std::string brokers = rd_kafka_mock_cluster_bootstraps(mock);
  for (const char* topic : {"lines", "counts"}) rd_kafka_mock_topic_create(mock, topic, 4, 1);
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  rd_kafka_conf_set(pconf, "bootstrap.servers", brokers.c_str(), error, sizeof(error));
  rd_kafka_conf_set(pconf, "linger.ms", "20", error, sizeof(error));
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof(error));
  auto fill = [&](int first) {
    uint64_t x = 42;
    for (int p = 0; p < 4; ++p) {
      for (int i = 0; i < lines_per_partition; ++i) {
        std::string line;
        for (int w = 0; w < 10; ++w) {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          line += (w ? " w" : "w") + std::to_string((x >> 33) % 8);
        }
        while (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("lines"), RD_KAFKA_V_PARTITION(p),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE(line.data(), line.size()),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer, 10);
        }
      }
    }
    rd_kafka_flush(producer, 120000);
    (void)first;
  };
  std::fprintf(stderr, "kafka_bench: producing %d lines\n", 4 * lines_per_partition);
  fill(0);

  std::string dir = MakeTempDir("kafka-bench");
  const std::string batch_ms = "1000", run_ms = std::to_string(seconds * 1000);
  auto kafka_run = [&](const std::string& group, bool sink, Run* out) {
    std::vector<std::string> argv = {
        "tools/ember-submit",
        "--master",
        "local[2]",
        "--log-level",
        "INFO",
        "--conf",
        "ember.ui.enabled=false",
        "--conf",
        "ember.streaming.kafka.maxRatePerPartition=" + std::to_string(rate_per_partition),
        "examples/libkafka_word_count.so",
        "--",
        brokers,
        "lines",
        group,
        batch_ms,
        run_ms,
        "",
        ""};
    if (sink) argv.push_back("counts");
    Subprocess job(argv, dir, "kafka-" + group);
    if (job.Wait(std::chrono::seconds(seconds + 120)) != 0) {
      std::fprintf(stderr, "kafka run failed:\n%s\n", job.Stderr().c_str());
      return false;
    }
    *out = MeasureRun(job.Stdout(), job.Stderr());
    return true;
  };
  Run plain, with_sink, socket;
  // Each run reads the topic from the start (a group of its own).
  if (!kafka_run("plain", false, &plain) || !kafka_run("sink", true, &with_sink)) return 1;
  {
    Subprocess server({"tools/ember-textserver", "--port", "0", "--generate", "--vocabulary", "8",
                       "--words-per-line", "10", "--rate", std::to_string(4 * rate_per_partition)},
                      dir, "source");
    if (!server.WaitForOutput("listening on", 10s)) return 1;
    std::smatch m;
    std::string text = server.Stdout();
    if (!std::regex_search(text, m, std::regex(R"(listening on \S+:(\d+))"))) return 1;
    Subprocess job({"tools/ember-submit", "--master", "local[2]", "--log-level", "INFO", "--conf",
                    "ember.ui.enabled=false", "examples/libnetwork_word_count.so", "--",
                    "127.0.0.1", m[1].str(), batch_ms, run_ms},
                   dir, "socket");
    if (job.Wait(std::chrono::seconds(seconds + 60)) != 0) {
      std::fprintf(stderr, "socket run failed:\n%s\n", job.Stderr().c_str());
      return 1;
    }
    socket = MeasureRun(job.Stdout(), job.Stderr());
  }
  Report("kafka", plain);
  Report("kafka -> kafka", with_sink);
  Report("socket", socket);
  std::printf("kafka->kafka/kafka: %.2f\n", Rate(plain) > 0 ? Rate(with_sink) / Rate(plain) : 0);
  std::printf("kafka/socket: %.2f\n", Rate(socket) > 0 ? Rate(plain) / Rate(socket) : 0);
  rd_kafka_destroy(producer);
  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(handle);
  return 0;
}
