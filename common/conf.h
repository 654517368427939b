#pragma once
// Conf: the job's configuration (SparkConf): master, app name and `ember.*` keys.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/errors.h"
#include "common/time.h"

namespace ember {

class Conf {
 public:
  Conf() = default;

  Conf& setMaster(const std::string& master) { return set("ember.master", master); }
  Conf& setAppName(const std::string& name) { return set("ember.app.name", name); }
  Conf& set(const std::string& key, const std::string& value) {
    values_[key] = value;
    return *this;
  }
  Conf& setIfMissing(const std::string& key, const std::string& value) {
    values_.emplace(key, value);
    return *this;
  }

  bool contains(const std::string& key) const { return values_.count(key) > 0; }
  std::optional<std::string> getOption(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  std::string get(const std::string& key, const std::string& default_value = "") const {
    return getOption(key).value_or(default_value);
  }
  int64_t getInt(const std::string& key, int64_t default_value) const;
  bool getBoolean(const std::string& key, bool default_value) const;
  // Durations accept Spark's forms: "200ms", "5s", "2min", "1h"; a bare number is ms.
  Duration getDuration(const std::string& key, Duration default_value) const;
  // Sizes in bytes accept Spark's forms: "512m", "2g", "64k", "1t", "100b" (binary units;
  // "mb", "gb"... too); a bare number is `bare_unit` bytes (memory keys: MiB, as Spark's).
  int64_t getSizeAsBytes(const std::string& key, int64_t default_value,
                         int64_t bare_unit = 1) const;

  std::string master() const { return get("ember.master", "local[2]"); }
  std::string appName() const { return get("ember.app.name", "ember-app"); }
  const std::map<std::string, std::string>& all() const { return values_; }

  // Parses a Spark-style duration string; nullopt when malformed.
  static std::optional<Duration> ParseDuration(const std::string& text);
  // Parses a Spark-style size; nullopt when malformed or past 2^62 bytes.
  static std::optional<int64_t> ParseSize(const std::string& text, int64_t bare_unit = 1);

 private:
  std::map<std::string, std::string> values_;
};

inline std::optional<Duration> Conf::ParseDuration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 15) return std::nullopt;
  int64_t n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit.empty() || unit == "ms") return Milliseconds(n);
  if (unit == "s") return Seconds(n);
  if (unit == "m" || unit == "min") return Minutes(n);
  if (unit == "h") return Minutes(60 * n);
  return std::nullopt;
}

inline std::optional<int64_t> Conf::ParseSize(const std::string& text, int64_t bare_unit) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 15) return std::nullopt;
  int64_t n = std::stoll(text.substr(0, i));
  std::string unit;
  for (char c : text.substr(i)) unit += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  int64_t scale;
  if (unit.empty()) {
    scale = bare_unit;
  } else if (unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kb") {
    scale = int64_t{1} << 10;
  } else if (unit == "m" || unit == "mb") {
    scale = int64_t{1} << 20;
  } else if (unit == "g" || unit == "gb") {
    scale = int64_t{1} << 30;
  } else if (unit == "t" || unit == "tb") {
    scale = int64_t{1} << 40;
  } else {
    return std::nullopt;
  }
  if (scale > 0 && n > (int64_t{1} << 62) / scale) return std::nullopt;
  return n * scale;
}

inline int64_t Conf::getSizeAsBytes(const std::string& key, int64_t default_value,
                                    int64_t bare_unit) const {
  auto v = getOption(key);
  if (!v) return default_value;
  auto n = ParseSize(*v, bare_unit);
  if (!n) {
    throw EmberError("configuration " + key + "=" + *v +
                     " is not a size (examples: 512m, 2g, 64k)");
  }
  return *n;
}

inline int64_t Conf::getInt(const std::string& key, int64_t default_value) const {
  auto v = getOption(key);
  if (!v) return default_value;
  size_t pos = 0;
  int64_t n = 0;
  try {
    n = std::stoll(*v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != v->size()) {
    throw EmberError("configuration " + key + "=" + *v + " is not an integer");
  }
  return n;
}

inline bool Conf::getBoolean(const std::string& key, bool default_value) const {
  auto v = getOption(key);
  if (!v) return default_value;
  if (*v == "true") return true;
  if (*v == "false") return false;
  throw EmberError("configuration " + key + "=" + *v + " is not true or false");
}

inline Duration Conf::getDuration(const std::string& key, Duration default_value) const {
  auto v = getOption(key);
  if (!v) return default_value;
  auto d = ParseDuration(*v);
  if (!d) {
    throw EmberError("configuration " + key + "=" + *v +
                     " is not a duration (examples: 200ms, 5s, 2min)");
  }
  return *d;
}

}  // namespace ember
