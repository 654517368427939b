// A plugin built against another ABI: the note and the entry points by hand, ABI 999.
#include "common/job.h"

EMBER_PLUGIN_NOTE(999, "9.9.9");

extern "C" __attribute__((visibility("default"))) int ember_plugin_abi_version() { return 999; }
extern "C" __attribute__((visibility("default"))) const char* ember_plugin_version() {
  return "9.9.9";
}
extern "C" __attribute__((visibility("default"))) int ember_job_main(ember::JobContext*, char*,
                                                                     int) {
  return 0;
}
