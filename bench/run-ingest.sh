#!/usr/bin/env bash
# Ingest benchmark of htgad, one command. Measures in the same run:
#   1. raw ZeroMQ PUSH/PULL loopback throughput at the payload size (baseline)
#   2. libhtga -> htgad end to end (decode, accumulate, estimate, SQLite) at
#      the same payload size; ratio e2e/raw (goal >= 0.70 at 64 KiB)
#   3. latency from the send that completes a block to the lambda arriving
#      at the client (goal p99 < 5 ms)
#   4. the client's cost per htga_send vs a memcpy of the bytes it ships
# Usage: bench/run-ingest.sh [PAYLOAD_BYTES (65536)] [SECONDS (3)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
bytes="${1:-65536}"
secs="${2:-3}"
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$build" -j2 >/dev/null
bench="$build/bench/ingest_bench"
htgad="$build/daemon/htgad"
tmp="$(mktemp -d /tmp/htga-bench-XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
get() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
start_htgad() {
    "$htgad" --db "$tmp/bench.db" --listen "$1" --stats-file "$tmp/stats" --stats-interval-ms 20 \
        --http off --log-level error "${@:2}" &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && return 0; sleep 0.05; done
    echo "htgad did not start" >&2; exit 1
}
stop_htgad() { kill -TERM "$pid"; wait "$pid" || true; pid=""; rm -f "$tmp/stats" "$tmp"/bench.db*; }

echo "== payload $bytes bytes, $secs s per measurement, $(nproc) cores"
"$bench" raw "tcp://127.0.0.1:$(port)" "$bytes" "$secs" | tee "$tmp/raw"
ep="tcp://127.0.0.1:$(port)"
start_htgad "$ep"
"$bench" e2e "$ep" "$tmp/stats" "$bytes" "$secs" | tee "$tmp/e2e"
grep -E '^(blocks_closed|blocks_estimated|drop_est_queue|rows_written) ' "$tmp/stats"
stop_htgad
ep="tcp://127.0.0.1:$(port)"
start_htgad "$ep"
"$bench" latency "$ep" 65536 200 | tee "$tmp/lat"
stop_htgad
"$bench" sendcost 1000000 | tee "$tmp/cost"
raw=$(get raw_gbps "$tmp/raw")
e2e=$(get e2e_gbps "$tmp/e2e")
echo "== summary"
awk -v r="$raw" -v e="$e2e" 'BEGIN { printf "ingest e2e/raw = %.3f / %.3f GB/s = %.2f (goal >= 0.70)\n", e, r, e / r }'
echo "lambda latency p99 = $(get latency_p99_ms "$tmp/lat") ms (goal < 5)"
echo "htga_send / memcpy = $(get send_over_memcpy "$tmp/cost") (goal <= 2)"
