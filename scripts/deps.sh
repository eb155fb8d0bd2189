#!/usr/bin/env bash
# Installs the Debian packages htga needs, only those missing.
# Usage: scripts/deps.sh build|test|bench|demo|web|python
#   build: compilers and C libraries; demo: build + the dashboard's npm packages;
#   test: everything the suite needs (build, Criterion, web, python, prometheus,
#         systemd-analyze);
#   bench: build + numpy and wrk for the baselines.
# `npm ci` runs in web/ when web/node_modules is missing (demo, test, web).
set -euo pipefail
build=(gcc pkgconf meson ninja-build libzmq3-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev)
test=(libcriterion-dev sqlite3 valgrind prometheus curl systemd)
bench=(python3-numpy wrk)
web=(chromium nodejs npm)
python=(python3-numpy python3-torch python3-sklearn python3-matplotlib python3-zmq)
case "${1:-build}" in
build) want=("${build[@]}") ;;
demo) want=("${build[@]}" sqlite3 nodejs npm) ;;
test) want=("${build[@]}" "${test[@]}" "${web[@]}" "${python[@]}") ;;
web) want=("${web[@]}") ;;
python) want=("${build[@]}" "${python[@]}") ;;
bench) want=("${build[@]}" "${bench[@]}") ;;
*) echo "usage: $0 build|test|bench|demo|web|python" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
    # node and npm may come from elsewhere (NodeSource's nodejs bundles npm
    # and conflicts with Debian's): a command on PATH is enough for those.
    case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The dashboard's npm packages (uPlot, served by htgad; playwright-core for
# the browser test), pinned by web/package-lock.json.
case "${1:-build}" in
test | web | demo)
    web_dir="$(cd "$(dirname "$0")/../web" && pwd)"
    if [ ! -d "$web_dir/node_modules/uplot" ] || [ ! -d "$web_dir/node_modules/playwright-core" ]; then
        echo "deps: npm ci in $web_dir" >&2
        (cd "$web_dir" && npm ci --no-audit --no-fund >&2)
    fi
    ;;
esac
