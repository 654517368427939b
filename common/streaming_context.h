#pragma once
// StreamingContext: the entry point of a streaming job, as in Spark Streaming. Create the
// sources, chain transformations and outputs, then start(), and awaitTermination*().

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/broadcast.h"
#include "common/conf.h"
#include "common/dstream.h"
#include "common/engine_api.h"
#include "common/listener.h"
#include "common/rdd.h"
#include "common/receiver.h"

namespace ember {

class Clock;

enum class StreamingContextState { INITIALIZED, ACTIVE, STOPPED };

// The queue of a queueStream: push RDDs from any thread while the job runs.
template <typename T>
class RddQueue {
 public:
  void push(Rdd<T> rdd) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(rdd));
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }
  // Pops one RDD, or all of them; empty when there is none.
  std::vector<Rdd<T>> pop(bool all) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Rdd<T>> out;
    while (!queue_.empty() && (all || out.empty())) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::deque<Rdd<T>> queue_;
};

// The built-in socket source: lines of UTF-8 text from a TCP server, as socketTextStream.
class SocketTextReceiver : public Receiver<std::string> {
 public:
  SocketTextReceiver(std::string host, int port);
  ~SocketTextReceiver() override;
  void onStart() override;
  void onStop() override;

 private:
  void Receive();
  std::string host_;
  int port_;
  struct State;
  std::shared_ptr<State> state_;
};

class StreamingContext {
 public:
  StreamingContext(const Conf& conf, Duration batch_interval);
  // Batches follow `clock` instead of the system's: tests pass a ManualClock they advance
  // (util/clock.h in the Ember tree), so that no test sleeps to wait for a batch.
  StreamingContext(const Conf& conf, Duration batch_interval, std::shared_ptr<Clock> clock);
  ~StreamingContext();
  StreamingContext(const StreamingContext&) = delete;
  StreamingContext& operator=(const StreamingContext&) = delete;

  // ----------------------------------------------------------------------------- sources
  DStream<std::string> socketTextStream(const std::string& host, int port);
  // New text files in `directory`, one record per line (see fileStream for the rules).
  DStream<std::string> textFileStream(const std::string& directory);
  // Lines of the files that appear in `directory`: files directly in it, whose names do not
  // start with '.', that pass `filter(path)`, each read once, in the batch whose interval holds
  // its modification time (write files elsewhere and rename them in). newFilesOnly = false also
  // reads the files already there at start.
  DStream<std::string> fileStream(const std::string& directory,
                                  std::function<bool(const std::string& path)> filter,
                                  bool newFilesOnly = true);
  // Fixed-length binary records of new files, each as a std::string of `recordLength` bytes.
  DStream<std::string> binaryRecordsStream(const std::string& directory, int recordLength);
  // New files read with a Hadoop input format (common/hadoop.h), by the rules above:
  //   fileStream<int64_t, std::string, hadoop::TextInputFormat>(dir)      (offset, line)
  //   fileStream<std::string, int64_t, hadoop::SequenceFileInputFormat>(dir)
  // A SequenceFile whose classes are not K's and V's Writables fails its batch, naming both.
  template <typename K, typename V, typename Format>
  DStream<std::pair<K, V>> fileStream(const std::string& directory,
                                      std::function<bool(const std::string& path)> filter = {},
                                      bool newFilesOnly = true) {
    std::shared_ptr<const internal::DecoderOp> decoder;
    if constexpr (std::is_same_v<Format, hadoop::TextInputFormat>) {
      static_assert(std::is_same_v<K, int64_t> && std::is_same_v<V, std::string>,
                    "TextInputFormat's records are (int64_t offset, std::string line)");
      decoder = std::make_shared<internal::TextInputFormatDecoder>();
    } else {
      static_assert(std::is_same_v<Format, hadoop::SequenceFileInputFormat>,
                    "fileStream reads hadoop::TextInputFormat or hadoop::SequenceFileInputFormat");
      EMBER_ASSERT_WRITABLE(K, "a SequenceFile's key");
      EMBER_ASSERT_WRITABLE(V, "a SequenceFile's value");
      decoder = std::make_shared<internal::SequenceFileDecoder<K, V>>();
    }
    return DStream<std::pair<K, V>>(
        DecodedFileStream(directory, std::move(filter), newFilesOnly, std::move(decoder)));
  }
  // New object files (saveAsObjectFile's part files) of T records.
  template <typename T>
  DStream<T> objectFileStream(const std::string& directory,
                              std::function<bool(const std::string& path)> filter = {},
                              bool newFilesOnly = true) {
    return DStream<T>(DecodedFileStream(directory, std::move(filter), newFilesOnly,
                                        std::make_shared<internal::ObjectFileDecoder<T>>()));
  }

  template <typename T>
  DStream<T> queueStream(std::shared_ptr<RddQueue<T>> queue, bool oneAtATime = true) {
    internal::ContextCore* ctx = core_.get();
    return DStream<T>(
        internal::MakeSourceStream(ctx, [queue, oneAtATime, ctx](Time) -> internal::RddRef {
          std::vector<Rdd<T>> rdds = queue->pop(!oneAtATime);
          if (rdds.empty()) return internal::MakeEmptyRdd(ctx);
          if (rdds.size() == 1) return rdds[0].ref();
          std::vector<internal::RddRef> refs;
          for (const auto& r : rdds) refs.push_back(r.ref());
          return internal::MakeUnionRdd(std::move(refs));
        }));
  }

  // A custom receiver: R derives from Receiver<T> and is built on an executor as R(args...).
  template <typename R, typename... Args>
  auto receiverStream(Args... args) {
    using T = typename R::value_type;
    static_assert(std::is_base_of_v<Receiver<T>, R>,
                  "receiverStream<R>: R must derive from ember::Receiver<T>");
    auto factory = std::make_shared<internal::ReceiverFactory<R, std::decay_t<Args>...>>(
        std::make_tuple(args...));
    return DStream<T>(
        ReceiverStream(std::move(factory), std::make_shared<internal::VectorDecoder<T>>()));
  }

  template <typename T, typename... S>
  DStream<T> union_(const std::vector<DStream<T>>& streams) {
    std::vector<internal::StreamRef> refs;
    for (const auto& s : streams) refs.push_back(s.ref());
    return DStream<T>(internal::MakeDerivedStream(
        refs,
        [](const std::vector<internal::RddRef>& ps, Time) { return internal::MakeUnionRdd(ps); }));
  }

  // SparkContext's parallelize: an RDD from driver-side data.
  template <typename T>
  Rdd<T> parallelize(const std::vector<T>& data, int numSlices = 0) {
    return Rdd<T>(internal::MakeParallelRdd(core_.get(), data, numSlices));
  }
  template <typename T>
  Broadcast<T> broadcast(const T& value) {
    return Broadcast<T>::Create(value);
  }

  // --------------------------------------------------------------------------- lifecycle
  void start();
  // Stops receiving and processing. With stopGracefully, first waits until every block
  // received so far has been processed.
  void stop(bool stopSparkContext = true, bool stopGracefully = false);
  // Blocks until stop() or a failure; rethrows the job's error as EmberError.
  void awaitTermination();
  // Returns true when the context stopped within `timeoutMs`; rethrows the job's error.
  bool awaitTerminationOrTimeout(int64_t timeoutMs);
  StreamingContextState getState() const;

  // Where stateful streams (updateStateByKey, mapWithState, inverse windows) checkpoint their
  // state (they require one), where the metadata checkpoint is written every batch, and where
  // the receivers' write-ahead log lives. A context started on a directory holding checkpoints
  // recovers from the newest valid one: same batch times, the pending and missed batches run,
  // state restored. Its operators must be those of the checkpointed job (function bodies may
  // change); otherwise start() says which operator differs.
  void checkpoint(const std::string& directory);
  std::string checkpointDirectory() const;
  // True when start() will recover from (or has recovered from) a checkpoint.
  bool hasCheckpoint() const;

  // Spark's getOrCreate: the context of `checkpointPath`. The job's code is its graph, so
  // `creatingFunc` always builds it (with the same operators); when the directory holds a
  // checkpoint, start() recovers from it instead of starting afresh. The directory is set as
  // the context's checkpoint directory if creatingFunc did not set one.
  static std::unique_ptr<StreamingContext> getOrCreate(
      const std::string& checkpointPath,
      const std::function<std::unique_ptr<StreamingContext>()>& creatingFunc);

  // Subscribes a listener to this context's events (common/listener.h).
  void addStreamingListener(std::shared_ptr<StreamingListener> listener);
  // Spark's sc.setLogLevel: ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF (any case), for
  // this process (in a cluster: the application's driver process); an EmberError otherwise.
  void setLogLevel(const std::string& level);

  Duration batchDuration() const;
  const Conf& conf() const;
  // The clock the batches follow (the system's, or the one given to the constructor).
  Clock& clock();
  internal::ContextCore* core() const { return core_.get(); }

 private:
  internal::StreamRef ReceiverStream(std::shared_ptr<const internal::ReceiverFactoryOp> factory,
                                     std::shared_ptr<const internal::DecoderOp> decoder);
  internal::StreamRef DecodedFileStream(const std::string& directory,
                                        std::function<bool(const std::string&)> filter,
                                        bool newFilesOnly,
                                        std::shared_ptr<const internal::DecoderOp> decoder);
  std::shared_ptr<internal::ContextCore> core_;
};

}  // namespace ember
