#!/usr/bin/env bash
# Builds htga, starts htgad on the default database (htga.db in the current
# directory) and runs the demo trainer against it, so the loop can be seen:
# the trainer's loss and the lambda htgad pushes back. Stops htgad at the end.
# Usage: examples/run-demo.sh [demo flags, e.g. --steps 5000]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" >/dev/null
meson compile -C "$build" -j2 >/dev/null
"$build/daemon/htgad" --block-samples 16384 --log-level info &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' EXIT
sleep 0.3
"$build/examples/htga_demo" --wait-lambda-ms 3000 "$@"
echo "rows stored:"
sqlite3 htga.db "SELECT run, group_name, block, step_last, round(alpha, 3) AS alpha, round(lambda, 3) AS lambda FROM estimates ORDER BY created_at DESC LIMIT 5" 2>/dev/null || true
