#!/usr/bin/python3
"""The monitor's overhead on the tiny digits models, step by step: plain SGD
against SGD + GradientMonitor sending every step and every 10th, the HTGA
wrapper, bare htga_send() calls, and the defaults (the max_overhead budget).
The measurement behind the tables of docs/python.md; htga_eval.py
--overhead-only runs it (prints the table, writes overhead.json and
overhead.md to --out). The overhead on a model with >= 10 ms steps, with
peak memory, is part of htga_eval.py's full run."""

import time

from htga_eval import load_digits_split, make_model as _make_model, median


def make_model(name):
    import torch.nn as nn

    if name == "mlp-wide":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return _make_model(name)


# --------------------------------------------------------------------------
# overhead: time per step with and without the monitor
def step_cost(times, sent):
    """Mean step time estimated robustly: the steps that sent and those that
    did not are two populations (every=k sends on one step in k); each
    one's median, weighted by its share of the steps. For every-step
    sending (or none) this is the plain median."""
    on = [t for t, s in zip(times, sent) if s]
    off = [t for t, s in zip(times, sent) if not s]
    share = len(on) / len(times)
    return (median(on) if on else 0.0) * share + (median(off) if off else 0.0) * (1 - share)


def spread(xs):
    """(median, min, max) of per-round values."""
    return median(xs), min(xs), max(xs)


def overhead(endpoint, steps, reps, models=("mlp", "cnn", "mlp-wide")):
    """Per-step wall time of SGD alone, SGD + monitor sending every step
    (max_overhead=None) and every 10th, the HTGA wrapper sending every step,
    and SGD + the bare htga_send() calls of the monitor's groups (one ctypes
    call per group on the gradient in place, no monitor: what libhtga alone
    costs). The variants share one model and
    take turns step by step, so the shared machine's noise hits them alike,
    in `reps` rounds of `steps` steps each; per round, a variant's step time
    is the median whole step (training, sending, optimizer; the every=10
    monitor's sending and quiet steps weighted by their shares, see
    step_cost), and its overhead the ratio to SGD's in the same round.
    Reported: the median over rounds and the min..max range. The defaults
    (GradientMonitor(client, model) and HTGA(opt, client, model=model), i.e.
    the max_overhead=0.01 budget) time the gap between their own calls, so
    they run in blocks of 25 steps taking turns with plain SGD blocks
    instead; their share of steps sent is reported with them."""
    import torch

    import htga
    import htga.torch as ht

    torch.set_num_threads(1)
    out = []
    task = dict(kind="digits", model=None, frac=1.0, corrupt=False)
    (xt, yt), _, _ = load_digits_split(task, 0)
    for model_name in models:
        torch.manual_seed(0)
        model = make_model(model_name)
        nparams = sum(p.numel() for p in model.parameters())
        opt = torch.optim.SGD(model.parameters(), lr=0.001)
        client = htga.Client(endpoint, f"overhead/{model_name}", connect_grace_ms=3000)
        mon = ht.GradientMonitor(client, model, max_overhead=None)
        mon10 = ht.GradientMonitor(client, model, every=10, max_overhead=None)
        wrapper = ht.HTGA(torch.optim.SGD(model.parameters(), lr=0.001), client, model=model, max_overhead=None)
        raw = [(g.bname, g.params[0]) for g in mon.groups]  # per parameter: one tensor per group
        send_fn = client._send_fn

        def bare_sends(step):
            h = client._h
            for b, p in raw:
                g = p.grad
                send_fn(h, b, step, g.data_ptr(), g.numel())
            return len(raw)

        variants = {"sgd": (opt, None), "monitor": (opt, mon.send), "monitor10": (opt, mon10.send),
                    "htga": (wrapper, None), "htga_send": (opt, bare_sends)}
        names = list(variants)
        warm = 30
        times = {k: [] for k in names}  # whole step (ms)
        sent = {k: [] for k in names}  # did the step send
        calls = []  # duration of the every-step monitor's send() (us)
        gen = torch.Generator().manual_seed(0)
        for i in range(len(names) * (warm + steps * reps)):
            k = names[i % len(names)]
            o, action = variants[k]
            step = i // len(names)
            t0 = time.perf_counter()
            idx = torch.randint(0, len(yt), (32,), generator=gen)
            o.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            n = 0
            if action is not None:
                t1 = time.perf_counter()
                n = action(step)
                if k == "monitor" and step >= warm:
                    calls.append(1e6 * (time.perf_counter() - t1))
            elif k == "htga":
                n = 1
            o.step()
            if step >= warm:
                times[k].append(1e3 * (time.perf_counter() - t0))
                sent[k].append(bool(n))
        rounds = {k: [] for k in names}
        for r in range(reps):
            sl = slice(r * steps, (r + 1) * steps)
            for k in names:
                rounds[k].append(step_cost(times[k][sl], sent[k][sl]))
        ov = {k: spread([a / b - 1 for a, b in zip(rounds[k], rounds["sgd"])]) for k in names}
        ms = {k: step_cost(times[k], sent[k]) for k in names}
        # the defaults (overhead budget), in blocks of 25 steps taking turns
        # with plain SGD: sgd, default monitor, sgd, default HTGA wrapper, ...
        budget = ht.GradientMonitor(client, model)
        bwrap = ht.HTGA(torch.optim.SGD(model.parameters(), lr=0.001), client, model=model)
        kinds = ("sgd", "default", "sgd", "default_htga")
        b_time = {k: [] for k in kinds}
        b_sent = {k: [] for k in kinds}
        b_step = {"default": 0, "default_htga": 0}
        nblk = 4 * max(2, steps * reps // 50)
        for blk in range(nblk + 4):
            kind = kinds[blk % 4]
            o = bwrap if kind == "default_htga" else opt
            for j in range(25):
                t0 = time.perf_counter()
                idx = torch.randint(0, len(yt), (32,), generator=gen)
                o.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                n = 0
                if kind == "default":  # its own steps, numbered without gaps
                    n = budget.send(b_step[kind])
                    b_step[kind] += 1
                elif kind == "default_htga":
                    before = bwrap.monitor.steps_sent
                    o.step()
                    n = bwrap.monitor.steps_sent - before
                if kind != "default_htga":
                    o.step()
                if blk >= 4:
                    b_time[kind].append(1e3 * (time.perf_counter() - t0))
                    b_sent[kind].append(bool(n))
        b_round = {"default": [], "default_htga": []}
        per = len(b_time["default"]) // reps  # rounds of equal numbers of blocks
        for r in range(reps):
            sl = slice(r * per, (r + 1) * per)
            sl2 = slice(2 * r * per, 2 * (r + 1) * per)
            base = step_cost(b_time["sgd"][sl2], b_sent["sgd"][sl2])
            for k in b_round:
                b_round[k].append(step_cost(b_time[k][sl], b_sent[k][sl]) / base - 1)
        client.close()
        res = dict(model=model_name, params=nparams, groups=len(mon.groups), rounds=reps, steps_per_round=steps,
                   ms_sgd=ms["sgd"], ms=ms, overhead={k: ov[k] for k in names if k != "sgd"},
                   budget_overhead=spread(b_round["default"]), budget_interval=budget.interval,
                   budget_sent_share=budget.steps_sent / max(1, budget.steps_seen),
                   budget_htga_overhead=spread(b_round["default_htga"]),
                   budget_htga_sent_share=bwrap.monitor.steps_sent / max(1, bwrap.monitor.steps_seen),
                   send_us=median(calls), send_share=median(calls) / (1e3 * ms["sgd"]))
        out.append(res)
        o = res["overhead"]
        print(f"  overhead {model_name}: sgd {ms['sgd']:.3f} ms; " + ", ".join(
            f"{k} {100 * o[k][0]:+.1f}% [{100 * o[k][1]:+.1f}, {100 * o[k][2]:+.1f}]" for k in o) +
            f"; default {100 * res['budget_overhead'][0]:+.1f}% (interval {budget.interval}, "
            f"{100 * res['budget_sent_share']:.0f}% of steps sent), default HTGA "
            f"{100 * res['budget_htga_overhead'][0]:+.1f}%; "
            f"send() {res['send_us']:.1f} us", flush=True)
    return out




def overhead_markdown(ov):
    o0 = ov[0]
    L = ["### Overhead: time per step with and without the monitor (digits, batch 32, torch 1 thread; "
         f"every-step variants take turns step by step on one model, {o0['rounds']} rounds of "
         f"{o0['steps_per_round']} steps each; per round a variant's time is the median whole step (every=10: "
         "its sending and quiet steps' medians weighted by their shares) and its overhead the ratio to plain "
         "SGD's in the same round; shown: median over rounds [min, max]. Monitor: per parameter, 4096 values "
         "per group. htga_send() alone: SGD plus one bare ctypes htga_send() per group on the gradient in "
         "place, i.e. libhtga's share. send() = median duration of the every-step monitor's send() call, and "
         "as a share of the SGD step. Defaults: GradientMonitor(client, model) and HTGA(opt, client, "
         "model=model) as they come (the default max_overhead=0.01 budget), in blocks of 25 steps taking turns with plain "
         "SGD blocks; (interval, sent) = the monitor's final send interval and the share of steps it sent)", ""]

    def pct(t):
        return f"{100 * t[0]:+.1f}% [{100 * t[1]:+.1f}, {100 * t[2]:+.1f}]"

    L.append("| model | params | groups | SGD ms/step | every step: + monitor | every step: HTGA wrapper | "
             "every step: htga_send() alone | + monitor every 10 | send() µs | send() / SGD step | "
             "default: + monitor (interval, sent) | default: HTGA wrapper (sent) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for o in ov:
        v = o["overhead"]
        L.append(f"| {o['model']} | {o['params']} | {o['groups']} | {o['ms_sgd']:.3f} | {pct(v['monitor'])} | "
                 f"{pct(v['htga'])} | {pct(v['htga_send'])} | {pct(v['monitor10'])} | {o['send_us']:.1f} | "
                 f"{100 * o['send_share']:.1f}% | {pct(o['budget_overhead'])} ({o['budget_interval']}, "
                 f"{100 * o['budget_sent_share']:.0f}%) | {pct(o['budget_htga_overhead'])} "
                 f"({100 * o['budget_htga_sent_share']:.0f}%) |")
    L.append("")
    return L


BEGIN, END = "<!-- results:begin (written by experiments/htga_eval.py) -->", "<!-- results:end -->"

