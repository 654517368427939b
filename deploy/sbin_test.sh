#!/usr/bin/env bash
# The launch scripts on this host: start-driver.sh and start-executor.sh bring up a driver and
# an executor that registers with it (with the cluster secret), stop-all.sh stops both.
set -uo pipefail
root=$PWD
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/sbin.XXXXXX")
bin=$tmp/bin
mkdir -p "$bin/bin"
ln -s "$root/driver/ember-driver" "$root/executor/ember-executor" "$bin/bin/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export EMBER_UI_PORT=0 EMBER_CONF_DIR=$tmp/conf EMBER_HOME=$bin EMBER_DRIVER_HOST=127.0.0.1 \
  EMBER_DRIVER_PORT=$port EMBER_EXECUTOR_PORT=0 EMBER_SLOTS=1 EMBER_WORK_DIR=$tmp/work \
  EMBER_DATA_DIR=$tmp/data EMBER_LOG_DIR=$tmp/log EMBER_PID_DIR=$tmp/run \
  EMBER_HOSTS_FILE=$tmp/conf/executors
mkdir -p "$tmp/conf"
echo "sbin-test-secret" >"$tmp/conf/secret"
chmod 600 "$tmp/conf/secret"
cleanup() {
  for f in "$tmp"/run/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAILED: $1"; tail -20 "$tmp"/log/*.log; exit 1; }

deploy/sbin/start-driver.sh || fail "start-driver"
deploy/sbin/start-executor.sh || fail "start-executor"
status() {
  tools/ember-submit --master "ember://127.0.0.1:$port" --secret-file "$tmp/conf/secret" \
    --status 2>&1
}
for _ in $(seq 150); do
  status | grep -q ' alive$' && break
  sleep 0.2
done
status | grep -q ' alive$' || fail "the executor did not register: $(status)"
# Without the secret the driver refuses.
tools/ember-submit --master "ember://127.0.0.1:$port" --list >/dev/null 2>&1
[ $? -eq 5 ] || fail "a call without the secret was not refused"

deploy/sbin/stop-all.sh --local-executor || fail "stop executor"
deploy/sbin/stop-all.sh || fail "stop-all"
[ -z "$(ls "$tmp/run")" ] || fail "pid files left: $(ls "$tmp/run")"
echo PASSED
