#!/usr/bin/python3
"""numpy baseline for bench/run-est.sh: the same block estimate as est_block.

Usage: est_numpy.py FILE.f32 [REPS]. Prints one JSON line like est_bench.
Written the way a numpy user would: median and partition on the float32
data, accumulations in float64 (as the C code does), one np.log per value.
"""
import json
import sys
import time

import numpy as np


def estimate(x):
    fin = np.isfinite(x)
    if not fin.all():
        x = x[fin]
    n = x.size
    med = np.median(x)
    xd = x.astype(np.float64)
    mean = xd.mean()
    c = xd - mean
    c2 = c * c
    m2 = c2.mean()
    var = c2.sum() / (n - 1)
    kurt = (c2 * c2).mean() / (m2 * m2) - 3.0
    y = np.abs(xd - med)
    y = y[y > 0]
    k = int(np.sqrt(y.size))
    part = np.partition(y, y.size - k - 1)[y.size - k - 1:]
    gamma = np.log(part[1:]).mean() - np.log(part[0])
    k1 = int(np.sqrt(n))
    k2 = n // k1
    cc = (xd - med)[: k1 * k2]  # the stable estimator centres on the median
    lc = np.log(np.abs(cc[cc != 0])).mean()
    ysum = cc.reshape(k2, k1).sum(axis=1)
    ly = np.log(np.abs(ysum[ysum != 0])).mean()
    stable = np.log(k1) / (ly - lc)
    return dict(median=float(med), mean=float(mean), variance=float(var),
                kurtosis=float(kurt), k=k, alpha=float(1.0 / gamma),
                stable_alpha=float(stable))


def main():
    path = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    x = np.fromfile(path, dtype="<f4")
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.thread_time()
        res = estimate(x)
        c1, w1 = time.thread_time(), time.perf_counter()
        best_wall = min(best_wall, w1 - w0)
        best_cpu = min(best_cpu, c1 - c0)
    res.update(n=int(x.size), wall_s=best_wall, cpu_s=best_cpu)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
