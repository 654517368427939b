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

  std::string master() const { return get("ember.master", "local[2]"); }
  std::string appName() const { return get("ember.app.name", "ember-app"); }
  const std::map<std::string, std::string>& all() const { return values_; }

  // Parses a Spark-style duration string; nullopt when malformed.
  static std::optional<Duration> ParseDuration(const std::string& text);

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
