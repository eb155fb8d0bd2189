#!/usr/bin/env bash
# deploy/htgad.conf is read by htgad's own parser: htgad starts with it (its
# addresses and database overridden by flags, which win over the file, so
# the test stays on free loopback ports in a temp dir)
# and stops cleanly on SIGTERM.
# Usage: conf_test.sh HTGAD CONF
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
htgad=$1
conf=$2
test_tmp conf
"$htgad" --config "$conf" --db "$tmp/t.db" --listen 'tcp://127.0.0.1:*' --http 127.0.0.1:$(free_port) \
    2> "$tmp/log" &
pid=$!
pids+=("$pid")
started() {
    kill -0 "$pid" 2>/dev/null || { echo "htgad refused $conf:"; cat "$tmp/log"; exit 1; }
    grep -q 'http API on' "$tmp/log"
}
wait_for 20 started || { echo "htgad did not start"; cat "$tmp/log"; exit 1; }
stop_htgad "$pid" "$tmp/log"
echo "htgad ran with $conf"
