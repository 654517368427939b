#!/usr/bin/env bash
# The docker-compose local cluster, for real: builds the image, starts the cluster, runs the
# network word count against the text source container, stops an executor container (the job
# goes on), restarts the driver container (it comes back on its volume and the executors
# register again), then tears everything down, also on failure.
#
# Without a usable Docker engine it reports itself skipped, with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "SKIPPED: $1"
  if [ -n "${XML_OUTPUT_FILE:-}" ]; then
    cat >"$XML_OUTPUT_FILE" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="compose_test" tests="1" failures="0" skipped="1">
<testcase name="ComposeCluster" classname="deploy"><skipped message="$1"/></testcase>
</testsuite></testsuites>
XML
  fi
  exit 0
}
fail() {
  echo "FAILED: $1"
  echo "--- driver log"; $compose logs --tail=40 driver 2>&1
  echo "--- submit"; tail -20 "$work/submit.out" "$work/submit.err" 2>/dev/null
  exit 1
}

command -v docker >/dev/null || skip "no docker command"
docker info >/dev/null 2>&1 || skip "no Docker engine reachable ($(docker info 2>&1 | tail -1))"
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose_cmd=(docker-compose)
else
  skip "neither docker compose nor docker-compose is installed"
fi

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/compose.XXXXXX")
project="embertest$$"
compose="${compose_cmd[*]} -p $project -f deploy/docker-compose.yml"
submit_pid=""
cleanup() {
  [ -n "$submit_pid" ] && kill -9 "$submit_pid" 2>/dev/null
  $compose down -v --remove-orphans >/dev/null 2>&1
}
trap cleanup EXIT

echo "== building the image"
EMBER_BIN=$PWD deploy/build-images.sh || fail "image build"

echo "== starting the cluster"
export EMBER_DRIVER_PUBLISH=127.0.0.1: EMBER_UI_PUBLISH=127.0.0.1:
$compose up -d || fail "compose up"
port=$($compose port driver 7077 | sed 's/.*://')
[ -n "$port" ] || fail "no published driver port"
master="ember://127.0.0.1:$port"

# Polls a condition (a command) every 0.2 s until it holds or $1 seconds pass.
eventually() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}
alive_executors() { tools/ember-submit --master "$master" --status 2>/dev/null | grep -c ' alive$'; }
executors_are() { [ "$(alive_executors)" = "$1" ]; }
eventually 60 executors_are 3 || fail "3 executors did not register"

echo "== network word count against the text source container"
tools/ember-submit --master "$master" --name wc examples/libnetwork_word_count.so \
  -- textsource 9999 1000 600000 >"$work/submit.out" 2>"$work/submit.err" &
submit_pid=$!
batches_with_words() { grep -c '^(w[0-7],[0-9]*)$' "$work/submit.out" 2>/dev/null || echo 0; }
words_at_least() { [ "$(batches_with_words)" -ge "$1" ]; }
eventually 60 words_at_least 16 || fail "no word counts"
# Every record is one of the 8 words the source sends, counted.
if grep -E '^\(' "$work/submit.out" | grep -vqE '^\(w[0-7],[0-9]+\)$'; then
  fail "unexpected record in the output"
fi

echo "== stopping one executor: the job goes on"
$compose kill executor2 || fail "kill executor2"
before=$(batches_with_words)
eventually 60 executors_are 2 || fail "the driver did not notice the lost executor"
eventually 60 words_at_least $((before + 24)) || fail "the job stopped counting"
kill -0 "$submit_pid" || fail "the job ended"
app=$(grep -o 'app-[0-9]*-[0-9]*' "$work/submit.err" | head -1)

echo "== restarting the driver container"
$compose restart driver || fail "restart driver"
# A restarted container gets a new random host port.
port=$($compose port driver 7077 | sed 's/.*://')
master="ember://127.0.0.1:$port"
eventually 60 executors_are 2 || fail "executors did not register with the restarted driver"
# The work directory lives on the driver's volume: the driver starts the job again from the
# submission it kept there, under the same id, and the job counts words again.
$compose exec -T driver bash -c "ls /var/lib/ember/work/apps/$app" | grep -q '\.so$' \
  || fail "the driver's volume lost $app"
running_again() {
  tools/ember-submit --master "$master" --status "$app" 2>/dev/null | grep -q ': RUNNING$' &&
    [ "$(tools/ember-submit --master "$master" --status "$app" 2>/dev/null |
         sed -n 's/.*, \([0-9]*\) completed batches.*/\1/p')" -ge 2 ]
}
eventually 60 running_again || fail "the driver did not start $app again"
kill -9 "$submit_pid" 2>/dev/null; submit_pid=""

echo "== a job built in the ember-sdk image, run on the restarted cluster"
mkdir -p "$work/sdkjob" && chmod 777 "$work/sdkjob"
docker run --rm -v "$work/sdkjob:/job" ember-sdk:latest bash -c \
  'cp -r /usr/local/share/ember/template/. /job && cd /job && cmake -S . -B build >/dev/null && cmake --build build >/dev/null' \
  || fail "building the template in ember-sdk"
tools/ember-submit --master "$master" "$work/sdkjob/build/libwordcount.so" \
  -- textsource 9999 1000 3000 >"$work/after.out" 2>"$work/after.err" \
  || fail "a job after the driver restart: $(cat "$work/after.err")"
grep -qE '^\(w[0-7],[0-9]+\)$' "$work/after.out" || fail "no output after the driver restart"

echo "PASSED"
