// The Ember side of tests/spark_interop_test.py.
//   hadoop_interop write DIR   runs one batch of a local-mode stream that saves the same
//                              records in every Hadoop format Ember writes, under DIR, and
//                              writes the records expected in each to DIR/expected.json
//   hadoop_interop read KIND DIR
//                              prints, as JSON, the records of the SequenceFiles Spark saved
//                              in DIR; KIND names the (key, value) types:
//                              text_long, int_double, bool_double, null_bytes

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/ember.h"
#include "common/hadoop.h"
#include "runtime/testing.h"

namespace ember {
namespace {

using hadoop::Bytes;
using hadoop::Codec;
using hadoop::CompressionType;
using hadoop::NullWritable;
using Json = nlohmann::json;

constexpr int kRecords = 30000;  // ~1.5 MB of Text keys: sync entries and several blocks

std::string KeyOf(int i) {
  if (i == 0) return "";
  if (i % 7 == 0) return "ключ-" + std::to_string(i) + " 鍵";
  return "key " + std::to_string(i) + std::string(i % 40, 'x');
}

Json ToJson(const Bytes& b) { return Json(std::vector<int>(b.begin(), b.end())); }

int Write(const std::string& dir) {
  testing::ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), 1700000000000);
  StreamingContext& ssc = env.ssc();
  using TL = std::pair<std::string, int64_t>;
  std::vector<TL> text_long;
  std::vector<std::pair<int32_t, double>> int_double;
  std::vector<std::pair<bool, float>> bool_float;
  std::vector<std::pair<NullWritable, Bytes>> null_bytes;
  std::vector<std::pair<std::string, NullWritable>> key_only;
  std::vector<int64_t> objects;
  Json expected;
  for (int i = 0; i < kRecords; ++i) {
    int64_t v = (int64_t{i} - 100) * 8589934592LL + i;  // beyond 32 bits, and negative
    text_long.emplace_back(KeyOf(i), v);
    expected["text_long"].push_back({KeyOf(i), v});
    if (i < 1000) {
      int_double.emplace_back(i - 500, i / 3.0);
      expected["int_double"].push_back({i - 500, i / 3.0});
      bool_float.emplace_back(i % 2 == 0, static_cast<float>(i) * 0.25f);
      expected["bool_float"].push_back({i % 2 == 0, i * 0.25});
      Bytes b(static_cast<size_t>(i % 5));
      for (size_t j = 0; j < b.size(); ++j) b[j] = static_cast<uint8_t>((i * 31 + j) % 256);
      null_bytes.emplace_back(NullWritable{}, b);
      expected["null_bytes"].push_back({nullptr, ToJson(b)});
      key_only.emplace_back("only " + std::to_string(i), NullWritable{});
      expected["key_only_lines"].push_back("only " + std::to_string(i));
      objects.push_back(v);
    }
  }
  for (const auto& [k, v] : text_long) {
    expected["text_lines"].push_back(k + "\t" + std::to_string(v));
  }

  auto queue = [&](auto records) {
    using T = typename decltype(records)::value_type;
    auto q = std::make_shared<RddQueue<T>>();
    q->push(ssc.parallelize(records, 2));
    return ssc.queueStream(q);
  };
  auto tl = queue(text_long);
  tl.saveAsHadoopFiles<hadoop::TextOutputFormat>(dir + "/text", "");
  tl.saveAsNewAPIHadoopFiles<hadoop::TextOutputFormat>(dir + "/newtext", "");
  const std::vector<std::pair<std::string, hadoop::SequenceFileOutputFormat>> formats = {
      {"none", {}},
      {"record-default", {CompressionType::kRecord, Codec::kDefault}},
      {"record-gzip", {CompressionType::kRecord, Codec::kGzip}},
      {"block-default", {CompressionType::kBlock, Codec::kDefault}},
      {"block-gzip", {CompressionType::kBlock, Codec::kGzip}},
  };
  for (const auto& [name, format] : formats) tl.saveAsHadoopFiles(dir + "/seq", name, format);
  queue(int_double)
      .saveAsNewAPIHadoopFiles(dir + "/int_double", "", hadoop::SequenceFileOutputFormat{});
  queue(bool_float).saveAsHadoopFiles(dir + "/bool_float", "", hadoop::SequenceFileOutputFormat{});
  queue(null_bytes)
      .saveAsHadoopFiles(
          dir + "/null_bytes", "",
          hadoop::SequenceFileOutputFormat{CompressionType::kBlock, Codec::kDefault});
  queue(key_only).saveAsHadoopFiles<hadoop::TextOutputFormat>(dir + "/key_only", "");
  queue(objects).saveAsObjectFiles(dir + "/objects");
  ssc.start();
  Time t = env.RunBatches(1)[0];
  ssc.stop();
  expected["time"] = t.milliseconds();
  std::ofstream(dir + "/expected.json") << expected.dump();
  return 0;
}

template <typename K, typename V, typename F>
int Print(const std::string& dir, F to_json) {
  Json out = Json::array();
  for (const auto& [k, v] : hadoop::ReadSequenceFiles<K, V>(dir)) out.push_back(to_json(k, v));
  std::cout << out.dump() << std::endl;
  return 0;
}

int Read(const std::string& kind, const std::string& dir) {
  if (kind == "text_long") {
    return Print<std::string, int64_t>(dir, [](const auto& k, auto v) { return Json{k, v}; });
  }
  if (kind == "int_double") {
    return Print<int32_t, double>(dir, [](auto k, auto v) { return Json{k, v}; });
  }
  if (kind == "bool_double") {
    return Print<bool, double>(dir, [](auto k, auto v) { return Json{k, v}; });
  }
  if (kind == "null_bytes") {
    return Print<NullWritable, Bytes>(dir, [](auto, const auto& v) {
      return Json{nullptr, ToJson(v)};
    });
  }
  std::cerr << "unknown kind " << kind << "\n";
  return 2;
}

}  // namespace
}  // namespace ember

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "write") return ember::Write(argv[2]);
    if (argc == 4 && std::string(argv[1]) == "read") return ember::Read(argv[2], argv[3]);
  } catch (const std::exception& e) {
    std::cerr << "hadoop_interop: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: hadoop_interop write DIR | read KIND DIR\n";
  return 2;
}
