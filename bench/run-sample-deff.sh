#!/usr/bin/env bash
# The design effect of libhtga's run sampling (HTGA_OPT_SAMPLE_CLUSTER), one
# command: writes the data sets (iid Student-t(3) and Pareto, a synthetic
# row-correlated gradient, real PyTorch gradients of an MLP and a CNN on
# sklearn's digits; bench/sample_deff_data.py, needs numpy, torch, sklearn),
# then for each draws DRAWS subsamples as htga_send does, per value and in
# runs, estimates each as htgad does and prints the spread (SD over draws)
# of alpha, log variance and kurtosis, and its ratio to one value per
# stratum. See bench/README-ingest.md, "Run sampling".
# Then the calibration of the interval htgad reports for runs against fresh
# draws (bench/runs_calib.c): models iid, shared and repeat, blocks of 4096
# and 65536 values, every run length from 1 to the block (1 to 4096 runs),
# and the same ratios once more ordered by the runs holding the tail.
# Usage: bench/run-sample-deff.sh [DRAWS (2000)] [LEN... (1 16 32)]
# RUNS_CALIB_ONLY=1 skips the first part (no torch needed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"
draws="${1:-2000}"
shift || true
lens=("${@:-}")
[ -n "${lens[0]}" ] || lens=(1 16 32)
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release -Dtests=false >/dev/null
meson compile -C "$build" -j2 >/dev/null
calib() {
    echo "== interval calibration against fresh draws ($draws per run length, k rule sqrt)"
    local out
    out="$(mktemp /tmp/htga-calib-XXXXXX)"
    for model in iid shared repeat; do
        "$build/bench/runs_calib" "$model" 4096 "$draws" 1 2 4 8 16 32 64 128 256 512 1024 2048 4096
        "$build/bench/runs_calib" "$model" 65536 $((draws / 4 > 2 ? draws / 4 : 2)) \
            1 4 16 64 256 1024 4096
    done | tee "$out"
    # the same rows by the number of runs holding the k exceedances (G exc,
    # mean over draws), the quantity the SE's small-sample behaviour follows
    echo "== se/sd by runs holding the tail (goal 0.9-1.1; +- one Monte-Carlo SE)"
    awk '/^model/ { model = $2; sub(",", "", model); m = $5 }
         $1 ~ /^[0-9]+$/ { printf "%8.1f %-7s %6s %5s %7s %6s %4s %7s\n", $3, model, m, $1, $7, $8, $9, $13 }' \
        "$out" | sort -n | awk 'BEGIN { printf "%8s %-7s %6s %5s %7s %6s %4s %7s\n",
        "G exc", "model", "m", "L", "se/sd", "+-", "goal", "cover" } { print }'
    rm -f "$out"
}
if [ -n "${RUNS_CALIB_ONLY:-}" ]; then
    calib
    exit 0
fi
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
calib
