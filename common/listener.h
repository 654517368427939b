#pragma once
// StreamingListener: the events of a running StreamingContext, as Spark's. Subscribe with
// ssc.addStreamingListener(std::make_shared<MyListener>()). Events are delivered in order on
// one thread of the driver, after the fact (the job never waits for a listener); an exception
// a listener throws is logged and the job goes on. Times are milliseconds since the epoch of
// the context's clock; -1 means "not yet".

#include <cstdint>
#include <map>
#include <string>

#include "common/time.h"

namespace ember {

struct OutputOperationInfo {
  Time batchTime;
  int id = 0;        // the output operation's index, in registration order
  std::string name;  // e.g. "print", "foreachRDD"
  std::string description;
  int64_t startTime = -1;
  int64_t endTime = -1;
  std::string failureReason;  // empty when it succeeded (or has not ended)
  int64_t duration() const { return endTime < 0 || startTime < 0 ? -1 : endTime - startTime; }
};

// One receiver input stream's part of a batch (Spark's StreamInputInfo).
struct StreamInputInfo {
  int inputStreamId = 0;
  int64_t numRecords = 0;  // records of this stream in the batch
  // The rate limit in force once the batch completed, records per second: the smaller of
  // ember.streaming.receiver.maxRate and backpressure's estimate; 0 when unlimited.
  double rateLimit = 0;
};

struct BatchInfo {
  Time batchTime;
  int64_t numRecords = 0;  // records received for this batch, all streams
  // Each receiver stream's records and rate limit, on completion.
  std::map<int, StreamInputInfo> streamIdToInputInfo;
  int64_t submissionTime = 0;  // when the batch was generated
  int64_t processingStartTime = -1;
  int64_t processingEndTime = -1;
  std::map<int, OutputOperationInfo> outputOperationInfos;

  int64_t schedulingDelay() const {
    return processingStartTime < 0 ? -1 : processingStartTime - batchTime.milliseconds();
  }
  int64_t processingDelay() const {
    return processingEndTime < 0 ? -1 : processingEndTime - processingStartTime;
  }
  int64_t totalDelay() const {
    return processingEndTime < 0 ? -1 : processingEndTime - batchTime.milliseconds();
  }
};

struct ReceiverInfo {
  int streamId = 0;
  std::string name;
  bool active = false;
  std::string executorId;  // where it runs ("driver" in local mode)
  std::string location;    // the executor's host
  std::string lastErrorMessage;
  std::string lastError;
  int64_t lastErrorTime = -1;
};

class StreamingListener {
 public:
  virtual ~StreamingListener() = default;
  virtual void onStreamingStarted(int64_t /*time*/) {}
  virtual void onBatchSubmitted(const BatchInfo& /*batch*/) {}
  virtual void onBatchStarted(const BatchInfo& /*batch*/) {}
  virtual void onBatchCompleted(const BatchInfo& /*batch*/) {}
  virtual void onOutputOperationStarted(const OutputOperationInfo& /*op*/) {}
  virtual void onOutputOperationCompleted(const OutputOperationInfo& /*op*/) {}
  virtual void onReceiverStarted(const ReceiverInfo& /*receiver*/) {}
  virtual void onReceiverError(const ReceiverInfo& /*receiver*/) {}
  virtual void onReceiverStopped(const ReceiverInfo& /*receiver*/) {}
};

}  // namespace ember
