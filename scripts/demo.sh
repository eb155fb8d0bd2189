#!/usr/bin/env bash
# Builds htga, starts htgad on its default database (htga.db in this folder)
# and runs the demo trainer (examples/) against it, so the closed loop can be
# watched: the trainer streams gradient samples, htgad estimates their tail
# index block by block and pushes lambda back, the trainer scales its updates.
#
# Usage: scripts/demo.sh [demo trainer flags, e.g. --steps 5000]   (Ctrl-C stops htgad)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo

builddir=build
if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" --buildtype=release -Dtests=false >/dev/null
else
    meson setup "$builddir" --buildtype=release -Dtests=false
fi
meson compile -C "$builddir"

endpoint=tcp://127.0.0.1:5555
http=127.0.0.1:8080
"$builddir/daemon/htgad" --db htga.db --listen "$endpoint" --http "$http" --block-samples 16384 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT INT TERM
sleep 0.5
kill -0 $daemon || { echo "htgad did not start" >&2; exit 1; }

echo "dashboard: http://$http/"
# Demo trainer flags (--steps --batch --dim --lr ...) pass through.
"$builddir/examples/htga_demo" --endpoint "$endpoint" --run "demo-$(date +%Y%m%d-%H%M%S)" \
    --wait-lambda-ms 3000 "$@"
echo
echo "rows stored (sqlite3 htga.db 'SELECT * FROM estimates'):"
sqlite3 -header -column htga.db "SELECT run, group_name, block, step_last, round(alpha, 3) AS alpha, round(lambda, 3) AS lambda FROM estimates ORDER BY created_at DESC LIMIT 5" 2>/dev/null || true
echo
echo "dashboard: http://$http/   (htgad keeps running for you to browse; Ctrl-C stops it)"
wait $daemon
