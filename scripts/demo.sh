#!/usr/bin/env bash
# Builds htga, starts htgad on its default database (htga.db in this folder)
# and runs the demo trainer (examples/) against it, so the closed loop can be
# watched: the trainer streams gradient samples, htgad estimates their tail
# index block by block and pushes lambda back, the trainer scales its updates.
#
# Usage: scripts/demo.sh [--listen ENDPOINT] [--http ADDR:PORT] [--db FILE]
#                        [demo trainer flags, e.g. --steps 5000]   (Ctrl-C stops htgad)
#   --listen  ZeroMQ endpoint of htgad (default tcp://127.0.0.1:5555)
#   --http    address of the dashboard and REST API (default 127.0.0.1:8080)
#   --db      SQLite database (default htga.db)
set -euo pipefail
cd "$(dirname "$0")/.."

endpoint=tcp://127.0.0.1:5555
http=127.0.0.1:8080
db=htga.db
trainer_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --listen | --http | --db)
        [ $# -ge 2 ] || { echo "demo: $1 needs a value" >&2; exit 2; }
        case "$1" in
        --listen) endpoint=$2 ;;
        --http) http=$2 ;;
        --db) db=$2 ;;
        esac
        shift 2
        ;;
    -h | --help)
        sed -n '7,11p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        trainer_args+=("$1")
        shift
        ;;
    esac
done

# A port something already listens on: say which one and how to pick another.
taken() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
zhost=${endpoint#tcp://}
if [ "$zhost" != "$endpoint" ] && taken "${zhost%:*}" "${zhost##*:}"; then
    echo "demo: port ${zhost##*:} of ${zhost%:*} is taken (something listens there): pass --listen tcp://127.0.0.1:PORT" >&2
    exit 1
fi
if taken "${http%:*}" "${http##*:}"; then
    echo "demo: port ${http##*:} of ${http%:*} is taken (something listens there): pass --http 127.0.0.1:PORT" >&2
    exit 1
fi

scripts/deps.sh demo
builddir=build
if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" --buildtype=release -Dtests=false >/dev/null
else
    meson setup "$builddir" --buildtype=release -Dtests=false
fi
meson compile -C "$builddir"

"$builddir/daemon/htgad" --db "$db" --listen "$endpoint" --http "$http" --block-samples 16384 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT INT TERM
# Ready when the HTTP port answers; htgad's own message says why it did not start.
for _ in $(seq 100); do
    kill -0 $daemon 2>/dev/null || { echo "demo: htgad did not start (its message is above)" >&2; exit 1; }
    taken "${http%:*}" "${http##*:}" && break
    sleep 0.1
done

echo "dashboard: http://$http/"
run="demo-$(date +%Y%m%d-%H%M%S)"
# Demo trainer flags (--steps --batch --dim --lr ...) pass through.
"$builddir/examples/htga_demo" --endpoint "$endpoint" --run "$run" \
    --wait-lambda-ms 3000 ${trainer_args[@]+"${trainer_args[@]}"}
echo
query="SELECT block, step_last, round(alpha, 3) AS alpha, round(lambda, 3) AS lambda
  FROM (SELECT * FROM estimates WHERE run = '$run' AND group_name = 'linear.weight'
        ORDER BY block DESC LIMIT 5) ORDER BY block"
echo "the run's last 5 blocks, as stored: sqlite3 $db \"$query\""
sqlite3 -header -column "$db" "$query" || true
echo
echo "dashboard: http://$http/   (htgad keeps running for you to browse; Ctrl-C stops it)"
wait $daemon
