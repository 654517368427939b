#pragma once
// The tests' one way to wait: for a condition, checked every few milliseconds, until a
// deadline. Never a sleep that hopes the condition holds by then.

#include <chrono>
#include <functional>
#include <thread>

namespace ember {
namespace testing {

// True as soon as `ready()` holds; false if it still does not at `timeout`. `ready` should
// be cheap (a flag, a file, one RPC): it is called until then, every `poll`.
inline bool WaitForCondition(const std::function<bool()>& ready,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30),
                             std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);  // between checks of the condition
  }
  return true;
}

}  // namespace testing
}  // namespace ember
