#!/usr/bin/env bash
# Ingest benchmark of htgad, one command. Each round measures, back to back:
#   raw     ZeroMQ PUSH/PULL loopback at the payload size (the baseline)
#   dealer  a raw DEALER sending wire-encoded SAMPLES to htgad (decode,
#           accumulate, estimate, SQLite on): the daemon's side alone
#   e2e     libhtga -> htgad, the whole path a trainer uses
# and prints dealer/raw and e2e/raw (goal >= 0.70 at 64 KiB); ratios are per
# round (machines here are shared and noisy), then the median over rounds.
# Next to each ratio: the fraction of closed blocks the daemon estimated
# (the rest were dropped at its estimator queue, counted, by design), so
# throughput is never mistaken for estimated throughput.
# Then: latency from the send that completes a block to the lambda arriving
# at the client (goal p99 < 5 ms), and htga_send's cost vs memcpy.
# Usage: bench/run-ingest.sh [PAYLOAD_BYTES (65536)] [SECONDS (2)] [ROUNDS (3)]
# Extra htgad flags from HTGAD_FLAGS, e.g. HTGAD_FLAGS="--estimators 4".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bytes="${1:-65536}"
secs="${2:-2}"
rounds="${3:-3}"
bench_setup bench
start_htgad() {
    rm -f "$tmp/stats" "$tmp"/bench.db*
    "$htgad" --db "$tmp/bench.db" --listen "$1" --stats-file "$tmp/stats" --stats-interval-ms 20 \
        --http off --log-level error ${HTGAD_FLAGS:-} &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && return 0; sleep 0.05; done
    echo "htgad did not start" >&2
    exit 1
}
stop_htgad() { # prints the daemon's final counters (written after its flush)
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
    grep -E '^(samples|blocks_closed|blocks_estimated|drop_est_queue|rows_written) ' "$tmp/stats" | tr '\n' ' '
    echo
}
est_frac() { # blocks estimated / blocks that closed (estimated + dropped at the queue)
    awk '$1 == "blocks_estimated" { e = $2 } $1 == "drop_est_queue" { d = $2 }
         END { printf "%.2f\n", (e + d > 0) ? e / (e + d) : 1 }' "$tmp/stats"
}

echo "== payload $bytes bytes, $secs s per measurement, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), htgad flags: ${HTGAD_FLAGS:-none}"
: >"$tmp/ratios"
for r in $(seq "$rounds"); do
    "$bench" raw "tcp://127.0.0.1:$(port)" "$bytes" "$secs" >"$tmp/raw"
    ep="tcp://127.0.0.1:$(port)"
    start_htgad "$ep"
    "$bench" dealer "$ep" "$tmp/stats" "$bytes" "$secs" >"$tmp/dealer"
    echo -n "   dealer run: "
    stop_htgad
    fd=$(est_frac)
    ep="tcp://127.0.0.1:$(port)"
    start_htgad "$ep"
    "$bench" e2e "$ep" "$tmp/stats" "$bytes" "$secs" >"$tmp/e2e"
    echo -n "   e2e run:    "
    stop_htgad
    fe=$(est_frac)
    raw=$(get raw_gbps "$tmp/raw")
    dealer=$(get dealer_gbps "$tmp/dealer")
    e2e=$(get e2e_gbps "$tmp/e2e")
    awk -v r="$raw" -v d="$dealer" -v e="$e2e" -v n="$r" -v fd="$fd" -v fe="$fe" 'BEGIN {
        printf "round %d: raw %.3f GB/s, dealer->htgad %.3f GB/s (%.2f, %.2f of blocks estimated), libhtga->htgad %.3f GB/s (%.2f, %.2f estimated)\n", n, r, d, d / r, fd, e, e / r, fe
        printf "%f %f %f %f\n", d / r, e / r, fd, fe > "/dev/stderr" }' 2>>"$tmp/ratios"
done
ep="tcp://127.0.0.1:$(port)"
start_htgad "$ep"
"$bench" latency "$ep" 65536 200 >"$tmp/lat"
echo -n "   latency run: "
stop_htgad
"$bench" sendcost "tcp://127.0.0.1:$(port)" 1000000 >"$tmp/cost"
"$bench" sendcost "tcp://127.0.0.1:$(port)" 65536 >"$tmp/cost64k"
for run in 16 32 64; do # HTGA_OPT_SAMPLE_CLUSTER (off by default): runs of consecutive values
    "$bench" sendcost "tcp://127.0.0.1:$(port)" 1000000 "$run" >"$tmp/cost-run$run"
done
echo "== summary"
med() { sort -n -k"$1" "$tmp/ratios" | awk -v k="$1" '{ a[NR] = $k } END { printf "%.2f", a[int((NR + 1) / 2)] }'; }
n=$(wc -l <"$tmp/ratios")
echo "daemon ingest (dealer->htgad) / raw, median of $n: $(med 1) (goal >= 0.70); blocks estimated: $(med 3)"
echo "end to end (libhtga->htgad) / raw, median of $n: $(med 2) (goal >= 0.70); blocks estimated: $(med 4)"
echo "block-to-lambda latency: p50 $(get latency_p50_ms "$tmp/lat") ms, p99 $(get latency_p99_ms "$tmp/lat") ms, max $(get latency_max_ms "$tmp/lat") ms over $(get latency_n "$tmp/lat") blocks (goal p99 < 5)"
echo "htga_send of 1e6 values (subsampled to 65536, shipped): median $(get send_us "$tmp/cost") us vs memcpy of 256 KiB $(get memcpy_us "$tmp/cost") us, median of per-round ratios $(get send_over_memcpy "$tmp/cost") (goal <= 2; $(get sends_ok "$tmp/cost") of 1000 sends shipped)"
echo "   the same send against a memcpy of the whole 4 MB gradient (one value per stratum reads every line of it): median of per-round ratios $(get send_over_gradient_memcpy "$tmp/cost") (memcpy $(get gradient_memcpy_us "$tmp/cost") us)"
for run in 16 32 64; do
    f="$tmp/cost-run$run"
    echo "htga_send of 1e6 values in runs of $run (HTGA_OPT_SAMPLE_CLUSTER=$run): median $(get send_us "$f") us vs memcpy $(get memcpy_us "$f") us, median of per-round ratios $(get send_over_memcpy "$f")"
done
echo "htga_send of 65536 values (all shipped): median $(get send_us "$tmp/cost64k") us vs memcpy $(get memcpy_us "$tmp/cost64k") us, median of per-round ratios $(get send_over_memcpy "$tmp/cost64k")"
echo "htga_send of 10 values: median $(get small_send_us "$tmp/cost") us, p99 $(get small_send_p99_us "$tmp/cost") us ($(get small_sends_ok "$tmp/cost") of 1000 shipped)"
