// Hadoop's formats: Writable and SequenceFile bytes as Hadoop writes them, every compression
// round trip, malformed files, TextOutputFormat's lines, and the outputs and file streams of a
// local-mode context. (tests/spark_interop_test.py checks the same files against Spark.)

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/hadoop.h"
#include "runtime/testing.h"

namespace ember {
namespace {

using hadoop::Bytes;
using hadoop::Codec;
using hadoop::CompressionType;
using hadoop::NullWritable;
using internal::Writable;
using testing::Collector;
using testing::ManualStreams;
using testing::MoveIn;
using KV = std::pair<std::string, int64_t>;

constexpr int64_t kStart = 1700000000000;

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/ember-hadoop-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

template <typename T>
std::string WritableBytes(const T& x) {
  std::string out;
  Writable<T>::Write(x, &out);
  return out;
}

std::string VLong(int64_t v) {
  std::string out;
  internal::PutHadoopVLong(v, &out);
  return out;
}

TEST(WritableTest, BytesAsJavasDataOutputWritesThem) {
  EXPECT_EQ(WritableBytes(std::string("hello")), std::string("\x05hello"));
  EXPECT_EQ(WritableBytes(int32_t{1}), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(WritableBytes(int32_t{-2}), std::string("\xff\xff\xff\xfe", 4));
  EXPECT_EQ(WritableBytes(int64_t{258}), std::string("\0\0\0\0\0\0\x01\x02", 8));
  EXPECT_EQ(WritableBytes(1.0), std::string("\x3f\xf0\0\0\0\0\0\0", 8));
  EXPECT_EQ(WritableBytes(1.0f), std::string("\x3f\x80\0\0", 4));
  EXPECT_EQ(WritableBytes(true), std::string("\x01"));
  EXPECT_EQ(WritableBytes(Bytes{0xab, 0x01}), std::string("\0\0\0\x02\xab\x01", 6));
  EXPECT_EQ(WritableBytes(NullWritable{}), "");
  EXPECT_STREQ(Writable<int32_t>::kClass, "org.apache.hadoop.io.IntWritable");
  EXPECT_STREQ(Writable<int64_t>::kClass, "org.apache.hadoop.io.LongWritable");
  EXPECT_STREQ(Writable<std::string>::kClass, "org.apache.hadoop.io.Text");
}

TEST(WritableTest, VLongsAsWritableUtilsWritesThem) {
  EXPECT_EQ(VLong(0), std::string("\0", 1));
  EXPECT_EQ(VLong(127), "\x7f");
  EXPECT_EQ(VLong(-112), "\x90");
  EXPECT_EQ(VLong(128), "\x8f\x80");
  EXPECT_EQ(VLong(300), "\x8e\x01\x2c");
  EXPECT_EQ(VLong(-113), "\x87\x70");
  EXPECT_EQ(VLong(-1000), std::string("\x86\x03\xe7"));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    int64_t v = static_cast<int64_t>(rng()) >> (rng() % 64);
    std::string bytes = VLong(v);
    std::string_view in = bytes;
    int64_t back = 0;
    ASSERT_TRUE(internal::GetHadoopVLong(&in, &back));
    EXPECT_EQ(back, v);
    EXPECT_TRUE(in.empty());
  }
}

TEST(SequenceFileTest, HeaderAndRecordsByteForByte) {
  std::vector<KV> records = {{"a", 1}, {"bc", -1}};
  std::string file = internal::EncodeSequenceFile(records, {});
  std::string expected("SEQ\x06", 4);
  expected += "\x19org.apache.hadoop.io.Text";
  expected += "\x21org.apache.hadoop.io.LongWritable";
  expected += std::string("\0\0", 2);      // not compressed, not block-compressed
  expected += std::string("\0\0\0\0", 4);  // no metadata
  ASSERT_GE(file.size(), expected.size() + 16);
  EXPECT_EQ(file.substr(0, expected.size()), expected);
  std::string body = file.substr(expected.size() + 16);  // after the sync marker
  EXPECT_EQ(body, std::string("\0\0\0\x0a\0\0\0\x02\x01"
                              "a\0\0\0\0\0\0\0\x01"
                              "\0\0\0\x0b\0\0\0\x03\x02"
                              "bc\xff\xff\xff\xff\xff\xff\xff\xff",
                              37));
  EXPECT_EQ((internal::DecodeSequenceFile<std::string, int64_t>(file, "f")), records);
}

class SequenceFileRoundTrip : public ::testing::TestWithParam<std::tuple<CompressionType, Codec>> {
};

TEST_P(SequenceFileRoundTrip, ManyRecordsAcrossSyncEntriesAndBlocks) {
  hadoop::SequenceFileOutputFormat format{std::get<0>(GetParam()), std::get<1>(GetParam())};
  std::mt19937_64 rng(11);
  std::vector<std::pair<int32_t, Bytes>> records;
  size_t total = 0;
  while (total < 3 * 1000000) {  // past the 1 MB block and many 100 KB sync intervals
    Bytes value(rng() % 400);
    for (auto& b : value) b = static_cast<uint8_t>(rng() % 7);  // compressible
    total += value.size() + 4;
    records.emplace_back(static_cast<int32_t>(rng()), std::move(value));
  }
  records.emplace_back(0, Bytes{});
  std::string file = internal::EncodeSequenceFile(records, format);
  EXPECT_EQ((internal::DecodeSequenceFile<int32_t, Bytes>(file, "f")), records);
  // Sync entries: an escape (-1) and the header's 16-byte marker.
  size_t header_end = 4;               // "SEQ" 6
  header_end += 1 + file[header_end];  // key class (names under 128 bytes: a 1-byte length)
  header_end += 1 + file[header_end];  // value class
  bool compressed = file[header_end] != 0;
  header_end += 2;                                     // compression flags
  if (compressed) header_end += 1 + file[header_end];  // codec class
  header_end += 4;                                     // no metadata
  std::string sync = std::string("\xff\xff\xff\xff", 4) + file.substr(header_end, 16);
  size_t syncs = 0;
  for (size_t at = file.find(sync); at != std::string::npos; at = file.find(sync, at + 1)) ++syncs;
  if (format.compression == CompressionType::kNone) {
    EXPECT_GE(syncs, total / (100 * 1024) - 1);
  } else {
    EXPECT_GE(syncs, 3u);  // one before each block; record compression every ~100 KB
  }
  if (format.compression != CompressionType::kNone) {
    EXPECT_LT(file.size(), total);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCompressions, SequenceFileRoundTrip,
    ::testing::Values(std::make_tuple(CompressionType::kNone, Codec::kDefault),
                      std::make_tuple(CompressionType::kRecord, Codec::kDefault),
                      std::make_tuple(CompressionType::kRecord, Codec::kGzip),
                      std::make_tuple(CompressionType::kBlock, Codec::kDefault),
                      std::make_tuple(CompressionType::kBlock, Codec::kGzip)));

TEST(SequenceFileTest, MalformedFilesGiveClearErrors) {
  std::vector<KV> records;
  for (int i = 0; i < 50; ++i) records.emplace_back("k" + std::to_string(i), i);
  for (auto compression : {CompressionType::kNone, CompressionType::kBlock}) {
    std::string file = internal::EncodeSequenceFile(records, {compression, Codec::kDefault});
    // Every truncation either reads a prefix of the records (cut at a record's end) or throws.
    for (size_t n = 0; n < file.size(); n += 7) {
      try {
        auto got = internal::DecodeSequenceFile<std::string, int64_t>(file.substr(0, n), "cut");
        ASSERT_LE(got.size(), records.size());
        EXPECT_TRUE(std::equal(got.begin(), got.end(), records.begin()));
      } catch (const EmberError& e) {
        EXPECT_NE(std::string(e.what()).find("SequenceFile cut: "), std::string::npos);
      }
    }
    // Flipped bytes never crash: a clear error or some records.
    std::mt19937 rng(3);
    for (int i = 0; i < 300; ++i) {
      std::string bad = file;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      try {
        internal::DecodeSequenceFile<std::string, int64_t>(bad, "bad");
      } catch (const EmberError&) {
      }
    }
  }
  try {
    internal::DecodeSequenceFile<int32_t, int64_t>(internal::EncodeSequenceFile(records, {}), "x");
    FAIL() << "expected a class mismatch";
  } catch (const EmberError& e) {
    EXPECT_EQ(std::string(e.what()),
              "SequenceFile x holds (org.apache.hadoop.io.Text, "
              "org.apache.hadoop.io.LongWritable) records, not the "
              "(org.apache.hadoop.io.IntWritable, org.apache.hadoop.io.LongWritable) its "
              "reader's types are written as");
  }
  EXPECT_THROW((internal::DecodeSequenceFile<std::string, int64_t>("PK\x03\x04", "zip")),
               EmberError);
}

TEST(TextOutputFormatTest, LinesAsLineRecordWriterWritesThem) {
  std::string out;
  internal::AppendHadoopTextLine(std::string("k"), 1.0, &out);
  internal::AppendHadoopTextLine(NullWritable{}, int64_t{7}, &out);
  internal::AppendHadoopTextLine(std::string("only key"), NullWritable{}, &out);
  internal::AppendHadoopTextLine(NullWritable{}, NullWritable{}, &out);  // no line at all
  internal::AppendHadoopTextLine(std::optional<int32_t>{}, Bytes{0x0f, 0xa0}, &out);
  internal::AppendHadoopTextLine(int32_t{3}, std::optional<std::string>{"v"}, &out);
  internal::AppendHadoopTextLine(true, 1e10, &out);
  EXPECT_EQ(out, "k\t1.0\n7\nonly key\n0f a0\n3\tv\ntrue\t1.0E10\n");
}

TEST(TextInputFormatTest, OffsetsAndLineEndsAsLineReaderFindsThem) {
  EXPECT_EQ(
      internal::SplitLinesWithOffsets("a\nbb\r\ncc\rd"),
      (std::vector<std::pair<int64_t, std::string>>{{0, "a"}, {2, "bb"}, {6, "cc"}, {9, "d"}}));
  EXPECT_EQ(internal::SplitLinesWithOffsets("x\n\ny\n"),
            (std::vector<std::pair<int64_t, std::string>>{{0, "x"}, {2, ""}, {3, "y"}}));
  EXPECT_TRUE(internal::SplitLinesWithOffsets("").empty());
}

// ------------------------------------------------------------------------ in a context

TEST(HadoopOutputTest, BatchDirectoriesInEveryFormat) {
  std::string dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  auto q = std::make_shared<RddQueue<KV>>();
  std::vector<KV> batch = {{"a", 1}, {"b", 2}, {"c", 3}, {"tab\there", -4}};
  q->push(env.ssc().parallelize(batch, 2));
  DStream<KV> s = env.ssc().queueStream(q);
  s.saveAsHadoopFiles<hadoop::TextOutputFormat>(dir + "/text", "txt");
  s.saveAsHadoopFiles(dir + "/seq", "", hadoop::SequenceFileOutputFormat{});
  s.saveAsNewAPIHadoopFiles(
      dir + "/gz", "seq", hadoop::SequenceFileOutputFormat{CompressionType::kBlock, Codec::kGzip});
  s.map([](const KV& kv) { return kv.second; }).saveAsObjectFiles(dir + "/obj");
  env.ssc().start();
  int64_t ms = env.RunBatches(1)[0].milliseconds();
  std::string t = std::to_string(ms);

  EXPECT_EQ(ListDir(dir + "/text-" + t + ".txt"),
            (std::vector<std::string>{"_SUCCESS", "part-00000", "part-00001"}));
  EXPECT_EQ(ReadFile(dir + "/text-" + t + ".txt/part-00000") +
                ReadFile(dir + "/text-" + t + ".txt/part-00001"),
            "a\t1\nb\t2\nc\t3\ntab\there\t-4\n");
  EXPECT_EQ((hadoop::ReadSequenceFiles<std::string, int64_t>(dir + "/seq-" + t)), batch);
  EXPECT_EQ(ListDir(dir + "/gz-" + t + ".seq"),
            (std::vector<std::string>{"_SUCCESS", "part-r-00000", "part-r-00001"}));
  EXPECT_EQ((hadoop::ReadSequenceFiles<std::string, int64_t>(dir + "/gz-" + t + ".seq")), batch);
  EXPECT_EQ(ReadObjectFiles<int64_t>(dir + "/obj-" + t), (std::vector<int64_t>{1, 2, 3, -4}));
  // Nothing hidden is left beside the batch directories.
  for (const auto& name : ListDir(dir)) EXPECT_NE(name[0], '.') << name;
}

TEST(HadoopOutputTest, ADirectoryWrittenAgainIsReplacedWhole) {
  std::string dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  std::string path = dir + "/out";
  env.ssc()
      .parallelize(std::vector<KV>{{"x", 1}, {"y", 2}}, 3)
      .saveAsHadoopFile(path, hadoop::SequenceFileOutputFormat{});
  EXPECT_EQ(ListDir(path).size(), 4u);
  env.ssc().parallelize(std::vector<KV>{{"z", 3}}, 1).saveAsSequenceFile(path, Codec::kDefault);
  EXPECT_EQ(ListDir(path), (std::vector<std::string>{"_SUCCESS", "part-00000"}));
  EXPECT_EQ((hadoop::ReadSequenceFiles<std::string, int64_t>(path)), (std::vector<KV>{{"z", 3}}));
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"out"}));
}

TEST(HadoopInputTest, FileStreamsInEveryFormat) {
  std::string seq_dir = MakeTempDir(), text_dir = MakeTempDir(), obj_dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  Collector<KV> seq;
  seq.Attach(env.ssc().fileStream<std::string, int64_t, hadoop::SequenceFileInputFormat>(seq_dir));
  Collector<std::pair<int64_t, std::string>> text;
  text.Attach(env.ssc().fileStream<int64_t, std::string, hadoop::TextInputFormat>(text_dir));
  Collector<double> obj;
  obj.Attach(env.ssc().objectFileStream<double>(obj_dir));
  env.ssc().start();
  std::vector<KV> one = {{"a", 1}, {"b", 2}}, two = {{"c", 3}};
  MoveIn(seq_dir, "part-00000", internal::EncodeSequenceFile(one, {}), kStart + 100);
  MoveIn(seq_dir, "part-00001",
         internal::EncodeSequenceFile(two, {CompressionType::kRecord, Codec::kGzip}), kStart + 200);
  MoveIn(text_dir, "lines.txt", "first\nsecond\r\n", kStart + 300);
  MoveIn(obj_dir, "part-00000", internal::EncodeObjectFile(std::vector<double>{0.5, -2}),
         kStart + 400);
  auto times = env.RunBatches(1);
  EXPECT_EQ(testing::Sorted(seq.At(times[0])), (std::vector<KV>{{"a", 1}, {"b", 2}, {"c", 3}}));
  EXPECT_EQ(text.At(times[0]),
            (std::vector<std::pair<int64_t, std::string>>{{0, "first"}, {6, "second"}}));
  EXPECT_EQ(obj.At(times[0]), (std::vector<double>{0.5, -2}));
}

TEST(HadoopInputTest, AFileOfOtherClassesFailsItsBatchNamingThem) {
  std::string dir = MakeTempDir();
  ManualStreams env(Seconds(1), "local[2]", testing::ManualConf(), kStart);
  env.ssc().fileStream<int32_t, int64_t, hadoop::SequenceFileInputFormat>(dir).print();
  env.ssc().start();
  MoveIn(dir, "part-00000", internal::EncodeSequenceFile(std::vector<KV>{{"a", 1}}, {}),
         kStart + 100);
  env.RunBatches(1);
  try {
    env.ssc().awaitTerminationOrTimeout(1);
    FAIL() << "expected the batch's error";
  } catch (const EmberError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(dir + "/part-00000"), std::string::npos) << what;
    EXPECT_NE(what.find("holds (org.apache.hadoop.io.Text, org.apache.hadoop.io.LongWritable)"),
              std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace ember
