#!/usr/bin/env python3
"""Per-call cost of htga_send() in a trainer-like burst, through ctypes.

Starts htgad from BUILD (default build-bench) on a free loopback port, then
6000 times: spin 0.7 ms (a training step), send 4 groups (4096, 64, 640, 10
values, the digits MLP's parameters), alternately on the live handle and on
a NULL handle (htga_send returns at once: the baseline, the interpreter's
and ctypes' own cost, measured in the same run). Prints per-call medians
and p90 of both and libhtga's own share per burst. SMALL_FIRST=1 sends the
10 values first. MANY=1 sends each burst with one htga_send_many() call
(its time is reported as the first "call", the others as 0).
Run: /usr/bin/python3 bench/send_burst.py [BUILD]
"""
import ctypes
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
tmp = tempfile.mkdtemp(prefix="htga-burst-")
d = subprocess.Popen([os.path.join(build, "daemon", "htgad"), "--db", os.path.join(tmp, "d.db"),
                      "--listen", f"tcp://127.0.0.1:{port}", "--http", "off",
                      "--log-level", "error", "--block-samples", "2048"])
try:
    lib = ctypes.CDLL(os.path.join(build, "client", "libhtga.so"))
    lib.htga_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p]
    lib.htga_send.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p,
                              ctypes.c_size_t]
    lib.htga_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    many = bool(os.environ.get("MANY"))
    if many:
        lib.htga_send_many.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_void_p),
                                       ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_int)]
    h = ctypes.c_void_p()
    assert lib.htga_create(ctypes.byref(h), f"tcp://127.0.0.1:{port}".encode(), b"burst") == 0
    time.sleep(0.5)
    rng = np.random.default_rng(1)
    sizes = (10, 64, 640, 4096) if os.environ.get("SMALL_FIRST") else (4096, 64, 640, 10)
    xs = [rng.standard_t(3, n).astype(np.float32) for n in sizes]
    names = [b"w1", b"b1", b"w2", b"b2"]
    per = [[] for _ in xs]
    k = len(xs)
    m_names = (ctypes.c_char_p * k)(*names)
    m_ptrs = (ctypes.c_void_p * k)(*[x.ctypes.data for x in xs])
    m_ns = (ctypes.c_size_t * k)(*[x.size for x in xs])
    base = [[] for _ in xs]  # the same calls on a NULL handle: return at once
    for step in range(6000):
        end = time.perf_counter_ns() + 700_000
        while time.perf_counter_ns() < end:
            pass
        live = step % 2 == 0
        if many:
            t0 = time.perf_counter_ns()
            lib.htga_send_many(h if live else None, step, k, m_names, m_ptrs, m_ns, None)
            dt = time.perf_counter_ns() - t0
            for i in range(k):
                (per if live else base)[i].append(dt if i == 0 else 0)
            continue
        for i, x in enumerate(xs):
            t0 = time.perf_counter_ns()
            lib.htga_send(h if live else None, names[i], step, x.ctypes.data, x.size)
            (per if live else base)[i].append(time.perf_counter_ns() - t0)
    class Stats(ctypes.Structure):
        _fields_ = [(f, ctypes.c_uint64) for f in ("sends", "msgs_sent", "samples_sent",
                                                    "bytes_sent", "drops_queue", "drops_offline")]
    st = Stats()
    lib.htga_flush(h, 2000)
    lib.htga_stats_get(h, ctypes.byref(st), ctypes.sizeof(st))
    lib.htga_destroy(ctypes.byref(h))
    med = [statistics.median(p) / 1000 for p in per]
    p90 = [sorted(p)[int(0.9 * len(p))] / 1000 for p in per]
    bmed = [statistics.median(p) / 1000 for p in base]
    print("load %s, sends %d, shipped %d, dropped %d" % (
        " ".join(open("/proc/loadavg").read().split()[:3]), st.sends, st.msgs_sent,
        st.drops_queue + st.drops_offline))
    print("median us per call in the burst, live handle:", " ".join("%.1f" % m for m in med))
    print("p90 us per call in the burst, live handle:   ", " ".join("%.1f" % m for m in p90))
    print("median us per call, NULL handle (baseline):  ", " ".join("%.1f" % m for m in bmed))
    print("libhtga's own share per burst: %.1f us (live %.1f - baseline %.1f)" % (
        sum(med) - sum(bmed), sum(med), sum(bmed)))
finally:
    d.terminate()
    d.wait()
