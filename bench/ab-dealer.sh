#!/usr/bin/env bash
# Interleaved A/B of two htgad binaries (or one binary with two flag sets) on
# the dealer measurement of bench/run-ingest.sh: each round measures raw
# ZeroMQ, then A, then B, and prints both ratios, the fraction of blocks each
# estimated, and B/A. For changes whose effect is smaller than the minute-to-
# minute swings of a shared machine. Needs build-bench/ (run-ingest.sh makes it).
# AB_MODE=e2e measures through libhtga (the e2e measurement) instead.
# Usage: bench/ab-dealer.sh BYTES ROUNDS HTGAD_A HTGAD_B ["FLAGS_A"] ["FLAGS_B"]
# e.g.   flock /tmp/htga-bench.lock bench/ab-dealer.sh 65536 6 build-bench/daemon/htgad \
#            build-bench/daemon/htgad "" "--background-nice 10"
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
bytes=$1 rounds=$2 A=$3 B=$4 FA=${5:-} FB=${6:-} mode=${AB_MODE:-dealer}
bench="$root/build-bench/bench/ingest_bench"
tmp=$(mktemp -d /tmp/htga-ab-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
one() { # HTGAD FLAGS -> "GB/s fraction-estimated"
    local ep="tcp://127.0.0.1:$(port)" pid g
    rm -f "$tmp"/stats "$tmp"/db*
    # shellcheck disable=SC2086
    "$1" --db "$tmp/db" --listen "$ep" --stats-file "$tmp/stats" --stats-interval-ms 20 \
        --http off --log-level error $2 &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && break; sleep 0.05; done
    g=$("$bench" "$mode" "$ep" "$tmp/stats" "$bytes" 2 | awk -v k="${mode}_gbps" '$1 == k { print $2 }')
    kill -TERM "$pid"
    wait "$pid"
    awk -v g="$g" '$1 == "blocks_estimated" { e = $2 } $1 == "drop_est_queue" { d = $2 }
        END { printf "%s %.2f\n", g, (e + d > 0) ? e / (e + d) : 1 }' "$tmp/stats"
}
echo "== $mode, $bytes bytes, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg); A: $A $FA; B: $B $FB"
for _ in $(seq "$rounds"); do
    raw=$("$bench" raw "tcp://127.0.0.1:$(port)" "$bytes" 2 | awk '$1 == "raw_gbps" { print $2 }')
    echo "$raw $(one "$A" "$FA") $(one "$B" "$FB")" | awk '{
        printf "raw %.3f  A %.3f (%.2f, est %.2f)  B %.3f (%.2f, est %.2f)  B/A %.2f\n",
            $1, $2, $2 / $1, $3, $4, $4 / $1, $5, $4 / $2 }'
done
