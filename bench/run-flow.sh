#!/usr/bin/env bash
# Flow-control benchmark, one command: a synthetic trainer (bench/flow_bench.c)
# against the real htgad on its default flags, in the scenarios of
# bench/README-flow.md:
#   burst    200 groups x 1e6 values (subsampled), a step every 250 ms, 40 steps
#   overload the same every 25 ms (about 10x what this machine can estimate)
#   ranks    16 ranks of one run, 50 groups each, a step every 250 ms
#   torch    the README's PyTorch example (a 64-48-10 MLP, 400 steps)
# Each prints blocks expected / stored / shed / lost and the blocks per group;
# the counts and ratios come from the same run.
# Usage: bench/run-flow.sh [SCENARIO ...]   (default: all four)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup flow
bench="$build/bench/flow_bench"
start_htgad() { # default flags: only where it listens and writes
    rm -f "$tmp/stats" "$tmp"/flow.db*
    ep="tcp://127.0.0.1:$(port)"
    "$htgad" --db "$tmp/flow.db" --listen "$ep" --stats-file "$tmp/stats" --stats-interval-ms 100 \
        --http off --log-level error &
    pid=$!
    for _ in $(seq 100); do [ -f "$tmp/stats" ] && return 0; sleep 0.05; done
    echo "htgad did not start" >&2
    exit 1
}
stop_htgad() { # the counters as the run left them (not the shutdown flush), then stop
    local m0
    m0=$(stat -c %Y.%N "$tmp/stats" 2>/dev/null || echo 0)
    for _ in $(seq 40); do [ "$(stat -c %Y.%N "$tmp/stats" 2>/dev/null)" != "$m0" ] && break; sleep 0.05; done
    printf 'htgad: '
    grep -E '^(blocks_estimated|blocks_lost|drop_est_queue|backpressure_ms|est_bytes_max|budget_ppm|client_drops) ' \
        "$tmp/stats" | tr '\n' ' '
    echo
    kill -TERM "$pid"
    wait "$pid" || true
    pid=""
}
run() { # NAME GROUPS N PERIOD STEPS RANKS
    echo "== $1"
    start_htgad
    "$bench" "$ep" "$tmp/flow.db" "$1" "$2" "$3" "$4" "$5" "$6"
    stop_htgad
}

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD)"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(burst overload ranks torch)
for s in "${scenarios[@]}"; do
    case "$s" in
    burst) run burst 200 1000000 250 40 1 ;;
    overload) run overload 200 1000000 25 40 1 ;;
    ranks) run ranks 50 1000000 250 40 16 ;;
    torch)
        echo "== torch (the README example on a default htgad)"
        start_htgad
        HTGA_LIBRARY="$build/client/libhtga.so" PYTHONPATH="$root/client/python" \
            /usr/bin/python3 "$root/bench/flow_torch.py" "$ep" "$tmp/flow.db"
        stop_htgad
        ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
