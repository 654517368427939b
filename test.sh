#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs every test,
# and ends with the plain line "N passed, N failed" (counting test cases, not targets).
set -uo pipefail
cd "$(dirname "$0")"

./setup.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test --keep_going --nocache_test_results //... "$@" 2>&1 | tee "$log" | grep -vE '^[0-9.]+: src/main/tools/'
bazel_rc=${PIPESTATUS[0]}

python3 tools/count_tests.py "$log" "$(bazel info bazel-testlogs 2>/dev/null)"
count_rc=$?
[ "$bazel_rc" -eq 0 ] && [ "$count_rc" -eq 0 ]
