#!/usr/bin/env bash
# Starts an executor on every host of $EMBER_HOSTS_FILE over ssh (as Spark's start-workers.sh),
# with the same Ember installation and settings on each host.
set -uo pipefail
. "$(dirname "$0")/ember-env.sh"
[ -r "$EMBER_HOSTS_FILE" ] || { echo "no hosts file $EMBER_HOSTS_FILE" >&2; exit 1; }
sbin=$(cd "$(dirname "$0")" && pwd)
rc=0
while read -r host; do
  host=${host%%#*}; host=$(echo "$host" | xargs)
  [ -z "$host" ] && continue
  # shellcheck disable=SC2086
  ssh $EMBER_SSH_OPTS "$host" "EMBER_DRIVER_HOST=$EMBER_DRIVER_HOST '$sbin/start-executor.sh'" \
    </dev/null 2>&1 | sed "s/^/$host: /" || rc=1
done <"$EMBER_HOSTS_FILE"
exit $rc
