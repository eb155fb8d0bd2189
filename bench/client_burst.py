#!/usr/bin/env python3
"""The client's side of issue 12's burst: G=200 groups of N=65536 values,
one htga send_many() per step every P=250 ms for S steps (default 20, so
4000 messages), against a real htgad on default flags. Prints libhtga's
counters: every message must be sent (msgs_sent == offered) and the queue's
high-water mark stays under its 64 MiB bound. What htgad then does with the
blocks is the daemon's business (bench/README-*.md).

Run: /usr/bin/python3 bench/client_burst.py [BUILD (build-test)] [S (20)]
HTGA_LIBRARY=path/to/another/libhtga.so compares another library with the
same daemon.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build-test"))
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
os.environ.setdefault("HTGA_LIBRARY", os.path.join(build, "client", "libhtga.so"))
sys.path.insert(0, os.path.join(root, "client", "python"))

import numpy as np  # noqa: E402

import htga  # noqa: E402

G, N, P = 200, 65536, 0.25
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
tmp = tempfile.mkdtemp(prefix="htga-client-burst-")
d = subprocess.Popen([os.path.join(build, "daemon", "htgad"), "--db", os.path.join(tmp, "d.db"),
                      "--listen", f"tcp://127.0.0.1:{port}", "--http", "off", "--log-level", "error"])
try:
    rng = np.random.default_rng(0)
    grads = [rng.standard_t(2, size=N).astype(np.float32) for _ in range(8)]
    with htga.Client(f"tcp://127.0.0.1:{port}", "burst") as c:
        t0 = time.monotonic()
        for step in range(steps):
            c.send_many(step, [(f"l{g}", grads[g % 8]) for g in range(G)])
            time.sleep(max(0.0, t0 + (step + 1) * P - time.monotonic()))
        c.flush(10000)
        st = c.stats()
    print(f"libhtga {htga.library_path()}: {G * steps} messages offered")
    for k in ("offered", "sends", "msgs_sent", "drops_queue", "drops_offline", "drops_evicted",
              "queue_bytes_max"):
        print(f"  {k:16} {st.get(k, 0)}")
finally:
    d.terminate()
    d.wait()
