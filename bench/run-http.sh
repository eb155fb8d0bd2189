#!/usr/bin/env bash
# HTTP API benchmark (issue 4): wrk on loopback against
#   /api/v1/runs/{run}/latest                                   and
#   /api/v1/runs/{run}/groups/{group}/series?max_points=1000   over 1,000,000 blocks,
# while a writer appends blocks to that same group through SQLite WAL at about
# the daemon's full ingest rate (~5k blocks/s = 1.5 GB/s of float32 in 64Ki
# blocks). Prints req/s and p50/p99 latency; goal: series p99 < 50 ms.
# Usage: bench/run-http.sh [BLOCKS] [SECONDS]   (defaults 1000000, 5)
#        WRITER=0 bench/run-http.sh   runs without the concurrent writer, for comparison
set -euo pipefail
cd "$(dirname "$0")/.."
blocks=${1:-1000000}
secs=${2:-5}
scripts/deps.sh bench >/dev/null
command -v wrk >/dev/null || { echo "wrk missing"; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 1; }

bdir=build-bench
[ -f $bdir/build.ninja ] || meson setup $bdir --buildtype=release -Dtests=true >/dev/null
meson compile -C $bdir -j2 tests/http/http_serve >/dev/null
serve=$bdir/tests/http/http_serve

tmp=$(mktemp -d /tmp/htga-bench-http-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
db=$tmp/bench.db
now=$(date +%s)
t0=$(date +%s.%N)
{
    echo "PRAGMA journal_mode=WAL;"
    cat schema/*.sql
    cat <<SQL
INSERT INTO runs(name, created_at) VALUES ('bench', $now);
INSERT INTO groups(run_id, name, created_at) VALUES (1, 'layer.0', $now);
INSERT INTO groups(run_id, name, created_at) VALUES (1, 'layer.1', $now);
BEGIN;
WITH RECURSIVE c(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM c WHERE b < $blocks - 1)
INSERT INTO blocks SELECT 1, b, b * 10, b * 10 + 9, 65536, 65536, 0, 0, 0, 0,
    1 + (b % 7) * 0.1, 3 + (b % 11) * 0.1, 2 + (abs(random()) % 1000) / 1000.0, 0.1,
    1.8, 2.2, 256, 1.7, 1, 1, 0, NULL, $now FROM c;
INSERT INTO blocks SELECT 2, block, step_first, step_last, n, n_used, n_nonfinite, n_zero,
    median, mean, variance, kurtosis, alpha, alpha_se, alpha_lo, alpha_hi, k, alpha_stable,
    lambda, lambda_raw, lambda_reason, policy_id, created_at FROM blocks
    WHERE group_id = 1 AND block < 1000;
COMMIT;
SQL
} | sqlite3 "$db" >/dev/null
printf 'database: %d blocks in group layer.0 built in %.1f s (%s)\n' "$blocks" \
    "$(echo "$(date +%s.%N) - $t0" | bc)" "$(du -h "$db" | cut -f1)"

"$serve" "$db" 127.0.0.1:0 > "$tmp/serve.out" &
pids+=($!)
for _ in $(seq 50); do grep -q '^port' "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/^port/ {print $2}' "$tmp/serve.out")
base="http://127.0.0.1:$port/api/v1/runs/bench"
series="$base/groups/layer.0/series?fields=alpha,kurtosis,variance,lambda&max_points=1000"

first=$(curl -s -o "$tmp/first.json" -w '%{time_total}' "$series")
echo "first series query (cold: builds the chunk summaries): ${first}s;" \
    "$(grep -o '"buckets":[0-9]*' "$tmp/first.json"), $(grep -o '"bucket_blocks":[0-9]*' "$tmp/first.json")"

# the writer: appends blocks to layer.0 in batches of 100, as htgad's writer does
writer() {
    set +e
    local b=$blocks
    while :; do
        sqlite3 "$db" "PRAGMA busy_timeout=5000; BEGIN;
            WITH RECURSIVE c(b) AS (SELECT $b UNION ALL SELECT b + 1 FROM c WHERE b < $b + 99)
            INSERT INTO blocks SELECT 1, b, b * 10, b * 10 + 9, 65536, 65536, 0, 0, 0, 0, 1, 3,
                2.5, 0.1, 2.3, 2.7, 256, 1.7, 1, 1, 0, NULL, $now FROM c; COMMIT;" >/dev/null
        b=$((b + 100))
        echo $b > "$tmp/written"
    done
}
if [ "${WRITER:-1}" != 0 ]; then
    writer &
    pids+=($!)
fi

spid=${pids[0]}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$spid/stat"; }
hz=$(getconf CLK_TCK)

# run_wrk NAME CONNECTIONS URL: req/s, latency percentiles, and the server's
# CPU time per request (user+sys of the server process / requests), which
# other load on this shared machine does not inflate.
run_wrk() {
    local name=$1 conns=$2 url=$3 c0 c1 n rps p50 p99 non2xx
    c0=$(cpu_ticks)
    wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" > "$tmp/wrk.txt"
    c1=$(cpu_ticks)
    n=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
    rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt")
    printf '%-38s c=%-2s %9s req/s  p50 %8s  p99 %8s  cpu/req %6.3f ms  non-2xx %s\n' \
        "$name" "$conns" "$rps" "$p50" "$p99" "$(echo "($c1 - $c0) * 1000 / $hz / $n" | bc -l)" \
        "${non2xx:-0}"
}
echo "wrk -t1 -d${secs}s on loopback; server: a thread per connection;" \
    "$([ "${WRITER:-1}" = 0 ] && echo "no writer" || echo "writer appending to layer.0 meanwhile")"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
w0=$(cat "$tmp/written" 2>/dev/null || echo "$blocks")
run_wrk "GET /runs/bench/latest" 1 "$base/latest"
run_wrk "GET /runs/bench/latest" 8 "$base/latest"
run_wrk "GET series max_points=1000, 4 fields" 1 "$series"
run_wrk "GET series max_points=1000, 4 fields" 8 "$series"
w1=$(cat "$tmp/written" 2>/dev/null || echo "$blocks")
echo "writer appended $((w1 - w0)) blocks during the runs ($(( (w1 - w0) / (4 * secs) )) blocks/s)"
