#!/usr/bin/env bash
# Starts ember-executor on this host, in the background, registering with the driver.
set -euo pipefail
. "$(dirname "$0")/ember-env.sh"
mkdir -p "$EMBER_LOG_DIR" "$EMBER_PID_DIR" "$EMBER_DATA_DIR"
pid_file=$EMBER_PID_DIR/ember-executor.pid
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "ember-executor already runs as pid $(cat "$pid_file")"; exit 0
fi
slots=()
[ -n "$EMBER_SLOTS" ] && slots=(--slots "$EMBER_SLOTS")
nohup "$EMBER_HOME/bin/ember-executor" --driver "$EMBER_DRIVER_HOST:$EMBER_DRIVER_PORT" \
  --bind 0.0.0.0 --advertise "$(hostname -f)" --port "$EMBER_EXECUTOR_PORT" \
  --data-dir "$EMBER_DATA_DIR" --secret-file "$EMBER_SECRET_FILE" "${slots[@]}" "$@" \
  >>"$EMBER_LOG_DIR/ember-executor.log" 2>&1 </dev/null &
echo $! >"$pid_file"
echo "ember-executor started on $(hostname) (pid $!)"
