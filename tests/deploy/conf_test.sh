#!/usr/bin/env bash
# deploy/htgad.conf is read by htgad's own parser: htgad starts with it (its
# addresses and database overridden by flags, which win over the file, so
# the test stays on free loopback ports in a temp dir)
# and stops cleanly on SIGTERM.
# Usage: conf_test.sh HTGAD CONF
set -euo pipefail
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
htgad=$1
conf=$2
tmp=$(mktemp -d /tmp/htga-conf-XXXXXX)
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
"$htgad" --config "$conf" --db "$tmp/t.db" --listen 'tcp://127.0.0.1:*' --http 127.0.0.1:$(free_port) \
    2> "$tmp/log" &
pid=$!
end=$((SECONDS + 20))
until grep -q 'http API on' "$tmp/log"; do
    kill -0 "$pid" 2>/dev/null || { echo "htgad refused $conf:"; cat "$tmp/log"; exit 1; }
    [ $SECONDS -lt $end ] || { echo "htgad did not start"; cat "$tmp/log"; exit 1; }
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
pid=
grep -q 'stopped cleanly' "$tmp/log" || { cat "$tmp/log"; exit 1; }
echo "htgad ran with $conf"
