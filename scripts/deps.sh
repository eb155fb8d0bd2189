#!/usr/bin/env bash
# Installs the Debian packages htga needs, only those missing.
# Usage: scripts/deps.sh build|test|bench|demo|python   (test, bench and python include build)
set -euo pipefail
build=(gcc pkgconf meson ninja-build libzmq3-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev)
test=(libcriterion-dev sqlite3 valgrind)
bench=(python3-numpy)
python=(python3-numpy python3-torch python3-sklearn python3-matplotlib python3-zmq)
case "${1:-build}" in
build | demo) want=("${build[@]}") ;;
test) want=("${build[@]}" "${test[@]}" "${python[@]}") ;;
bench) want=("${build[@]}" "${bench[@]}") ;;
python) want=("${build[@]}" "${python[@]}") ;;
*) echo "usage: $0 build|test|bench|demo|python" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
