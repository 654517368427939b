// The public StreamingContext, over the engine in ContextCore.

#include "common/streaming_context.h"

#include <glog/logging.h>
#include <sys/stat.h>

#include <filesystem>

#include "runtime/checkpoint_store.h"
#include "runtime/context_core.h"
#include "util/log_level.h"

namespace ember {

StreamingContext::StreamingContext(const Conf& conf, Duration batch_interval)
    : StreamingContext(conf, batch_interval, nullptr) {}

StreamingContext::StreamingContext(const Conf& conf, Duration batch_interval,
                                   std::shared_ptr<Clock> clock)
    : core_(std::make_shared<internal::ContextCore>(conf, batch_interval, std::move(clock))) {}

StreamingContext::~StreamingContext() { core_->Stop(false); }

DStream<std::string> StreamingContext::socketTextStream(const std::string& host, int port) {
  if (port <= 0 || port > 65535) {
    throw EmberError("socketTextStream: port " + std::to_string(port) + " is out of range");
  }
  return receiverStream<SocketTextReceiver>(host, port);
}

DStream<std::string> StreamingContext::textFileStream(const std::string& directory) {
  return fileStream(directory, nullptr, true);
}

DStream<std::string> StreamingContext::fileStream(const std::string& directory,
                                                  std::function<bool(const std::string&)> filter,
                                                  bool newFilesOnly) {
  internal::FileInputStream::Options o;
  o.directory = directory;
  o.filter = std::move(filter);
  o.new_files_only = newFilesOnly;
  return DStream<std::string>(core_->AddFileStream(std::move(o)));
}

DStream<std::string> StreamingContext::binaryRecordsStream(const std::string& directory,
                                                           int recordLength) {
  if (recordLength <= 0) {
    throw EmberError("binaryRecordsStream: record length must be positive, not " +
                     std::to_string(recordLength));
  }
  internal::FileInputStream::Options o;
  o.directory = directory;
  o.format = proto::FileInput::BINARY_RECORDS;
  o.record_length = recordLength;
  return DStream<std::string>(core_->AddFileStream(std::move(o)));
}

internal::StreamRef StreamingContext::DecodedFileStream(
    const std::string& directory, std::function<bool(const std::string&)> filter, bool newFilesOnly,
    std::shared_ptr<const internal::DecoderOp> decoder) {
  internal::FileInputStream::Options o;
  o.directory = directory;
  o.filter = std::move(filter);
  o.new_files_only = newFilesOnly;
  o.format = proto::FileInput::WHOLE_FILE;
  o.decoder = std::move(decoder);
  return core_->AddFileStream(std::move(o));
}

internal::StreamRef StreamingContext::ReceiverStream(
    std::shared_ptr<const internal::ReceiverFactoryOp> factory,
    std::shared_ptr<const internal::DecoderOp> decoder) {
  return core_->AddReceiverStream(std::move(factory), std::move(decoder));
}

void StreamingContext::start() { core_->Start(); }

void StreamingContext::checkpoint(const std::string& directory) {
  internal::SetCheckpointDirectory(core_.get(), directory);
}

std::string StreamingContext::checkpointDirectory() const { return core_->checkpoint_directory(); }

bool StreamingContext::hasCheckpoint() const {
  std::string dir = core_->checkpoint_directory();
  return !dir.empty() && internal::ReadLatestMetadataCheckpoint(dir).has_value();
}

std::unique_ptr<StreamingContext> StreamingContext::getOrCreate(
    const std::string& checkpointPath,
    const std::function<std::unique_ptr<StreamingContext>()>& creatingFunc) {
  if (checkpointPath.empty()) throw EmberError("getOrCreate: empty checkpoint path");
  std::unique_ptr<StreamingContext> ssc = creatingFunc();
  if (ssc == nullptr) throw EmberError("getOrCreate: creatingFunc returned no context");
  std::string dir = ssc->checkpointDirectory();
  if (dir.empty()) {
    ssc->checkpoint(checkpointPath);
  } else if (std::filesystem::path(dir).lexically_normal() !=
             std::filesystem::path(checkpointPath).lexically_normal()) {
    throw EmberError("getOrCreate(" + checkpointPath + "): creatingFunc set checkpoint directory " +
                     dir + "; use the same one");
  }
  if (ssc->hasCheckpoint()) {
    LOG(INFO) << "recovering the context from the checkpoint in " << checkpointPath;
  } else {
    LOG(INFO) << "no checkpoint in " << checkpointPath << ": starting a new context";
  }
  return ssc;
}

void StreamingContext::setLogLevel(const std::string& level) {
  absl::Status s = internal::SetLogLevel(level);
  if (!s.ok()) throw EmberError(std::string(s.message()));
}

void StreamingContext::addStreamingListener(std::shared_ptr<StreamingListener> listener) {
  core_->AddStreamingListener(std::move(listener));
}

void StreamingContext::stop(bool /*stopSparkContext*/, bool stopGracefully) {
  core_->Stop(stopGracefully);
}

void StreamingContext::awaitTermination() { core_->AwaitTermination(-1); }

bool StreamingContext::awaitTerminationOrTimeout(int64_t timeoutMs) {
  return core_->AwaitTermination(timeoutMs);
}

StreamingContextState StreamingContext::getState() const { return core_->state(); }
Duration StreamingContext::batchDuration() const { return core_->batch_interval(); }
const Conf& StreamingContext::conf() const { return core_->conf(); }
Clock& StreamingContext::clock() { return core_->clock(); }

}  // namespace ember
