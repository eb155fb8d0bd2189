#!/usr/bin/env bash
# Remakes docs/dashboard.png, the README's screenshot, from a real run: the
# dashboard test (tests/web/dashboard.test.mjs) feeds a real htgad through
# libhtga with two finished runs and a live one, drives the page in headless
# Chromium (1400 px wide), changes the live run's policy through the form,
# and saves the full page. Run it after a change to the dashboard.
# Usage: scripts/screenshot.sh [OUTPUT (docs/dashboard.png)]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/dashboard.png}")
scripts/deps.sh test >/dev/null
builddir=build-test
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" --buildtype=debugoptimized >/dev/null
meson compile -C "$builddir" >/dev/null
SCREENSHOT="$out" meson test -C "$builddir" --print-errorlogs web-dashboard >/dev/null || {
    echo "the dashboard test failed: see $builddir/meson-logs/testlog.txt" >&2
    exit 1
}
[ -s "$out" ] || { echo "no screenshot written" >&2; exit 1; }
echo "wrote $out"
