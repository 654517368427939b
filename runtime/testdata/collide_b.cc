#include "common/ember.h"

[[maybe_unused]] static void build(const ember::DStream<int>& s) {
  s.map([](int x) { return x * 2; }).print();
}
