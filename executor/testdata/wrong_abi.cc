// A plugin built against another ABI: the entry points by hand, with ABI version 999.
#include "common/job.h"

extern "C" __attribute__((visibility("default"))) int ember_plugin_abi_version() { return 999; }
extern "C" __attribute__((visibility("default"))) const char* ember_plugin_version() {
  return "9.9.9";
}
extern "C" __attribute__((visibility("default"))) int ember_job_main(ember::JobContext*, char*,
                                                                     int) {
  return 0;
}
