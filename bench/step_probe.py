#!/usr/bin/python3
"""Where a monitored training step's time goes: per-thread CPU and wake-ups.

Trains the digits MLP (or --model cnn / mlp-wide) with a real htgad from
BUILD on a private ipc:// endpoint, in alternating blocks of --block steps:
plain SGD, and SGD + GradientMonitor (every step, or the variant named by
--variant). Per block it reads, for every thread of this process and of
htgad, the CPU time (/proc/<pid>/task/<tid>/schedstat, ns) and the context
switches, and prints per step and per variant: whole-step wall time, and
the CPU each thread spent (main = the trainer's thread; htga-io = libhtga's
I/O thread; ZMQbg/IO = ZeroMQ's I/O thread; omp = torch's intra-op
threads; htgad/* = the daemon's threads), as the difference between the
monitor's blocks and SGD's.

    /usr/bin/python3 bench/step_probe.py [--build build-bench] [--threads 1|2]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
sys.path.insert(0, os.path.join(ROOT, "experiments"))


def tasks(pid):
    out = {}
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"{base}/{tid}/schedstat") as f:
                run_ns, wait_ns, slices = (int(x) for x in f.read().split())
            with open(f"{base}/{tid}/status") as f:
                st = f.read()
            vol = int(st.split("voluntary_ctxt_switches:")[1].split()[0])
            invol = int(st.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        out[int(tid)] = (comm, run_ns, wait_ns, vol, invol)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--block", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--variant", default="monitor", help="monitor (every step) | default (budget) | bare | null")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--block-samples", type=int, default=2048, help="htgad's --block-samples (the evaluation's 2048)")
    args = ap.parse_args()
    os.environ["HTGA_LIBRARY"] = os.path.abspath(os.path.join(args.build, "client", "libhtga.so"))
    import torch

    import htga
    import htga.torch as ht
    from htga_eval import load_digits_split, make_model

    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="htga-probe-")
    endpoint = "ipc://" + os.path.join(tmp, "s")
    d = subprocess.Popen([os.path.join(args.build, "daemon", "htgad"), "--db", os.path.join(tmp, "d.db"),
                          "--listen", endpoint, "--http", "off", "--block-samples", str(args.block_samples),
                          "--queue-blocks", "1024", "--log-level", "error"])
    try:
        while not os.path.exists(endpoint[6:]):
            time.sleep(0.02)
        task = dict(kind="digits", model=None, frac=1.0, corrupt=False)
        (xt, yt), _, _ = load_digits_split(task, 0)
        torch.manual_seed(0)
        model = make_model(args.model)
        opt = torch.optim.SGD(model.parameters(), lr=0.001)
        # a torch parallel region first, so its threads exist before the client's
        model(xt[:32]).sum().backward()
        before = set(tasks(os.getpid()))
        client = htga.Client(endpoint, "probe", connect_grace_ms=3000)
        time.sleep(0.3)
        htga_tids = set(tasks(os.getpid())) - before
        budget = ht.DEFAULT_MAX_OVERHEAD if args.variant == "default" else None  # "default": the budget as shipped
        mon = ht.GradientMonitor(client, model, every=args.every, max_overhead=budget)
        raw = [(g.bname, g.params[0]) for g in mon.groups]
        send_fn = client._send_fn

        def bare(step, h=None):
            hh = client._h if h is None else h
            for b, p in raw:
                g = p.grad
                send_fn(hh, b, step, g.data_ptr(), g.numel())

        act = {"monitor": mon.send, "default": mon.send, "bare": bare, "null": lambda s: bare(s, 0)}[args.variant]
        gen = torch.Generator().manual_seed(0)
        me = os.getpid()

        def label(pid, tid, comm):
            if pid == d.pid:
                return "htgad/" + comm
            if tid == me:
                return "main"
            if tid in htga_tids:
                return comm if comm.startswith("ZMQ") else "htga-io"
            return "other:" + comm

        calls, cpu_calls = [], []
        wall = {0: [], 1: []}
        cpu = {0: {}, 1: {}}
        sw = {0: {}, 1: {}}
        step = 0
        for blk in range(args.blocks * 2 + 2):
            on = blk % 2
            s0 = {**{(me, t): v for t, v in tasks(me).items()}, **{(d.pid, t): v for t, v in tasks(d.pid).items()}}
            times = []
            for _ in range(args.block):
                t0 = time.perf_counter()
                idx = torch.randint(0, len(yt), (32,), generator=gen)
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                if on:
                    t1, c1 = time.perf_counter(), time.thread_time()
                    act(step)
                    if blk >= 2:
                        calls.append(time.perf_counter() - t1)
                        cpu_calls.append(time.thread_time() - c1)
                opt.step()
                times.append(time.perf_counter() - t0)
                step += 1
            s1 = {**{(me, t): v for t, v in tasks(me).items()}, **{(d.pid, t): v for t, v in tasks(d.pid).items()}}
            if blk < 2:
                continue
            wall[on].append(statistics.median(times))
            for k, v in s1.items():
                if k in s0:
                    lab = label(k[0], k[1], v[0])
                    cpu[on].setdefault(lab, []).append((v[1] - s0[k][1]) / args.block)
                    sw[on].setdefault(lab, []).append((v[3] + v[4] - s0[k][3] - s0[k][4]) / args.block)
        st = client.stats()
        client.close()
        la = " ".join(open("/proc/loadavg").read().split()[:3])
        w0, w1 = statistics.median(wall[0]), statistics.median(wall[1])
        ratios = [b / a - 1 for a, b in zip(wall[0], wall[1])]
        print(f"model {args.model}, torch threads {args.threads}, variant {args.variant}, load {la}; "
              f"sent {st['msgs_sent']} dropped {st['drops_queue'] + st['drops_offline']}")
        print(f"median step: sgd {1e6 * w0:.1f} us, {args.variant} {1e6 * w1:.1f} us: "
              f"{100 * statistics.median(ratios):+.1f}% [{100 * min(ratios):+.1f}, {100 * max(ratios):+.1f}]")
        print(f"send call: median {1e6 * statistics.median(calls):.1f} us, "
              f"p90 {1e6 * sorted(calls)[int(0.9 * len(calls))]:.1f} us; its thread CPU time: median "
              f"{1e6 * statistics.median(cpu_calls):.1f} us, mean {1e6 * statistics.mean(cpu_calls):.1f} us")
        print(f"{'thread':24s} {'sgd us/step':>12s} {args.variant + ' us/step':>16s} {'diff':>8s} "
              f"{'cs/step sgd':>12s} {'cs/step on':>11s}")
        for lab in sorted(set(cpu[0]) | set(cpu[1])):
            a = statistics.median(cpu[0].get(lab, [0])) / 1e3
            b = statistics.median(cpu[1].get(lab, [0])) / 1e3
            ca = statistics.median(sw[0].get(lab, [0]))
            cb = statistics.median(sw[1].get(lab, [0]))
            if a + b > 0.05 or ca + cb > 0.01:
                print(f"{lab:24s} {a:12.2f} {b:16.2f} {b - a:+8.2f} {ca:12.3f} {cb:11.3f}")
    finally:
        d.terminate()
        d.wait()


if __name__ == "__main__":
    main()
