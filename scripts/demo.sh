#!/usr/bin/env bash
# Builds htga, starts htgad on its default database (htga.db in this folder)
# and runs the demo trainer (examples/) against it, so the closed loop can be
# watched: the trainer streams gradient samples, htgad estimates their tail
# index block by block and pushes lambda back, the trainer scales its updates.
#
# Usage: scripts/demo.sh [--steps N]     (Ctrl-C stops the daemon)
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

steps=2000
[ "${1:-}" = "--steps" ] && steps="${2:?--steps needs a number}"

endpoint=tcp://127.0.0.1:5555
http=127.0.0.1:8080
"$builddir/daemon/htgad" --db htga.db --listen "$endpoint" --http "$http" --block-samples 16384 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT INT TERM
sleep 0.5
kill -0 $daemon || { echo "htgad did not start" >&2; exit 1; }

echo "dashboard: http://$http/"
"$builddir/examples/heavy_tail_sgd" --endpoint "$endpoint" --run "demo-$(date +%Y%m%d-%H%M%S)" --steps "$steps"
echo
echo "The run is stored in htga.db (sqlite3 htga.db 'select * from estimates limit 5')."
echo "dashboard: http://$http/  (htgad keeps running; Ctrl-C to stop it)"
wait $daemon
