#!/usr/bin/env bash
# Starts ember-driver on this host, in the background, bound to all interfaces with the
# cluster secret. Its log goes to $EMBER_LOG_DIR/ember-driver.log.
set -euo pipefail
. "$(dirname "$0")/ember-env.sh"
mkdir -p "$EMBER_LOG_DIR" "$EMBER_PID_DIR" "$EMBER_WORK_DIR"
pid_file=$EMBER_PID_DIR/ember-driver.pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "ember-driver already runs as pid $(cat "$pid_file")"; exit 0
fi
[ -r "$EMBER_SECRET_FILE" ] || { echo "no secret file $EMBER_SECRET_FILE (see README)" >&2; exit 1; }
nohup "$EMBER_HOME/bin/ember-driver" --bind 0.0.0.0 --port "$EMBER_DRIVER_PORT" \
  --ui-port "$EMBER_UI_PORT" --work-dir "$EMBER_WORK_DIR" --secret-file "$EMBER_SECRET_FILE" \
  "$@" >>"$EMBER_LOG_DIR/ember-driver.log" 2>&1 </dev/null &
echo $! >"$pid_file"
echo "ember-driver started (pid $!), log $EMBER_LOG_DIR/ember-driver.log"
