#!/usr/bin/python3
"""The spread of the alpha-stable block estimate over draws, per true alpha.

Usage: stable_spread.py DRAWS N SHIFT HTGA [HTGA...]

For each alpha of 0.5 0.7 0.8 1.0 1.2 1.5 1.9, writes DRAWS blocks of N
symmetric alpha-stable values (Chambers-Mallows-Stuck, numpy, seeded by
alpha) shifted by SHIFT, runs `HTGA estimate --json --block N` of each
given htga binary on the same file, and prints the mean, SD, min and max of
the stable alpha over the draws. Two binaries (a base build and this one)
compare two conventions on identical data. Not a test: the measurement the
known-answer tolerances of tests/estimators/stable_test.c come from.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ALPHAS = (0.5, 0.7, 0.8, 1.0, 1.2, 1.5, 1.9)


def cms(rng, alpha, n):
    v = np.pi * (rng.uniform(size=n) - 0.5)
    w = -np.log(rng.uniform(size=n))
    if alpha == 1.0:
        return np.tan(v)
    return (np.sin(alpha * v) / np.cos(v) ** (1 / alpha) *
            (np.cos(v - alpha * v) / w) ** ((1 - alpha) / alpha))


def main():
    draws, n, shift = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    tools = sys.argv[4:]
    print(f"stable alpha over {draws} draws of {n} values shifted by {shift}: mean sd [min, max]")
    print("alpha  " + "  ".join(f"{os.path.relpath(t):>40}" for t in tools))
    with tempfile.TemporaryDirectory() as d:
        for a in ALPHAS:
            rng = np.random.default_rng(int(a * 1000))
            path = os.path.join(d, "x.f32")
            (shift + cms(rng, a, draws * n)).astype("<f4").tofile(path)
            cells = []
            for t in tools:
                out = subprocess.run([t, "estimate", "--json", "--block", str(n), path],
                                     check=True, capture_output=True, text=True).stdout
                v = np.array([json.loads(l)["stable"]["alpha"] for l in out.splitlines() if l])
                cells.append(f"{v.mean():.4f} {v.std(ddof=1):.4f} [{v.min():.3f}, {v.max():.3f}]")
            print(f"{a:<5}  " + "  ".join(f"{c:>40}" for c in cells))


if __name__ == "__main__":
    main()
