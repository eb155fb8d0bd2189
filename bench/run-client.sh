#!/usr/bin/env bash
# The cost of one htga_send() against a memcpy of the bytes it ships, in one
# command: builds a release tree in build-bench-client/ and runs
# bench/client_bench (an in-process ROUTER stands in for htgad).
# Usage: bench/run-client.sh [ROUNDS (200)] [BIG_N (100000000)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench-client"
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$build" -j2 bench/client_bench >/dev/null
exec "$build/bench/client_bench" "${1:-200}" "${2:-100000000}"
