#include "runtime/task_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "runtime/kafka_client.h"
#include "util/durable_file.h"
#include "util/task_status.h"

namespace ember {
namespace internal {
namespace {
thread_local const TaskContext* current_task = nullptr;
}  // namespace
}  // namespace internal

const TaskContext* TaskContext::get() { return internal::current_task; }

namespace internal {

namespace {

class Evaluator {
 public:
  Evaluator(const TaskEnv& env, const TaskInfo& info) : env_(env), info_(info) {}

  absl::Status Eval(const proto::ComputeNode& node, Partition* out) {
    if (!node.cache_key().empty() && env_.cache->Get(node.cache_key(), out))
      return absl::OkStatus();
    absl::Status s = EvalUncached(node, out);
    if (s.ok() && !node.cache_key().empty()) env_.cache->Put(node.cache_key(), *out);
    return s;
  }

  int64_t records_read() const { return records_read_; }

 private:
  absl::Status Decode(const proto::OpSpec& spec, std::string_view bytes, Partition* out) {
    auto decoder = env_.ops->CreateAs<DecoderOp>(spec);
    if (!decoder.ok()) return decoder.status();
    if (!(*decoder)->Decode(bytes, out)) {
      return absl::DataLossError("stored data does not decode as " + spec.key());
    }
    records_read_ += static_cast<int64_t>(out->size);
    return absl::OkStatus();
  }

  absl::Status EvalUncached(const proto::ComputeNode& node, Partition* out) {
    switch (node.kind_case()) {
      case proto::ComputeNode::kNarrow: {
        auto op = env_.ops->CreateAs<NarrowOp>(node.narrow().op());
        if (!op.ok()) return op.status();
        std::vector<Partition> inputs(node.narrow().inputs_size());
        for (int i = 0; i < node.narrow().inputs_size(); ++i) {
          absl::Status s = Eval(node.narrow().inputs(i), &inputs[i]);
          if (!s.ok()) return s;
        }
        *out = (*op)->Compute(inputs, info_);
        return absl::OkStatus();
      }
      case proto::ComputeNode::kBlock: {
        auto bytes = env_.blocks->Get(node.block().block_id());
        if (!bytes.ok() && absl::IsNotFound(bytes.status()) && env_.fetch_block) {
          bytes = env_.fetch_block(node.block());
        }
        if (!bytes.ok() && !node.block().wal_path().empty()) {
          // Every copy is gone (their executors were lost): the write-ahead log has it.
          auto logged = ReadFramedFile(node.block().wal_path(), "EWAL");
          if (!logged.ok()) {
            return absl::DataLossError(
                absl::StrCat("block ", node.block().block_id(), ": ", bytes.status().message(),
                             "; and its ", "write-ahead log copy: ", logged.status().message()));
          }
          size_t header = logged->find('\n');
          if (header == std::string::npos) {
            return absl::DataLossError("write-ahead log file " + node.block().wal_path() +
                                       " has no header");
          }
          bytes = std::make_shared<const std::string>(logged->substr(header + 1));
        }
        if (!bytes.ok()) return bytes.status();
        return Decode(node.block().decoder(), **bytes, out);
      }
      case proto::ComputeNode::kInlineData:
        return Decode(node.inline_data().decoder(), node.inline_data().data(), out);
      case proto::ComputeNode::kEmpty:
        return Decode(node.empty().decoder(), "", out);
      case proto::ComputeNode::kFile: {
        if (node.file().format() == proto::FileInput::WHOLE_FILE) {
          const std::string& path = node.file().path();
          auto bytes = ReadInputFile(path);
          if (!bytes.ok()) return bytes.status();
          try {
            return Decode(node.file().decoder(), *bytes, out);
          } catch (const EmberError& e) {
            return absl::DataLossError(absl::StrCat("input file ", path, ": ", e.what()));
          }
        }
        auto records = ReadFileRecords(node.file());
        if (!records.ok()) return records.status();
        records_read_ += static_cast<int64_t>(records->size());
        *out = Partition::Of(std::move(*records));
        return absl::OkStatus();
      }
      case proto::ComputeNode::kShuffle: {
        const auto& shuffle = node.shuffle();
        auto reader = env_.ops->CreateAs<ShuffleReaderOp>(shuffle.reader());
        if (!reader.ok()) return reader.status();
        std::vector<ShuffleStore::Buckets> held;  // keeps the views below alive
        std::vector<std::vector<std::string_view>> buckets(shuffle.shuffles_size());
        for (int i = 0; i < shuffle.shuffles_size(); ++i) {
          const auto& ref = shuffle.shuffles(i);
          if (env_.fetch_shuffle) {
            auto fetched = env_.fetch_shuffle(ref, shuffle.reduce_id());
            if (!fetched.ok()) return fetched.status();
            auto owned = std::make_shared<const std::vector<std::string>>(std::move(*fetched));
            for (const auto& b : *owned) buckets[i].push_back(b);
            held.push_back(std::move(owned));
            continue;
          }
          for (int m = 0; m < ref.num_maps(); ++m) {
            auto b = env_.shuffles->Get(ref.shuffle_id(), m);
            if (b == nullptr || shuffle.reduce_id() >= static_cast<int>(b->size())) {
              return absl::NotFoundError(
                  absl::StrCat("missing map output ", m, " of shuffle ", ref.shuffle_id()));
            }
            buckets[i].push_back((*b)[shuffle.reduce_id()]);
            held.push_back(std::move(b));
          }
        }
        if (!(*reader)->Read(buckets, out)) {
          return absl::DataLossError("shuffle data does not decode as " + shuffle.reader().key());
        }
        return absl::OkStatus();
      }
      case proto::ComputeNode::kKafka: {
        auto records = FetchKafkaRange(node.kafka());
        if (!records.ok()) return records.status();
        std::string bytes;
        if (!records->empty()) EncodeVector(*records, &bytes);
        return Decode(node.kafka().decoder(), bytes, out);
      }
      case proto::ComputeNode::kState:
        return EvalState(node.state(), out);
      case proto::ComputeNode::KIND_NOT_SET:
        break;
    }
    return absl::InvalidArgumentError("task has an empty compute node");
  }

  absl::Status EvalState(const proto::StateInput& st, Partition* out) {
    if (env_.states == nullptr) return absl::FailedPreconditionError("this runner keeps no state");
    auto op = env_.ops->CreateAs<StateOp>(st.op());
    if (!op.ok()) return op.status();
    std::shared_ptr<StateStore::Slot> slot = env_.states->Get(st.state_key(), st.partition());
    absl::MutexLock lock(&slot->mu);
    bool held = slot->state != nullptr && std::strcmp(slot->state->OpKey(), (*op)->Key()) == 0;
    auto lost = [&](int64_t wanted) {
      // The driver rebuilds the state from its checkpoint (util/task_status.h).
      return StateLostStatus(absl::StrCat(
          "state lost: partition ", st.partition(), " of state ", st.state_key(), " as of ", wanted,
          " ms is not on this executor",
          held ? absl::StrCat(" (it holds the state as of ", slot->version, " ms)") : ""));
    };
    if (st.mode() != proto::StateInput::UPDATE) {
      const StatePartition* read = nullptr;
      if (held && slot->version == st.new_ms()) {
        read = slot->state.get();
      } else if (auto it = slot->older.find(st.new_ms()); held && it != slot->older.end()) {
        read = it->second.get();
      } else if (held && slot->version > st.new_ms()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the state of batch ", st.new_ms(), " ms was read after batch ", slot->version,
            " ms updated it, and the executors keep only the versions its stream remembers ",
            "(mapWithState's stateSnapshots() are read in their own batch)"));
      } else {
        return lost(st.new_ms());
      }
      *out =
          st.mode() == proto::StateInput::SNAPSHOT ? (*op)->Snapshot(*read) : (*op)->Records(*read);
      return absl::OkStatus();
    }
    // This very update ran already (a retried task): its outputs again.
    if (held && slot->version == st.new_ms() && slot->prev_version == st.prev_ms()) {
      *out = slot->last_output;
      return absl::OkStatus();
    }
    std::unique_ptr<StatePartition> seeded;
    StatePartition* state = nullptr;
    if (st.has_seed()) {
      Partition records;
      absl::Status s = Eval(st.seed(), &records);
      if (!s.ok()) return s;
      seeded = (*op)->Seed(&records);
    } else if (st.prev_ms() < 0) {
      seeded = (*op)->Seed(nullptr);
    } else if (held && slot->version == st.prev_ms()) {
      state = slot->state.get();
    } else {
      return lost(st.prev_ms());
    }
    if (seeded != nullptr) state = seeded.get();
    Partition values;
    absl::Status s = Eval(st.values(), &values);
    if (!s.ok()) return s;
    // Throws before changing the state when the user's function fails.
    std::unique_ptr<StatePartition> next =
        (*op)->Update(*state, values, Time(st.new_ms()), info_, out);
    if (seeded != nullptr) {
      slot->older.clear();  // another line of versions starts
      slot->state = std::move(seeded);
    }
    if (next != nullptr) {
      if (st.keep_versions() > 1) slot->older[st.prev_ms()] = slot->state;
      slot->state = std::move(next);
    }
    while (!slot->older.empty() &&
           static_cast<int64_t>(slot->older.size()) >= std::max(1, st.keep_versions())) {
      slot->older.erase(slot->older.begin());
    }
    slot->prev_version = st.prev_ms();
    slot->version = st.new_ms();
    slot->last_output = *out;
    return absl::OkStatus();
  }

  const TaskEnv& env_;
  const TaskInfo& info_;
  int64_t records_read_ = 0;
};

absl::StatusOr<proto::TaskResult> RunTaskUnguarded(const proto::TaskSpec& spec,
                                                   const TaskEnv& env) {
  auto start = std::chrono::steady_clock::now();
  TaskInfo info;
  info.job_id = spec.job_id();
  info.stage_id = spec.stage_id();
  info.partition = spec.partition();
  info.attempt = spec.attempt();
  info.batch_time = Time(spec.batch_time_ms());
  // TaskContext::get() for the job code this thread runs until the task returns.
  const TaskContext context(info);
  struct Current {
    explicit Current(const TaskContext* c) : previous(current_task) { current_task = c; }
    ~Current() { current_task = previous; }
    const TaskContext* previous;
  } current(&context);

  Evaluator eval(env, info);
  Partition input;
  absl::Status s = eval.Eval(spec.root(), &input);
  if (!s.ok()) return s;

  proto::TaskResult result;
  result.set_records_read(eval.records_read());
  if (spec.has_shuffle_write()) {
    const auto& w = spec.shuffle_write();
    if (w.num_reducers() <= 0) return absl::InvalidArgumentError("shuffle with no reducers");
    auto writer = env.ops->CreateAs<ShuffleWriterOp>(w.writer());
    if (!writer.ok()) return writer.status();
    std::vector<std::string> buckets;
    (*writer)->Write(input, w.num_reducers(), info, &buckets);
    int64_t bytes = 0;
    for (const auto& b : buckets) bytes += static_cast<int64_t>(b.size());
    result.set_records_written(bytes);
    env.shuffles->Put(w.shuffle_id(), w.map_id(), std::move(buckets));
  } else if (spec.has_result()) {
    auto op = env.ops->CreateAs<ResultOp>(spec.result());
    if (!op.ok()) return op.status();
    result.set_result((*op)->Run(input, info));
  } else {
    return absl::InvalidArgumentError("task has no output");
  }
  result.set_duration_us(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count());
  return result;
}

}  // namespace

absl::StatusOr<proto::TaskResult> RunTask(const proto::TaskSpec& spec, const TaskEnv& env) {
  // User functions run inside; their exceptions stop here, with the batch they failed in.
  try {
    return RunTaskUnguarded(spec, env);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of memory: an allocation failed (std::bad_alloc); the task's process may have "
        "reached its limit, ember.executor.memory (batch time ",
        spec.batch_time_ms(), " ms, stage ", spec.stage_id(), ", partition ", spec.partition(),
        ")"));
  } catch (const std::exception& e) {
    return absl::AbortedError(absl::StrCat(e.what(), " (batch time ", spec.batch_time_ms(),
                                           " ms, stage ", spec.stage_id(), ", partition ",
                                           spec.partition(), ")"));
  } catch (...) {
    return absl::AbortedError(absl::StrCat("unknown exception (batch time ", spec.batch_time_ms(),
                                           " ms, stage ", spec.stage_id(), ", partition ",
                                           spec.partition(), ")"));
  }
}

absl::StatusOr<std::string> ReadInputFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read input file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::StatusOr<std::vector<std::string>> ReadFileRecords(const proto::FileInput& file) {
  auto read = ReadInputFile(file.path());
  if (!read.ok()) return read.status();
  const std::string& data = *read;
  std::vector<std::string> records;
  if (file.format() == proto::FileInput::BINARY_RECORDS) {
    size_t len = static_cast<size_t>(file.record_length());
    if (len == 0) return absl::InvalidArgumentError("record length must be > 0");
    if (data.size() % len != 0) {
      return absl::DataLossError(absl::StrCat("file ", file.path(), " has ", data.size(),
                                              " bytes, not a multiple of the record length ", len));
    }
    records.reserve(data.size() / len);
    for (size_t i = 0; i < data.size(); i += len) records.emplace_back(data, i, len);
    return records;
  }
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    if (end == std::string::npos) end = data.size();
    size_t stop = end;
    if (stop > start && data[stop - 1] == '\r') --stop;
    records.emplace_back(data, start, stop - start);
    start = end + 1;
  }
  return records;
}

}  // namespace internal
}  // namespace ember
