#pragma once
// A job plugin's entry point. Write
//
//   EMBER_JOB(run) {
//     ember::StreamingContext ssc(job.conf(), ember::Seconds(1));
//     ...
//   }
//
// The macro exports the symbols the loader looks for (the ABI version, the Ember version and
// the entry point) and defines `void run(ember::JobContext& job)`, whose body follows it.
// Exceptions never leave the plugin: the entry point returns their message.

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "common/conf.h"

// Bumped when the runtime's interface to plugins changes incompatibly.
#define EMBER_ABI_VERSION 1
#define EMBER_VERSION_STRING "0.1.0"

namespace ember {

class JobContext {
 public:
  JobContext(Conf conf, std::vector<std::string> args)
      : conf_(std::move(conf)), args_(std::move(args)) {}
  // The configuration the job was submitted with (master, app name, --conf keys).
  const Conf& conf() const { return conf_; }
  // The arguments after `--` on the ember-submit command line.
  const std::vector<std::string>& args() const { return args_; }

 private:
  Conf conf_;
  std::vector<std::string> args_;
};

}  // namespace ember

#define EMBER_JOB(fn)                                                                    \
  void fn(::ember::JobContext& job);                                                     \
  extern "C" __attribute__((visibility("default"))) int ember_plugin_abi_version() {     \
    return EMBER_ABI_VERSION;                                                            \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) const char* ember_plugin_version() { \
    return EMBER_VERSION_STRING;                                                         \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) int ember_job_main(                  \
      ::ember::JobContext* job, char* error, int error_size) {                           \
    try {                                                                                \
      fn(*job);                                                                          \
      return 0;                                                                          \
    } catch (const std::exception& e) {                                                  \
      std::snprintf(error, static_cast<size_t>(error_size), "%s", e.what());             \
    } catch (...) {                                                                      \
      std::snprintf(error, static_cast<size_t>(error_size), "unknown exception");        \
    }                                                                                    \
    return 1;                                                                            \
  }                                                                                      \
  void fn(::ember::JobContext& job)
