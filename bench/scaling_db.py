#!/usr/bin/python3
"""Database bytes per block, measured on a real htgad (bench/run-scaling.sh).

Sends GROUPS groups x STEPS steps of BLOCK Student-t(3) values through the
Python binding to an htgad with --block-samples BLOCK (one block per group
per step, as a trainer sending every step), waits until every block is
stored, stops htgad (SIGTERM: flush and checkpoint) and prints the database
size over the block count, against the size of the same database with no
block (the baseline measured in the same run).

Usage: scaling_db.py HTGAD LIBHTGA GROUPS STEPS BLOCK
"""

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python"))
import numpy as np  # noqa: E402


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(htgad, groups, steps, block, tmp, name):
    db = os.path.join(tmp, name + ".db")
    ep = f"tcp://127.0.0.1:{port()}"
    d = subprocess.Popen([htgad, "--db", db, "--listen", ep, "--http", "off", "--log-level", "error",
                          "--block-samples", str(block), "--queue-blocks", "4096", "--max-streams",
                          str(max(groups, 16))])
    import htga

    rng = np.random.default_rng(5)
    with htga.Client(ep, "scaling", connect_grace_ms=5000) as c:
        names = [f"layer{g}.weight" for g in range(groups)]
        for step in range(steps):
            for i in range(0, groups, 32):  # a step in slices, so no send meets a full pipe
                items = [(n, rng.standard_t(3, block).astype(np.float32)) for n in names[i:i + 32]]
                c.send_many(step, items)
                c.flush(5000)
        st = c.stats()
    want = groups * steps
    end = time.monotonic() + 120
    n = 0
    while time.monotonic() < end:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                n = con.execute("SELECT count(*) FROM blocks").fetchone()[0]
        except sqlite3.Error:
            n = 0
        if n >= want:
            break
        time.sleep(0.2)
    d.terminate()
    d.wait(timeout=60)
    return os.path.getsize(db), n, st["drops_queue"] + st["drops_offline"]


def main():
    htgad, lib = sys.argv[1], sys.argv[2]
    groups, steps, block = (int(a) for a in sys.argv[3:6])
    os.environ["HTGA_LIBRARY"] = lib
    with tempfile.TemporaryDirectory(prefix="htga-scaling-") as tmp:
        empty, _, _ = run(htgad, groups, 0, block, tmp, "empty")
        half, n_half, d1 = run(htgad, groups, steps // 2, block, tmp, "half")
        size, n, d2 = run(htgad, groups, steps, block, tmp, "full")
    # a group's fixed cost (its rows in runs/groups/policy, the latest block's
    # top order statistics for the Hill plot) is paid once: the growth per
    # block is the difference between the two runs
    print(f"db_empty_bytes {empty}")
    print(f"db_bytes {size}")
    print(f"db_blocks {n}")
    print(f"db_half_bytes {half}")
    print(f"db_half_blocks {n_half}")
    print(f"db_sends_dropped {d1 + d2}")
    print(f"db_bytes_per_block {(size - half) / max(n - n_half, 1):.1f}")
    print(f"db_bytes_per_group {(half - empty - (size - half) / max(n - n_half, 1) * n_half) / groups:.0f}")


if __name__ == "__main__":
    main()
