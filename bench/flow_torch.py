"""The README's PyTorch example on a default htgad (bench/run-flow.sh torch):
a 64-48-10 MLP trained 400 steps with HTGA(..., grouping="module") and the
default overhead budget. Prints, per module, its size, the steps it was sent,
the step its first block ended and the bound docs/daemon.md states
(max_interval * (ceil(1024 / n) + 1)), and whether its lambda came back.

Usage: /usr/bin/python3 bench/flow_torch.py ENDPOINT DB"""
import math
import sqlite3
import sys
import time

import torch
from torch import nn

import htga
from htga import torch as ht


def main():
    endpoint, db = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    sizes = {"0": 64 * 48 + 48, "2": 48 * 10 + 10}
    x, y = torch.randn(512, 64), torch.randint(0, 10, (512,))
    client = htga.Client(endpoint, "torch-readme", rank=0)
    opt = ht.HTGA(torch.optim.SGD(net.parameters(), lr=0.1), client, model=net, grouping="module")
    first = {}
    t0 = time.perf_counter()
    for step in range(400):
        i = torch.randint(0, 512, (32,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
        for g in sizes:
            if g not in first and client.lambda_get(g) is not None:
                first[g] = step
    wall = time.perf_counter() - t0
    client.flush(2000)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(client.lambda_get(g) is None for g in sizes):
        time.sleep(0.05)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    st = opt.monitor.stats()
    print(f"400 steps in {wall:.2f} s, {st['steps_sent']} sent, interval now {st['interval']}")
    for g, n in sizes.items():
        row = con.execute("SELECT min(step_last), count(*) FROM estimates WHERE run='torch-readme' "
                          "AND group_name=?", (g,)).fetchone()
        bound = ht.DEFAULT_MAX_INTERVAL * (math.ceil(1024 / n) + 1)
        print(f"module {g}: {n} values, blocks {row[1]}, first block ends at step {row[0]} "
              f"(bound {bound}), lambda seen by the trainer at step {first.get(g)}, "
              f"lambda now {'from htgad' if client.lambda_get(g) is not None else 'NONE'}")
    client.close()


if __name__ == "__main__":
    main()
