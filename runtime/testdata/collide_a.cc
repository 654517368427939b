// With collide_b.cc: lambdas inside same-named static functions of two files. g++ mangles
// both closure types alike, so their operators derive the same registry key.
#include "common/ember.h"

[[maybe_unused]] static void build(const ember::DStream<int>& s) {
  s.map([](int x) { return x + 1; }).print();
}

EMBER_JOB(run) {}
