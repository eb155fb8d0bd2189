#!/usr/bin/env bash
# Where htgad's CPU goes per byte received, per thread, for one or two
# htgad binaries measured in turn (interleaved rounds): for a shared machine
# whose throughput swings too much to compare two builds by GB/s alone.
# Each measurement: start htgad, read every thread's CPU time
# (/proc/PID/task/*/stat), run the ingest_bench measurement (dealer or e2e,
# 2 s), read them again, stop htgad. Prints per thread name: CPU ms per
# 100 MB the daemon counted (samples x 4 bytes) and its share of the
# daemon's CPU, then the throughput, the fraction of blocks estimated and
# the estimator's CPU per block it estimated.
# Needs build-bench/ (bench/run-ingest.sh makes it).
# Usage: bench/threads-ingest.sh MODE BYTES ROUNDS HTGAD_A [HTGAD_B]
# e.g.   flock /tmp/htga-bench.lock bench/threads-ingest.sh e2e 65536 4 OLD/htgad NEW/htgad
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
mode=$1 bytes=$2 rounds=$3
shift 3
bench="$root/build-bench/bench/ingest_bench"
tmp=$(mktemp -d /tmp/htga-thr-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
hz=$(getconf CLK_TCK)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
snap() { # PID -> "name ticks" per thread (utime + stime); the main thread is "main"
    for t in /proc/"$1"/task/*; do
        n=$(tr ' ' '_' <"$t/comm")
        [ "${t##*/}" = "$1" ] && n=main
        echo "$n $(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)"
    done
}
one() { # HTGAD LABEL
    local ep="tcp://127.0.0.1:$(port)" pid
    rm -f "$tmp"/stats "$tmp"/db*
    "$1" --db "$tmp/db" --listen "$ep" --stats-file "$tmp/stats" --stats-interval-ms 20 \
        --http off --log-level error &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && break; sleep 0.05; done
    snap "$pid" >"$tmp/before"
    "$bench" "$mode" "$ep" "$tmp/stats" "$bytes" 2 >"$tmp/out"
    snap "$pid" >"$tmp/after"
    kill -TERM "$pid"
    wait "$pid"
    awk -v hz="$hz" -v label="$2" -v k="${mode}_gbps" '
        FILENAME ~ /out$/ { if ($1 == k) gbps = $2; next }
        FILENAME ~ /stats$/ { if ($1 == "samples") mb = $2 * 4 / 1e8; if ($1 == "blocks_estimated") e = $2
                              if ($1 == "drop_est_queue") d = $2; next }
        FILENAME ~ /before$/ { b[$1] += $2; next }
        { a[$1] += $2; names[$1] = 1 }
        END {
            tot = 0
            for (n in names) { c[n] = (a[n] - b[n]) / hz; tot += c[n] }
            f = (e + d > 0) ? e / (e + d) : 1
            us = e > 0 ? 1e6 * c["htgad-est"] / e : 0
            printf "%s %.3f GB/s, est %.2f (%.0f us/block), daemon %.0f ms/100MB:", label, gbps, f, us, 1000 * tot / mb
            for (n in names) if (c[n] > 0) printf "  %s %.0f (%.0f%%)", n, 1000 * c[n] / mb, 100 * c[n] / tot
            printf "\n"
        }' "$tmp/out" "$tmp/stats" "$tmp/before" "$tmp/after"
}
echo "== $mode, $bytes bytes, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    i=0
    for h in "$@"; do
        one "$h" "r$r:$(printf "\\x$(printf %x $((65 + i)))")"
        i=$((i + 1))
    done
done
