#!/usr/bin/env bash
# /metrics against the real tools: `promtool check metrics` on a scrape, then
# a real Prometheus server (loopback, temp dir, 1 s scrape interval) scrapes
# the server and its query API must return our samples.
# Usage: prometheus_test.sh HTTP_SERVE SOURCE_ROOT
set -euo pipefail
serve=$1
root=$2
for t in promtool prometheus curl sqlite3 python3; do
    command -v "$t" >/dev/null || { echo "missing $t (scripts/deps.sh test installs it)"; exit 1; }
done
tmp=$(mktemp -d /tmp/htga-prom-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

db=$tmp/t.db
for f in "$root"/schema/*.sql; do sqlite3 "$db" < "$f"; done
now=$(date +%s)
sqlite3 "$db" <<SQL
INSERT INTO runs(name, created_at) VALUES ('run "1"', $now);
INSERT INTO groups(run_id, name, created_at) VALUES (1, 'layer\\1', $now);
INSERT INTO blocks VALUES (1, 0, 0, 9, 100, 100, 0, 0, 0, 0, 1, 3, 1.7, 0.1, 1.5, 1.9, 10,
                           1.6, 0.8, 0.8, 0, NULL, $now, 1, 'median');
SQL

"$serve" "$db" 127.0.0.1:0 > "$tmp/serve.out" &
pids+=($!)
for _ in $(seq 50); do grep -q '^port' "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/^port/ {print $2}' "$tmp/serve.out")
[ -n "$port" ] || { echo "server did not start"; exit 1; }

curl -sf "http://127.0.0.1:$port/metrics" > "$tmp/metrics.txt"
if ! promtool check metrics < "$tmp/metrics.txt"; then
    echo "promtool check metrics failed on:"; cat "$tmp/metrics.txt"; exit 1
fi
echo "promtool check metrics: ok"

pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: htgad
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" > "$tmp/prometheus.log" 2>&1 &
pids+=($!)
q="http://127.0.0.1:$pport/api/v1/query"
for _ in $(seq 60); do
    out=$(curl -sf --get --data-urlencode 'query=htga_alpha' "$q" || true)
    if echo "$out" | grep -q '"result":\[{'; then
        echo "prometheus scraped: $out"
        echo "$out" | grep -q '"group":"layer\\\\1"' || { echo "label lost"; exit 1; }
        echo "$out" | grep -q '"1.7"' || { echo "value lost"; exit 1; }
        up=$(curl -sf --get --data-urlencode 'query=up{job="htgad"}' "$q")
        echo "$up" | grep -q '"1"\]' || { echo "target not up: $up"; exit 1; }
        exit 0
    fi
    sleep 0.5
done
echo "prometheus never returned an htga_alpha sample"; tail -20 "$tmp/prometheus.log"
exit 1
