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

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "common/conf.h"

// Bumped when the runtime's interface to plugins changes incompatibly.
#define EMBER_ABI_VERSION 3
#define EMBER_VERSION_STRING "0.3.0"

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

namespace internal {

// An ELF note (`readelf -n` shows it: owner "Ember", type 1) carrying the ABI and Ember
// version a plugin was built against, so that a daemon can refuse a plugin of another ABI, or
// a damaged file, by reading it as data, before anything maps it.
struct PluginNote {
  uint32_t namesz;
  uint32_t descsz;
  uint32_t type;
  char name[8];
  struct {
    uint32_t abi;
    char version[28];
  } desc;
};

}  // namespace internal
}  // namespace ember

// The note alone (EMBER_JOB writes it; a test plugin may write another ABI's).
#define EMBER_PLUGIN_NOTE(abi, version)                                                  \
  extern "C" __attribute__((section(".note.ember"), used, aligned(4),                    \
                            visibility("hidden"))) const ::ember::internal::PluginNote   \
      ember_plugin_note = {6, sizeof(::ember::internal::PluginNote::desc), 1, "Ember",   \
                           {abi, version}}

#define EMBER_JOB(fn)                                                                    \
  EMBER_PLUGIN_NOTE(EMBER_ABI_VERSION, EMBER_VERSION_STRING);                            \
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
