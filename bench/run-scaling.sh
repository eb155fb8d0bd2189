#!/usr/bin/env bash
# The figures that say when a second htgad is needed (docs/scaling.md), one
# command. Per round, back to back on this machine:
#   raw      ZeroMQ PUSH/PULL loopback at the payload size (the baseline)
#   htgad    a raw DEALER flooding one htgad with wire SAMPLES of one run and
#            group for SECONDS: gradient values taken per second of wall
#            time and per second of htgad's CPU time (all its threads, from
#            /proc), blocks estimated per second and per CPU second, and
#            the ratio to raw;
# then database bytes per block on a trainer-like load (bench/scaling_db.py:
# GROUPS groups x STEPS steps, one block a group a step): the growth between
# STEPS/2 and STEPS steps per block added, and the fixed cost per group.
# Usage: bench/run-scaling.sh [BLOCK_SAMPLES (65536)] [SECONDS (3)] [ROUNDS (3)]
# Extra htgad flags from HTGAD_FLAGS, e.g. HTGAD_FLAGS="--estimators 2".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
block="${1:-65536}"
secs="${2:-3}"
rounds="${3:-3}"
bench_setup scaling
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
bytes=$((block * 4))

echo "== block $block values (payload $bytes bytes), $secs s per measurement, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), htgad flags: ${HTGAD_FLAGS:-none}"
: >"$tmp/rows"
for r in $(seq "$rounds"); do
    "$bench" raw "tcp://127.0.0.1:$(port)" "$bytes" "$secs" >"$tmp/raw"
    ep="tcp://127.0.0.1:$(port)"
    rm -f "$tmp/stats" "$tmp"/b.db*
    "$htgad" --db "$tmp/b.db" --listen "$ep" --stats-file "$tmp/stats" --stats-interval-ms 20 \
        --http off --log-level error --block-samples "$block" ${HTGAD_FLAGS:-} &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && break; sleep 0.05; done
    c0=$(cpu_ticks "$pid")
    "$bench" dealer "$ep" "$tmp/stats" "$bytes" "$secs" >"$tmp/dealer"
    c1=$(cpu_ticks "$pid")
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
    awk -v raw="$(get raw_gbps "$tmp/raw")" -v gbps="$(get dealer_gbps "$tmp/dealer")" \
        -v wall="$(get dealer_seconds "$tmp/dealer")" -v cpu="$(((c1 - c0)))" -v hz="$hz" -v n="$r" '
        $1 == "samples" { s = $2 } $1 == "blocks_estimated" { e = $2 } $1 == "drop_est_queue" { d = $2 }
        END {
            c = cpu / hz
            printf "round %d: raw %.3f GB/s; htgad took %.3g values/s (%.2f of raw), %.3g values per CPU s; estimated %.1f blocks/s, %.1f per CPU s (%d estimated, %d dropped at its queue); htgad CPU %.2f s over %.2f s\n",
                n, raw, s / wall, gbps / raw, s / c, e / wall, e / c, e, d, c, wall
            printf "%f %f %f %f %f\n", gbps / raw, s / wall, s / c, e / wall, e / c > "/dev/stderr"
        }' "$tmp/stats" 2>>"$tmp/rows"
done
groups=${GROUPS_DB:-200}
steps=${STEPS_DB:-50}
/usr/bin/python3 "$root/bench/scaling_db.py" "$htgad" "$build/client/libhtga.so" "$groups" "$steps" 4096 >"$tmp/db"
echo "== summary (median of $rounds rounds)"
med() { sort -g -k"$1" "$tmp/rows" | awk -v k="$1" '{ a[NR] = $k } END { printf "%.3g", a[int((NR + 1) / 2)] }'; }
echo "htgad ingest / raw ZeroMQ: $(med 1)"
echo "gradient values taken: $(med 2) per second, $(med 3) per second of htgad CPU"
echo "blocks of $block estimated: $(med 4) per second, $(med 5) per second of htgad CPU"
echo "database: $(get db_bytes_per_block "$tmp/db") bytes per block, plus $(get db_bytes_per_group "$tmp/db") bytes per group once ($groups groups: $(get db_half_blocks "$tmp/db") blocks $(get db_half_bytes "$tmp/db") bytes, $(get db_blocks "$tmp/db") blocks $(get db_bytes "$tmp/db") bytes, empty $(get db_empty_bytes "$tmp/db"); $(get db_sends_dropped "$tmp/db") sends dropped)"
