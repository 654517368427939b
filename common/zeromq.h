#pragma once
// ZeroMQ in, as Apache Bahir's ZeroMQUtils (Spark's former spark-streaming-zeromq): a receiver
// on a SUB socket (libzmq, in the runtime) that hands each multipart message's frames to a
// converter.
//
//   auto lines = ember::zeromq::createTextStream(ssc, "tcp://127.0.0.1:5555", true, {"logs"});
//
// `connect` says whether the socket connects to `url` (a publisher that binds) or binds it.
// `topics` are subscription prefixes ("" for everything). A message is its topic frame and
// the frames after it; createStream's converter gets them all (Bahir 2.2+), createTextStream
// makes a string of each frame after the topic. As any receiver's, what the socket delivered
// but a batch did not yet take is lost with the receiver's process: PUB/SUB has no
// acknowledgements.

#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/closure.h"
#include "common/dstream.h"
#include "common/errors.h"
#include "common/receiver.h"
#include "common/streaming_context.h"

namespace ember {
namespace internal {

// Implemented by the runtime on libzmq (runtime/message_buses.cc).
struct ZmqSubscriber;
// Null, and `error` set, when the socket cannot be made.
ZmqSubscriber* ZmqOpen(const std::string& url, bool connect, const std::vector<std::string>& topics,
                       std::string* error);
// One multipart message's frames; false when none came within `timeout_ms`.
bool ZmqReceive(ZmqSubscriber* socket, std::vector<std::string>* frames, int timeout_ms);
void ZmqClose(ZmqSubscriber* socket);

// A shippable function as a receiver's constructor argument.
template <typename F>
struct ShippedFunction {
  std::optional<F> f;
  void serialize(Writer& w) const { SaveClosure(*f, w); }
  bool deserialize(Reader& r) {
    auto loaded = LoadClosure<F>(r);
    if (!loaded) return false;
    f.emplace(std::move(*loaded));
    return true;
  }
};

template <typename T, typename F>
class ZeroMQReceiver : public Receiver<T> {
 public:
  ZeroMQReceiver(std::string url, bool connect, std::vector<std::string> topics,
                 ShippedFunction<F> converter)
      : url_(std::move(url)),
        connect_(connect),
        topics_(std::move(topics)),
        converter_(std::move(converter)) {}
  void onStart() override {
    thread_ = std::thread([this] {
      std::string error;
      ZmqSubscriber* socket = ZmqOpen(url_, connect_, topics_, &error);
      if (socket == nullptr) {
        this->restart("cannot open a ZeroMQ SUB socket on " + url_ + ": " + error);
        return;
      }
      std::vector<std::string> frames;
      while (!this->isStopped()) {
        if (!ZmqReceive(socket, &frames, 100)) continue;
        this->store((*converter_.f)(frames));
      }
      ZmqClose(socket);
    });
  }
  void onStop() override {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string url_;
  bool connect_;
  std::vector<std::string> topics_;
  ShippedFunction<F> converter_;
  std::thread thread_;
};

// createTextStream's converter: each frame after the topic, as a string.
struct FramesAfterTopic {
  std::vector<std::string> operator()(const std::vector<std::string>& frames) const {
    if (frames.size() <= 1) return {};
    return std::vector<std::string>(frames.begin() + 1, frames.end());
  }
};

}  // namespace internal

namespace zeromq {

// `converter(frames)` gives the records of one message (a std::vector<T>); it runs where the
// receiver runs, so it must be shippable as any function given to map.
template <typename F>
auto createStream(StreamingContext& ssc, const std::string& url, bool connect,
                  std::vector<std::string> topics, F converter) {
  EMBER_ASSERT_SHIPPABLE(F);
  using Records = std::invoke_result_t<F, const std::vector<std::string>&>;
  using T = typename Records::value_type;
  internal::ShippedFunction<F> shipped;
  shipped.f.emplace(std::move(converter));
  return ssc.receiverStream<internal::ZeroMQReceiver<T, F>>(url, connect, std::move(topics),
                                                            std::move(shipped));
}

inline DStream<std::string> createTextStream(StreamingContext& ssc, const std::string& url,
                                             bool connect, std::vector<std::string> topics) {
  return createStream(ssc, url, connect, std::move(topics), internal::FramesAfterTopic{});
}

}  // namespace zeromq
}  // namespace ember
