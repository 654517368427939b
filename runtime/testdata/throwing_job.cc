// A job whose entry point throws: the loader must report the message, not crash.
#include "common/ember.h"

EMBER_JOB(run) {
  if (job.args().empty()) throw ember::EmberError("the job needs an argument");
}
