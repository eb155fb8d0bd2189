#!/usr/bin/env bash
# HTTP API benchmark (issue 4): wrk on loopback against the real htgad,
#   /api/v1/runs/{run}/latest                                   and
#   /api/v1/runs/{run}/groups/{group}/series?max_points=1000   over 1,000,000 blocks,
# while htgad ingests, estimates and stores blocks of that same group at its
# full rate, fed through libhtga (bench/http_feed.c). Prints req/s, p50/p99,
# the CPU time of htgad's HTTP threads per request, and the blocks/s htgad
# wrote during each wrk run (from /api/v1/stats). Goal: series p99 < 50 ms.
# Usage: bench/run-http.sh [BLOCKS (1000000)] [SECONDS (5)]
#        FEED=0 bench/run-http.sh          the same with htgad idle, for comparison
#        NICE_EST=N bench/run-http.sh      renice htgad's estimator threads by N
# Run it under `flock /tmp/htga-bench.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
blocks=${1:-1000000}
secs=${2:-5}
feed=${FEED:-1}
scripts/deps.sh bench >/dev/null
command -v wrk >/dev/null || { echo "wrk missing (apt-get install -y wrk)"; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 1; }

bdir=build-bench
[ -f $bdir/build.ninja ] || meson setup $bdir --buildtype=release -Dtests=false >/dev/null
meson compile -C $bdir -j2 daemon/htgad bench/http_feed >/dev/null
htgad=$bdir/daemon/htgad
feeder=$bdir/bench/http_feed

tmp=$(mktemp -d /tmp/htga-bench-http-XXXXXX)
hpid="" fpid=""
cleanup() {
    [ -n "$fpid" ] && kill -TERM "$fpid" 2>/dev/null
    [ -n "$hpid" ] && kill -TERM "$hpid" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The database: every migration, then 1e6 blocks of bench/layer.0 in one
# statement, then series_rollup computed from them by the statements of
# migration 003 (what htgad's writer maintains as it stores blocks).
db=$tmp/bench.db
now=$(date +%s)
t0=$(date +%s.%N)
migrations=$(ls schema/[0-9]*.sql | wc -l)
{
    echo "PRAGMA journal_mode=WAL;"
    cat schema/[0-9]*.sql
    cat <<SQL
INSERT INTO runs(name, created_at) VALUES ('bench', $now);
INSERT INTO groups(run_id, name, created_at) VALUES (1, 'layer.0', $now);
INSERT INTO groups(run_id, name, created_at) VALUES (1, 'layer.1', $now);
BEGIN;
WITH RECURSIVE c(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM c WHERE b < $blocks - 1)
INSERT INTO blocks SELECT 1, b, b * 10, b * 10 + 9, 65536, 65536, 0, 0, 0, 0,
    1 + (b % 7) * 0.1, 3 + (b % 11) * 0.1, 2 + (abs(random()) % 1000) / 1000.0, 0.1,
    1.8, 2.2, 256, 1.7, 1, 1, 0, NULL, $now, 1 FROM c;
INSERT INTO blocks SELECT 2, block, step_first, step_last, n, n_used, n_nonfinite, n_zero,
    median, mean, variance, kurtosis, alpha, alpha_se, alpha_lo, alpha_hi, k, alpha_stable,
    lambda, lambda_raw, lambda_reason, policy_id, created_at, alpha_deff FROM blocks
    WHERE group_id = 1 AND block < 1000;
COMMIT;
BEGIN;
SQL
    sed -n '/^-- Level 64 from blocks/,$p' schema/003_series_rollup.sql
    echo "COMMIT; PRAGMA user_version = $migrations;"
} | sqlite3 "$db" >/dev/null
printf 'database: %d blocks in group layer.0 and their series_rollup rows built in %.1f s (%s)\n' \
    "$blocks" "$(echo "$(date +%s.%N) - $t0" | bc)" "$(du -h "$db" | cut -f1)"

zport=$(port)
hport=$(port)
"$htgad" --db "$db" --listen "tcp://127.0.0.1:$zport" --http "127.0.0.1:$hport" \
    --log-level warn ${HTGAD_FLAGS:-} 2>"$tmp/htgad.log" &
hpid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/api/v1/health" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$hport/api/v1/runs/bench"
series="$base/groups/layer.0/series?fields=alpha,kurtosis,variance,lambda&max_points=1000"
stats="http://127.0.0.1:$hport/api/v1/stats"

first=$(curl -s -o "$tmp/first.json" -w '%{time_total}' "$series")
echo "first series query (nothing to warm up): ${first}s;" \
    "$(grep -o '"buckets":[0-9]*' "$tmp/first.json"), $(grep -o '"bucket_blocks":[0-9]*' "$tmp/first.json")"

if [ "$feed" != 0 ]; then
    "$feeder" "tcp://127.0.0.1:$zport" bench layer.0 $((blocks * 10)) 100000 >"$tmp/feed.out" &
    fpid=$!
    sleep 3 # connected, queues filled: the daemon at its full rate
fi
if [ -n "${NICE_EST:-}" ]; then
    for t in /proc/$hpid/task/*; do
        [ "$(cat "$t/comm")" = htgad-est ] && renice -n "$NICE_EST" -p "$(basename "$t")" >/dev/null
    done
fi

hz=$(getconf CLK_TCK)
# CPU ticks of the whole process (exited threads included) and of its
# threads that are not HTTP: ingest, estimators, writer, ZeroMQ's. The
# difference is the HTTP server's (libmicrohttpd's threads, a thread per
# connection) plus the idle main thread.
proc_ticks() { awk '{print $14 + $15}' "/proc/$hpid/stat"; }
core_ticks() {
    local t=0 c s
    for d in /proc/$hpid/task/*; do
        c=$(cat "$d/comm" 2>/dev/null) || continue
        case "$c" in
        htgad-* | ZMQbg*)
            s=$(sed 's/^.*) //' "$d/stat")
            set -- $s
            t=$((t + ${12} + ${13}))
            ;;
        esac
    done
    echo $t
}
rows() { curl -s "$stats" | grep -o '"rows_written":[0-9.e+]*' | cut -d: -f2 | awk '{printf "%d", $1}'; }

# run_wrk NAME CONNECTIONS URL
run_wrk() {
    local name=$1 conns=$2 url=$3 p0 p1 k0 k1 r0 r1 t0 t1 n rps p50 p99 non2xx
    r0=$(rows) p0=$(proc_ticks) k0=$(core_ticks) t0=$(date +%s.%N)
    wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" >"$tmp/wrk.txt"
    r1=$(rows) p1=$(proc_ticks) k1=$(core_ticks) t1=$(date +%s.%N)
    n=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
    rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt")
    printf '%-34s c=%-2s %8s req/s  p50 %8s  p99 %8s  http cpu/req %6.3f ms  ingest %5.0f blocks/s (daemon cpu %3.0f%%)  non-2xx %s\n' \
        "$name" "$conns" "$rps" "$p50" "$p99" \
        "$(echo "(($p1 - $p0) - ($k1 - $k0)) * 1000 / $hz / $n" | bc -l)" \
        "$(echo "($r1 - $r0) / ($t1 - $t0)" | bc -l)" \
        "$(echo "($k1 - $k0) * 100 / $hz / ($t1 - $t0)" | bc -l)" "${non2xx:-0}"
}
echo "wrk -t1 -d${secs}s on loopback against htgad (a thread per connection);" \
    "$([ "$feed" = 0 ] && echo "htgad idle" || echo "libhtga feeding bench/layer.0 at full rate")" \
    "${NICE_EST:+(estimators reniced by $NICE_EST)}"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
run_wrk "GET /runs/bench/latest" 1 "$base/latest"
run_wrk "GET /runs/bench/latest" 8 "$base/latest"
run_wrk "GET series max_points=1000, 4 fields" 1 "$series"
run_wrk "GET series max_points=1000, 4 fields" 8 "$series"
curl -s -o "$tmp/last.json" "$series"
echo "series now: $(grep -o '"blocks":[0-9]*' "$tmp/last.json"), $(grep -o '"buckets":[0-9]*' "$tmp/last.json")"
if [ -n "$fpid" ]; then
    kill -TERM "$fpid"
    wait "$fpid" || true
    fpid=""
    echo "feeder: $(tr '\n' ' ' <"$tmp/feed.out")"
fi
curl -s "$stats" | grep -o '"drops":{[^}]*}' | sed 's/^/htgad /'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
