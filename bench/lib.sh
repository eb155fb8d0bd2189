# lib.sh: the set-up the daemon benchmarks share (sourced by run-ingest.sh
# and run-scaling.sh): a release build in build-bench/, a temp dir removed
# on exit with the htgad in $pid stopped, free ports, and `get KEY FILE` for
# the "key value" lines the tools print.
#   . "$(dirname "$0")/lib.sh"; bench_setup NAME
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-bench"
bench="$build/bench/ingest_bench"
htgad="$build/daemon/htgad"
pid=""

bench_setup() {
    [ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
    meson compile -C "$build" -j2 >/dev/null
    tmp="$(mktemp -d "/tmp/htga-$1-XXXXXX")"
    trap bench_cleanup EXIT
}
bench_cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
get() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
