#!/usr/bin/env bash
# Stops the executors of $EMBER_HOSTS_FILE (over ssh) and the driver on this host, with
# SIGTERM: receivers report their last blocks, running jobs are stopped.
set -uo pipefail
. "$(dirname "$0")/ember-env.sh"
stop_local() {
  local pid_file=$EMBER_PID_DIR/$1.pid
  [ -f "$pid_file" ] || { echo "$1 not running"; return 0; }
  local pid; pid=$(cat "$pid_file")
  kill -TERM "$pid" 2>/dev/null && for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break; sleep 0.1
  done
  rm -f "$pid_file"; echo "$1 stopped"
}
if [ "${1:-}" = "--local-executor" ]; then stop_local ember-executor; exit 0; fi
sbin=$(cd "$(dirname "$0")" && pwd)
if [ -r "$EMBER_HOSTS_FILE" ]; then
  while read -r host; do
    host=${host%%#*}; host=$(echo "$host" | xargs)
    [ -z "$host" ] && continue
    # shellcheck disable=SC2086
    ssh $EMBER_SSH_OPTS "$host" "'$sbin/stop-all.sh' --local-executor" </dev/null 2>&1 \
      | sed "s/^/$host: /"
  done <"$EMBER_HOSTS_FILE"
fi
stop_local ember-driver
