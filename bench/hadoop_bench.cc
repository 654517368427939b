// Hadoop output formats in local[2] on a manual clock, in the same run: every batch of
// (Text key, LongWritable value) records saved with saveAsTextFiles (Ember's own text, the
// baseline), TextOutputFormat, and SequenceFileOutputFormat uncompressed, record- and
// block-compressed with DefaultCodec (zlib) at zlib's default level and at level 1. Prints
// records/s, MB/s of data (the records' size as uncompressed Writables), the bytes written per
// batch, and each one's rate relative to saveAsTextFiles.
//
//   bench/hadoop_bench [--records N] [--batches N]

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "common/hadoop.h"

namespace {

using KV = std::pair<std::string, int64_t>;
using Save = std::function<void(const ember::DStream<KV>&, const std::string& prefix)>;

struct Result {
  double ms_per_batch;
  double bytes_per_batch;
};

Result Run(const Save& save, int records, int batches) {
  ember::StreamingContext ssc(ember::bench::ManualLocalConf("hadoop-bench"), ember::Seconds(1),
                              std::make_shared<ember::ManualClock>());
  char dir[] = "/tmp/hadoop-bench-XXXXXX";
  std::string root = mkdtemp(dir);
  auto queue = std::make_shared<ember::RddQueue<KV>>();
  std::mt19937 rng(42);
  for (int b = 0; b < batches; ++b) {
    std::vector<KV> data(static_cast<size_t>(records));
    for (auto& kv : data) {
      kv = {"user-" + std::to_string(rng() % 100000) + "/page-" + std::to_string(rng() % 500),
            static_cast<int64_t>(rng() % 1000000)};
    }
    queue->push(ssc.parallelize(data, 4));
  }
  save(ssc.queueStream(queue), root + "/out");
  ssc.start();
  const int warmup = 2;
  double ms = ember::bench::MeanBatchMs(ssc, batches, warmup);
  ssc.stop();
  uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  std::filesystem::remove_all(root);
  return {ms, static_cast<double>(bytes) / batches};
}

}  // namespace

int main(int argc, char** argv) {
  int records = 200000, batches = 12;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::stoi(argv[i + 1]);
    if (a == "--records") {
      records = v;
    } else if (a == "--batches") {
      batches = v;
    } else {
      std::fprintf(stderr, "usage: hadoop_bench [--records N] [--batches N]\n");
      return 2;
    }
  }
  using ember::hadoop::Codec;
  using ember::hadoop::CompressionType;
  using ember::hadoop::SequenceFileOutputFormat;
  const std::vector<std::pair<const char*, Save>> runs = {
      {"saveAsTextFiles", [](const auto& s, const auto& p) { s.saveAsTextFiles(p); }},
      {"TextOutputFormat",
       [](const auto& s, const auto& p) {
         s.template saveAsHadoopFiles<ember::hadoop::TextOutputFormat>(p, "");
       }},
      {"SequenceFile",
       [](const auto& s, const auto& p) {
         s.saveAsHadoopFiles(p, "", SequenceFileOutputFormat{});
       }},
      {"SequenceFile record zlib",
       [](const auto& s, const auto& p) {
         s.saveAsHadoopFiles(p, "",
                             SequenceFileOutputFormat{CompressionType::kRecord, Codec::kDefault});
       }},
      {"SequenceFile block zlib",
       [](const auto& s, const auto& p) {
         s.saveAsHadoopFiles(p, "",
                             SequenceFileOutputFormat{CompressionType::kBlock, Codec::kDefault});
       }},
      {"SequenceFile block zlib 1",
       [](const auto& s, const auto& p) {
         s.saveAsHadoopFiles(p, "",
                             SequenceFileOutputFormat{CompressionType::kBlock, Codec::kDefault, 1});
       }},
  };
  std::vector<Result> results;
  for (const auto& run : runs) results.push_back(Run(run.second, records, batches));
  // MB/s of data: the uncompressed SequenceFile's bytes (the records as Writables) per second.
  const double data_mb = results[2].bytes_per_batch / 1e6;
  std::printf("%d records per batch (%.1f MB as Writables), 4 partitions, local[2]\n", records,
              data_mb);
  for (size_t i = 0; i < runs.size(); ++i) {
    const Result& r = results[i];
    double seconds = r.ms_per_batch / 1000;
    std::printf("%-26s %8.2f ms/batch %6.2f M records/s %7.1f MB/s   %5.1f MB written  %.2fx\n",
                runs[i].first, r.ms_per_batch, records / seconds / 1e6, data_mb / seconds,
                r.bytes_per_batch / 1e6, results[0].ms_per_batch / r.ms_per_batch);
  }
  return 0;
}
