#!/usr/bin/env bash
# Builds htga and runs the whole test suite; the last line is "N passed, N failed".
# Usage: scripts/test.sh [--sanitize]   (--sanitize: ASan + UBSan build in build-asan/)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
scripts/deps.sh test || { echo "deps: install failed"; echo "0 passed, 1 failed"; exit 1; }

builddir=build-test
opts=(--buildtype=debugoptimized)
if [ "${1:-}" = "--sanitize" ]; then
    builddir=build-asan
    opts+=(-Db_sanitize=address,undefined -Db_lundef=false)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
fi
if [ -f "$builddir/build.ninja" ]; then
    meson setup --reconfigure "$builddir" "${opts[@]}" >/dev/null || exit 1
else
    meson setup "$builddir" "${opts[@]}" || exit 1
fi
if ! meson compile -C "$builddir"; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

log="$builddir/test-summary.txt"
meson test -C "$builddir" --print-errorlogs --num-processes 2 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

count() { awk -v k="$1" -F: '$1 == k { gsub(/ /, "", $2); print $2; found = 1 } END { if (!found) print 0 }' "$log"; }
ok=$(count "Ok")
fail=$(( $(count "Fail") + $(count "Timeout") + $(count "Unexpected Pass") + $(count "Skipped") ))
if [ "$ok" -eq 0 ]; then
    echo "no test ran: that is a failure"
    fail=$((fail + 1))
fi
echo "$ok passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
