// A reliable receiver over a source that replays what it was not told to keep: a file of
// numbers, one per line, read from the offset its acknowledgement file holds. Each chunk is
// stored with storeReliably and only then acknowledged (the offset after it written to the
// acknowledgement file, atomically), so a receiver that is stopped or moved to another
// executor starts again where the acknowledged records end: none is lost. Each batch is saved
// with saveAsTextFiles, so a test can check that every number arrived.
//
//   ember-submit ... libacked_file.so -- NUMBERS ACKS OUTPUT_PREFIX PER_SECOND BATCH_MS RUN_MS

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/ember.h"

namespace {

class AckedFileReceiver : public ember::Receiver<int64_t> {
 public:
  AckedFileReceiver(std::string numbers, std::string acks, int per_second)
      : numbers_(std::move(numbers)), acks_(std::move(acks)), per_second_(per_second) {}

  void onStart() override {
    thread_ = std::thread([this] { Run(); });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::streamoff offset = 0;
    {
      std::ifstream ack(acks_);
      ack >> offset;
    }
    std::ifstream in(numbers_);
    in.seekg(offset);
    constexpr int kChunk = 100;
    const auto pause = std::chrono::milliseconds(1000 * kChunk / per_second_);
    while (!isStopped()) {
      std::vector<int64_t> chunk;
      std::string line;
      while (static_cast<int>(chunk.size()) < kChunk && std::getline(in, line)) {
        chunk.push_back(std::stoll(line));
      }
      if (chunk.empty()) return;  // all read
      std::streamoff next = in.tellg();
      if (next < 0) {  // the last line read hit the end of the file
        in.clear();
        in.seekg(0, std::ios::end);
        next = in.tellg();
      }
      // Not acknowledged: the source keeps the chunk, and gives it again.
      while (!storeReliably(chunk)) {
        if (isStopped()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      {
        std::string tmp = acks_ + ".tmp";
        std::ofstream(tmp) << next << "\n";
        std::rename(tmp.c_str(), acks_.c_str());
      }
      std::this_thread::sleep_for(pause);
    }
  }

  const std::string numbers_, acks_;
  const int per_second_;
  std::thread thread_;
};

}  // namespace

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.size() != 6) {
    throw ember::EmberError(
        "usage: libacked_file.so NUMBERS ACKS OUTPUT_PREFIX PER_SECOND BATCH_MS RUN_MS");
  }
  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(std::stoll(args[4])));
  ssc.receiverStream<AckedFileReceiver>(args[0], args[1], std::stoi(args[3]))
      .saveAsTextFiles(args[2]);
  ssc.start();
  ssc.awaitTerminationOrTimeout(std::stoll(args[5]));
  ssc.stop();
}
