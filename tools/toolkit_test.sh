#!/usr/bin/env bash
# The job author's path, outside the Bazel tree: install Ember into a temporary prefix, copy
# the job template to an empty folder, build it with CMake and with make (-Wall -Wextra
# -Werror), run it in local mode and on a driver with two executors, and check that a plugin
# built for another ABI is refused naming both versions.
set -uo pipefail
root=$PWD
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/toolkit.XXXXXX")
prefix=$tmp/prefix
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
fail() { echo "FAILED: $1"; exit 1; }
# Polls `$2...` every 0.1 s for up to $1 seconds.
eventually() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.1; done
}

tools/install.sh --prefix "$prefix" || fail "install"
abi=$(sed -n 's/#define EMBER_ABI_VERSION \([0-9]*\)/\1/p' "$root/common/job.h")
grep -q "^abi $abi\$" "$prefix/share/ember/VERSION" || fail "VERSION does not record the ABI ($abi)"

cp -r "$prefix/share/ember/template" "$tmp/job"
cd "$tmp/job"
cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" >cmake.log 2>&1 || { cat cmake.log; fail "cmake configure"; }
cmake --build build >>cmake.log 2>&1 || { cat cmake.log; fail "cmake build"; }
[ -f build/libwordcount.so ] || fail "cmake built no libwordcount.so"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make >make.log 2>&1 || { cat make.log; fail "make"; }
[ -f libwordcount.so ] || fail "make built no libwordcount.so"
# The public headers pull in nothing of gRPC, RocksDB or protobuf.
g++ -std=c++17 -I"$prefix/include/ember" -M wordcount.cc | grep -qiE 'grpc|rocksdb|protobuf' \
  && fail "a job's compile sees runtime internals"

# A text source that sends 200 lines of "a b b" and stays open.
yes "a b b" | head -200 >lines.txt
"$prefix/bin/ember-textserver" --port 0 --file lines.txt --loop --rate 400 >ts.out 2>ts.err &
pids+=($!)
eventually 10 grep -q 'listening on' ts.out || fail "text server"
port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' ts.out)

# Local mode, with the CMake build.
"$prefix/bin/ember-submit" --master 'local[2]' build/libwordcount.so -- 127.0.0.1 "$port" 500 2000 \
  >local.out 2>local.err || { cat local.err; fail "local run"; }
grep -qE '^\(b,[0-9]+\)$' local.out || { cat local.out; fail "no counts in local mode"; }

# A driver and two executors from the installed binaries, with the make build.
"$prefix/bin/ember-driver" --port 0 --ui-port 0 --work-dir "$tmp/work" >driver.out 2>driver.err &
pids+=($!)
eventually 20 grep -q 'listening on' driver.out || fail "driver"
driver=$(sed -n 's/.*listening on \(.*\)/\1/p' driver.out)
for i in 1 2; do
  "$prefix/bin/ember-executor" --driver "$driver" --port 0 --slots 2 --data-dir "$tmp/e$i" \
    >"e$i.out" 2>"e$i.err" &
  pids+=($!)
done
alive() { [ "$("$prefix/bin/ember-submit" --master "ember://$driver" --status 2>/dev/null | grep -c ' alive$')" = 2 ]; }
eventually 30 alive || fail "executors did not register"
"$prefix/bin/ember-submit" --master "ember://$driver" ./libwordcount.so -- 127.0.0.1 "$port" 500 2000 \
  >cluster.out 2>cluster.err || { cat cluster.err driver.err; fail "cluster run"; }
grep -qE '^\(b,[0-9]+\)$' cluster.out || { cat cluster.out; fail "no counts on the cluster"; }
# Every batch counts whole lines: b twice as often as a.
awk -F'[(,)]' '/^\(a,/{a+=$3} /^\(b,/{b+=$3} END{exit !(a > 0 && b == 2*a)}' cluster.out \
  || fail "counts are not whole lines"

# A plugin built against another ABI: refused by the driver, naming both versions.
"$prefix/bin/ember-submit" --master "ember://$driver" "$root/runtime/testdata/libwrong_abi.so" \
  >abi.out 2>abi.err
[ $? -eq 3 ] || { cat abi.err; fail "a wrong-ABI plugin was not refused with exit 3"; }
grep -q 'ABI 999' abi.err && grep -q "ABI $abi)" abi.err || { cat abi.err; fail "the message does not name both ABI versions"; }
"$prefix/bin/ember-submit" --master 'local[1]' "$root/runtime/testdata/libwrong_abi.so" >/dev/null 2>abi-local.err
[ $? -eq 3 ] || fail "local mode accepted a wrong-ABI plugin"
echo PASSED
