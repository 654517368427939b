#!/usr/bin/env bash
# A closure capturing a std::string must not compile, and the error must say what to do.
set -uo pipefail
src=common/testdata/capture.cc
flags=(-std=c++17 -fsyntax-only -Wall -Wextra -Werror -I.)

if ! g++ "${flags[@]}" "$src" 2>good.err; then
  echo "FAIL: the shippable capture does not compile:"; head -20 good.err; exit 1
fi
if g++ "${flags[@]}" -DBAD_CAPTURE "$src" 2>bad.err; then
  echo "FAIL: a std::string capture compiled"; exit 1
fi
if ! grep -q "cannot be shipped to executors" bad.err || ! grep -q "broadcast" bad.err; then
  echo "FAIL: the compile error does not explain itself:"; grep -m3 error bad.err; exit 1
fi
echo "PASS: non-shippable capture rejected with: $(grep -m1 -o 'ember: this function[^"]*' bad.err | head -c 120)..."
