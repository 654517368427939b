#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, starts the bundled text
# server, and runs the seed's network word count in local mode against it (5 s batches, for
# 10 s, as the seed's program). Extra arguments go to the job: BATCH_MS RUN_MS.
set -euo pipefail
cd "$(dirname "$0")"

./setup.sh
bazel build //tools:ember-submit //tools:ember-textserver //examples:libnetwork_word_count.so

log=$(mktemp)
bazel-bin/tools/ember-textserver --port 0 --log-level WARN --generate --rate 50 --vocabulary 12 \
  --words-per-line 4 --seed 1 >"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  kill -0 "$server" 2>/dev/null || { echo "run: the text server did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log")
[ -n "$port" ] || { echo "run: the text server did not report its port" >&2; exit 1; }

echo "run: text server on port $port; running the network word count in local[2]"
bazel-bin/tools/ember-submit --master 'local[2]' --name network-word-count \
  bazel-bin/examples/libnetwork_word_count.so -- localhost "$port" "$@"
