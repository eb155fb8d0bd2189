#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_wire (tests/fuzz/corpus/wire/).

Each file is: 1 byte frame count, then a u16 LE length before every frame but
the last, then the frame bytes (see fuzz_wire.c). Seeds cover every kind and
one crafted frame per decoder error code. Rerun after a wire format change."""
import os
import struct
import sys

MAGIC = 0x41475448


def header(kind, run=b"run", group=b"g", count=1, rank=0, step=5, seq=1, dropped=0,
           version=1, dtype=1, flags=0, reserved=0, run_len=None, group_len=None):
    rl = len(run) if run_len is None else run_len
    gl = len(group) if group_len is None else group_len
    return struct.pack("<IBBBBHHIqQIIQ", MAGIC, version, kind, dtype, flags, rl, gl, rank,
                       step, seq, count, reserved, dropped) + run + group


def lam(value=1.5, alpha=1.7, block=3, step=9, reason=0, flags=0):
    return struct.pack("<ddQqII", value, alpha, block, step, reason, flags)


def ack(msgs=3, values=24, refused=0, stored=2, lost=0, status=0, flags=0):
    return struct.pack("<QQQQQII", msgs, values, refused, stored, lost, status, flags)


def budget(values=4096, every=1, ranks=16, flags=0):
    return struct.pack("<IIII", values, every, ranks, flags)


def pack(*frames):
    out = bytes([len(frames)])
    for f in frames[:-1]:
        out += struct.pack("<H", len(f)) + f
    return out + (frames[-1] if frames else b"")


def floats(n):
    return struct.pack("<%df" % n, *[i * 0.25 - 1 for i in range(n)])


seeds = {
    "hello": pack(header(1, group=b"", count=0)),
    "samples": pack(header(2, b"run-a", b"layer.0.weight", count=8), floats(8)),
    "samples_utf8": pack(header(2, "r\u00e9".encode(), "\u65e5".encode(), count=2), floats(2)),
    "lambda": pack(header(3, count=1), lam()),
    "lambda_nan_alpha": pack(header(3, count=1), lam(alpha=float("nan"), reason=2)),
    # a refusal notice: LAMBDA with reason WIRE_REFUSED_PEER_RUNS, lambda 1, block 0
    "lambda_refused": pack(header(3, count=1), lam(value=1.0, alpha=float("nan"), block=0,
                                                   reason=65)),
    "err_frames": pack(header(2, count=2)),
    "err_short": pack(header(1, group=b"", count=0)[:20]),
    "err_magic": pack(b"XTGA" + header(1, group=b"", count=0)[4:]),
    "err_version": pack(header(1, group=b"", count=0, version=2)),
    "err_kind": pack(header(9, group=b"", count=0)),
    "err_dtype": pack(header(2, count=1, dtype=2), floats(1)),
    "err_flags": pack(header(2, count=1, flags=1), floats(1)),
    "err_reserved": pack(header(1, group=b"", count=0, reserved=1)),
    "err_reserved_lambda": pack(header(3, count=1, reserved=16), lam()),
    "samples_runs": pack(header(2, count=8, reserved=4), floats(8)),
    "samples_one_run": pack(header(2, count=8, reserved=8), floats(8)),
    "err_cluster": pack(header(2, count=2, reserved=3), floats(2)),
    "err_name_len": pack(header(2, count=1, run_len=0), floats(1)),
    "err_name_len_max": pack(header(2, b"x" * 129, count=1), floats(1)),
    "err_header_len": pack(header(2, count=1, run_len=4), floats(1)),
    "err_name_bytes": pack(header(2, b"a\x00b", count=1), floats(1)),
    "err_name_utf8": pack(header(2, b"a\xc0\xafb", count=1), floats(1)),
    "err_count": pack(header(2, count=0), b""),
    "err_count_max": pack(header(2, count=1048577), floats(1)),
    "err_body_len": pack(header(2, count=3), floats(2)),
    "err_value": pack(header(3, count=1), lam(value=float("inf"))),
    "hello_flow": pack(header(1, group=b"", count=0, step=1)),
    "barrier": pack(header(4, group=b"", count=0, step=77, seq=12)),
    "barrier_close": pack(header(4, group=b"", count=0, reserved=1)),
    "err_barrier_flags": pack(header(4, group=b"", count=0, reserved=2)),
    "err_barrier_group": pack(header(4, count=0)),
    "ack": pack(header(5, group=b"", count=1), ack()),
    "err_ack_flags": pack(header(5, group=b"", count=1), ack(flags=1)),
    "err_ack_len": pack(header(5, group=b"", count=1), ack()[:40]),
    "budget": pack(header(6, count=1), budget()),
    "budget_run": pack(header(6, group=b"", count=1), budget(values=1, every=65536)),
    "err_budget_values": pack(header(6, count=1), budget(values=0)),
    "err_budget_every": pack(header(6, count=1), budget(every=65537)),
    "err_budget_flags": pack(header(6, count=1), budget(flags=4)),
    "three_frames": pack(header(2, count=1), floats(1), b"extra"),
    "empty": bytes([0]),
}

outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "wire")
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
