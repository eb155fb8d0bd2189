#!/usr/bin/env bash
# The design effect of libhtga's run sampling (HTGA_OPT_SAMPLE_CLUSTER), one
# command: writes the data sets (iid Student-t(3) and Pareto, a synthetic
# row-correlated gradient, real PyTorch gradients of an MLP and a CNN on
# sklearn's digits; bench/sample_deff_data.py, needs numpy, torch, sklearn),
# then for each draws DRAWS subsamples as htga_send does, per value and in
# runs, estimates each as htgad does and prints the spread (SD over draws)
# of alpha, log variance and kurtosis, and its ratio to one value per
# stratum. See bench/README-ingest.md, "Run sampling".
# Usage: bench/run-sample-deff.sh [DRAWS (2000)] [LEN... (1 16 32)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
draws="${1:-2000}"
shift || true
lens=("${@:-}")
[ -n "${lens[0]}" ] || lens=(1 16 32)
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$build" -j2 >/dev/null
data="$(mktemp -d /tmp/htga-deff-XXXXXX)"
trap 'rm -rf "$data"' EXIT
/usr/bin/python3 "$root/bench/sample_deff_data.py" "$data" >/dev/null
deff="$build/bench/sample_deff"
echo "== $draws draws per design, run lengths ${lens[*]}, k rule sqrt"
for f in t3 pareto1.5 outer1 outer8 mlp-3.weight cnn-5.weight; do
    "$deff" "$data/$f.f32" 65536 "$draws" "${lens[@]}"
done
for f in t3 pareto1.5 outer1 outer8 mlp-3.weight cnn-5.weight mlp-1.weight cnn-2.weight; do
    "$deff" "$data/$f.f32" 4096 "$draws" "${lens[@]}"
done
