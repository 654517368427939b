#pragma once
// Spark's Duration and Time: milliseconds, batch times are multiples of the batch interval.

#include <cstdint>
#include <string>

namespace ember {

class Duration {
 public:
  constexpr Duration() = default;
  constexpr explicit Duration(int64_t ms) : ms_(ms) {}
  constexpr int64_t milliseconds() const { return ms_; }
  constexpr bool isMultipleOf(Duration other) const {
    return other.ms_ != 0 && ms_ % other.ms_ == 0;
  }
  constexpr Duration operator+(Duration o) const { return Duration(ms_ + o.ms_); }
  constexpr Duration operator-(Duration o) const { return Duration(ms_ - o.ms_); }
  constexpr Duration operator*(int64_t n) const { return Duration(ms_ * n); }
  constexpr bool operator==(Duration o) const { return ms_ == o.ms_; }
  constexpr bool operator!=(Duration o) const { return ms_ != o.ms_; }
  constexpr bool operator<(Duration o) const { return ms_ < o.ms_; }
  constexpr bool operator<=(Duration o) const { return ms_ <= o.ms_; }
  std::string toString() const { return std::to_string(ms_) + " ms"; }

 private:
  int64_t ms_ = 0;
};

constexpr Duration Milliseconds(int64_t ms) { return Duration(ms); }
constexpr Duration Seconds(int64_t s) { return Duration(s * 1000); }
constexpr Duration Minutes(int64_t m) { return Duration(m * 60 * 1000); }

class Time {
 public:
  constexpr Time() = default;
  constexpr explicit Time(int64_t ms) : ms_(ms) {}
  constexpr int64_t milliseconds() const { return ms_; }
  constexpr Time operator+(Duration d) const { return Time(ms_ + d.milliseconds()); }
  constexpr Time operator-(Duration d) const { return Time(ms_ - d.milliseconds()); }
  constexpr Duration operator-(Time o) const { return Duration(ms_ - o.ms_); }
  constexpr bool operator==(Time o) const { return ms_ == o.ms_; }
  constexpr bool operator!=(Time o) const { return ms_ != o.ms_; }
  constexpr bool operator<(Time o) const { return ms_ < o.ms_; }
  constexpr bool operator<=(Time o) const { return ms_ <= o.ms_; }
  constexpr bool operator>(Time o) const { return ms_ > o.ms_; }
  constexpr bool operator>=(Time o) const { return ms_ >= o.ms_; }
  constexpr bool isMultipleOf(Duration d) const {
    return d.milliseconds() != 0 && ms_ % d.milliseconds() == 0;
  }
  // The largest multiple of d that is <= this time.
  constexpr Time floor(Duration d) const {
    return Time(ms_ - ((ms_ % d.milliseconds()) + d.milliseconds()) % d.milliseconds());
  }
  std::string toString() const { return std::to_string(ms_) + " ms"; }

 private:
  int64_t ms_ = 0;
};

}  // namespace ember
