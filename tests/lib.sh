# lib.sh: helpers of the shell tests (sourced): a temp dir removed on exit
# with every process started through `spawn`, free loopback ports, and
# polling with a deadline instead of sleeping.
#   . "$(dirname "$0")/../lib.sh"; test_tmp NAME
set -euo pipefail

# test_tmp NAME: makes $tmp (/tmp/htga-NAME-XXXXXX); on exit, the processes
# in $pids get SIGTERM and $tmp goes.
pids=()
test_tmp() {
    tmp=$(mktemp -d "/tmp/htga-$1-XXXXXX")
    trap test_cleanup EXIT
}
test_cleanup() {
    for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}

# free_port: a TCP port of 127.0.0.1 that nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds; 1 when
# SECONDS pass first.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

# need_tools TOOL...: fails (never skips) when a tool is missing.
need_tools() {
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "missing $t (scripts/deps.sh test installs it)"; exit 1; }
    done
}

# stop_htgad PID LOG: SIGTERM, wait, and fail unless htgad logged a clean stop.
stop_htgad() {
    kill -TERM "$1"
    wait "$1" || { echo "htgad exited with $?"; tail -20 "$2"; exit 1; }
    pids=()
    grep -q 'stopped cleanly' "$2" || { tail -20 "$2"; exit 1; }
}
