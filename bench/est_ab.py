#!/usr/bin/python3
"""Interleaved A/B timing of est_block: two est_bench binaries (a base build
and this one) on the same float32 files, in alternating rounds, because the
shared machine's speed moves between seconds.

Usage: est_ab.py BASE_EST_BENCH NEW_EST_BENCH ROUNDS REPS FILE... [-- ARGS]

Each round runs `est_bench FILE REPS ARGS` of both binaries, base first on
even rounds and new first on odd ones. Per file it prints the best CPU time
of each over all rounds (est_bench's own best of REPS), their ratio
(base / new: above 1 is faster), the median of the per-round ratios, and
whether the two agree on the estimates (median, alpha, k bit for bit;
moments and stable alpha to 1e-12 relative). ARGS default: sqrt 1024 1
(the k rule, the top 1024 and EST_TOP_ANY_ORDER, as htgad runs it).
"""
import json
import os
import statistics
import subprocess
import sys


def run(tool, path, reps, args):
    out = subprocess.run([tool, path, str(reps)] + args, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.splitlines()[0])


def main():
    argv = sys.argv[1:]
    args = ["sqrt", "1024", "1"]
    if "--" in argv:
        i = argv.index("--")
        argv, args = argv[:i], argv[i + 1:]
    base, new, rounds, reps, files = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4:]
    print(f"{'file':<22} {'n':>9} {'base us':>9} {'new us':>9} {'ratio':>6} "
          f"{'median':>6}  new Mvalues/s  agree")
    for f in files:
        b_best = n_best = float("inf")
        ratios = []
        for r in range(rounds):
            order = (base, new) if r % 2 == 0 else (new, base)
            res = {t: run(t, f, reps, args) for t in order}
            b, n = res[base], res[new]
            b_best, n_best = min(b_best, b["cpu_s"]), min(n_best, n["cpu_s"])
            ratios.append(b["cpu_s"] / n["cpu_s"])
        same = (b["median"] == n["median"] and b["alpha"] == n["alpha"] and b["k"] == n["k"])
        close = all(abs(b[k] - n[k]) <= 1e-12 * abs(b[k]) for k in ("mean", "variance", "kurtosis"))
        st = abs(b["stable_alpha"] - n["stable_alpha"]) <= 1e-12 * abs(b["stable_alpha"])
        agree = ("hill+median bit for bit" if same else "HILL/MEDIAN DIFFER") + \
            (", moments 1e-12" if close else ", MOMENTS DIFFER") + \
            (", stable 1e-12" if st else f", stable {b['stable_alpha']:.4f} -> {n['stable_alpha']:.4f}")
        print(f"{os.path.basename(f):<22} {n['n']:>9} {1e6 * b_best:>9.1f} {1e6 * n_best:>9.1f} "
              f"{b_best / n_best:>6.2f} {statistics.median(ratios):>6.2f}  "
              f"{n['n'] / n_best / 1e6:>13.0f}  {agree}")


if __name__ == "__main__":
    main()
