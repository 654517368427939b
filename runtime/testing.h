#pragma once
// Test support: a StreamingContext on a manual clock, driven batch by batch, and a collector
// of each batch's records. Batches complete on a condition with a deadline, never a sleep.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/ember.h"
#include "runtime/context_core.h"
#include "util/clock.h"

namespace ember {
namespace testing {

// Writes a file beside `dir`, sets its modification time, and renames it in, as writers of a
// watched directory should (file streams on a manual clock need real-looking mtimes).
inline void MoveIn(const std::string& dir, const std::string& name, const std::string& contents,
                   int64_t mtime_ms) {
  std::string staging = dir + "/../" + name + ".staging";
  std::ofstream(staging, std::ios::binary) << contents;
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = mtime_ms / 1000;
  times[0].tv_nsec = times[1].tv_nsec = (mtime_ms % 1000) * 1000000;
  ASSERT_EQ(utimensat(AT_FDCWD, staging.c_str(), times, 0), 0);
  ASSERT_EQ(std::rename(staging.c_str(), (dir + "/" + name).c_str()), 0);
}

inline Conf ManualConf(const std::string& master = "local[2]") {
  Conf conf;
  conf.setMaster(master).setAppName("test");
  return conf;
}

// A context whose batches follow a ManualClock starting at `start_ms`.
class ManualStreams {
 public:
  explicit ManualStreams(Duration interval = Seconds(1), const std::string& master = "local[2]",
                         Conf conf = ManualConf(), int64_t start_ms = 0)
      : interval_(interval), clock_(std::make_shared<ManualClock>(start_ms)) {
    conf.setMaster(master);
    ssc_ = std::make_unique<StreamingContext>(conf, interval, clock_);
  }
  StreamingContext& ssc() { return *ssc_; }
  ManualClock& clock() { return *clock_; }
  const std::shared_ptr<ManualClock>& shared_clock() const { return clock_; }

  // Advances the clock one batch interval at a time and waits for each batch; returns the
  // batch times run.
  std::vector<Time> RunBatches(int n) {
    std::vector<Time> times;
    for (int i = 0; i < n; ++i) {
      clock().Advance(interval_.milliseconds());
      Time t(clock().NowMs() / interval_.milliseconds() * interval_.milliseconds());
      EXPECT_TRUE(ssc_->core()->WaitForBatch(t, absl::Seconds(30))) << "batch " << t.toString();
      times.push_back(t);
    }
    return times;
  }

 private:
  Duration interval_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<StreamingContext> ssc_;
};

// Collects every batch's records, by batch time.
template <typename T>
class Collector {
 public:
  template <typename S>
  void Attach(const DStream<T, S>& stream) {
    auto self = state_;
    stream.foreachRDD([self](const Rdd<T, S>& rdd, Time t) {
      auto records = rdd.collect();
      std::lock_guard<std::mutex> lock(self->mu);
      self->batches[t.milliseconds()] = std::move(records);
    });
  }
  std::vector<T> At(Time t) const {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->batches.find(t.milliseconds());
    return it == state_->batches.end() ? std::vector<T>{} : it->second;
  }
  size_t batches() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->batches.size();
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::map<int64_t, std::vector<T>> batches;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

template <typename T>
std::vector<T> Sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace testing
}  // namespace ember
