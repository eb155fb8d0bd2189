#!/usr/bin/python3
"""The evaluation of issue 6: HTGA against SGD, normalized SGD and gradient
clipping, with the real htgad estimating the gradient tails.

One command (from the repository root, after `meson compile -C build`):

    /usr/bin/python3 experiments/htga_eval.py --build build

It starts its own htgad (temporary directory, ipc:// endpoint), runs one
worker process per method (so each method's peak memory is its own), reads
the tail indices htgad stored, and writes results.json, PNG plots and the
tables of docs/experiments.md (between the results markers). `--short` runs
the smoke version the test suite uses (one seed, few steps, no tuning).
See experiments/README.md for what is measured and how.
"""

import argparse
import json
import math
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

METHODS = ["sgd", "nsgd", "clip", "htga"]
LR_GRID = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
CLIP_NORM = 1.0
SAMPLE_SIZE = 4096  # htga.torch.DEFAULT_SAMPLE_SIZE
PARAM_EVERY = 50
BLOCK_SAMPLES = 2048
FLAT_SIGMA = 0.05
FLAT_DRAWS = 5
CORPUS_DIR = "/usr/share/common-licenses"  # Debian's base-files: the character-level LM's text
CHAR_BLOCK = 512  # characters per block of the train/validation/test split
CHAR_CTX = 8  # characters of context the language model sees
CHAR_TRAIN_EVAL = 5000  # training positions for the train loss (gap) and flatness


# --------------------------------------------------------------------------
# tasks
def digits_tasks():
    return {
        "mlp-lowdata": dict(kind="digits", model="mlp", frac=0.1, corrupt=False),
        "cnn-lowdata": dict(kind="digits", model="cnn", frac=0.1, corrupt=False),
        "mlp-corrupt": dict(kind="digits", model="mlp", frac=1.0, corrupt=True),
        "cnn-corrupt": dict(kind="digits", model="cnn", frac=1.0, corrupt=True),
    }


def regression_tasks():
    return {f"linreg-nu{nu:g}": dict(kind="linreg", nu=nu) for nu in (1.1, 1.5, 2.0, 3.0, 30.0)}


def charlm_tasks():
    return {"charlm-mlp": dict(kind="charlm", model="char-mlp")}


def make_model(name, vocab=None):
    import torch.nn as nn

    if name == "char-mlp":
        return CharMLP(vocab)

    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "mlp-wide":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64, 10))
    if name == "linear":
        return nn.Linear(100, 1)
    raise ValueError(name)


def CharMLP(vocab, emb=16, hidden=128):
    """A tiny character-level language model (Bengio et al. 2003 style):
    the CHAR_CTX previous characters, each embedded, concatenated, one tanh
    hidden layer, logits of the next character; modules "emb", "hidden",
    "out" (htga groups per module)."""
    import torch.nn as nn

    class _CharMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, emb)
            self.hidden = nn.Linear(CHAR_CTX * emb, hidden)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, x):  # (B, CHAR_CTX) character ids -> (B, vocab) logits
            return self.out(self.hidden(self.emb(x).flatten(1)).tanh())

    return _CharMLP()


def read_corpus():
    """The text of Debian's license files (package base-files, on every
    Debian system), concatenated in name order; symbolic links (GPL ->
    GPL-3, ...) are left out so that no text appears twice."""
    if not os.path.isdir(CORPUS_DIR):
        sys.exit(f"{CORPUS_DIR} missing: the character-level LM reads Debian's license texts; "
                 "install them with `apt-get install -y base-files`")
    parts = []
    for name in sorted(os.listdir(CORPUS_DIR)):
        path = os.path.join(CORPUS_DIR, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
    text = "\n".join(parts)
    if len(text) < 100000:
        sys.exit(f"{CORPUS_DIR} holds only {len(text)} characters; expected Debian's base-files license "
                 "texts (about 250 kB): `apt-get install -y --reinstall base-files`")
    return text


def load_charlm(task, seed, limit=0):
    """Character ids of the corpus cut into blocks of CHAR_BLOCK characters,
    a fixed 10% of the blocks for test and 10% for validation, the rest for
    training (each split concatenated). Returns the training ids (batches
    are random positions in it), then validation, test and a fixed training
    subset as (x, y): every position's CHAR_CTX previous characters and the
    character itself; and the vocabulary size. The split does not depend on
    the seed. `limit` > 0 keeps that many validation and test positions,
    evenly spread (the smoke test); the training subset has CHAR_TRAIN_EVAL."""
    import numpy as np
    import torch

    text = read_corpus()
    vocab = sorted(set(text))
    codes = np.array([ord(c) for c in text], dtype=np.int64)
    lut = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    lut[[ord(c) for c in vocab]] = np.arange(len(vocab))
    ids = lut[codes]
    nblk = len(ids) // CHAR_BLOCK
    perm = np.random.default_rng(12345).permutation(nblk)
    ntest = nval = nblk // 10

    def cat(blocks):
        return torch.from_numpy(np.concatenate([ids[b * CHAR_BLOCK:(b + 1) * CHAR_BLOCK] for b in sorted(blocks)]))

    def examples(t, keep):
        x, y = t.unfold(0, CHAR_CTX, 1)[:-1], t[CHAR_CTX:]
        if 0 < keep < len(y):
            i = torch.arange(keep) * len(y) // keep
            x, y = x[i], y[i]
        return x, y

    train = cat(perm[ntest + nval:])
    return (train, examples(cat(perm[ntest:ntest + nval]), limit), examples(cat(perm[:ntest]), limit),
            examples(train, CHAR_TRAIN_EVAL), len(vocab))


def load_digits_split(task, seed):
    """Fixed test split (30%), then validation (300) and training from the
    rest; low-data keeps a fraction of the training part; corruption adds
    Student-t(1.5) pixel noise and 20% random labels to train and validation
    (the test set stays clean)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float32) / 16.0
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(12345).permutation(len(y))
    test, pool = perm[:540], perm[540:]
    rng = np.random.default_rng(seed)
    pool = rng.permutation(pool)
    val, train = pool[:300], pool[300:]
    train = train[: max(32, int(round(task["frac"] * len(train))))]
    mu, sd = x[train].mean(0), x[train].std(0) + 0.1

    def prep(idx, corrupt):
        xs, ys = (x[idx] - mu) / sd, y[idx].copy()
        if corrupt:
            xs = xs + 0.5 * rng.standard_t(1.5, size=xs.shape).astype(np.float32)
            flip = rng.random(len(ys)) < 0.2
            ys[flip] = rng.integers(0, 10, flip.sum())
        return torch.from_numpy(xs.reshape(-1, 1, 8, 8).astype(np.float32)), torch.from_numpy(ys)

    c = task["corrupt"]
    return prep(train, c), prep(val, c), prep(test, False)


def load_linreg(task, seed):
    """y = x.w* + noise, x ~ N(0, I_100), noise ~ Student-t(nu) (nu = tail
    index); 500 train, 300 validation (noisy), 2000 test (clean targets)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    w = rng.normal(size=100).astype(np.float32) / 10.0

    def draw(n, noisy):
        xs = rng.normal(size=(n, 100)).astype(np.float32)
        ys = xs @ w
        if noisy:
            ys = ys + 0.5 * rng.standard_t(task["nu"], size=n).astype(np.float32)
        return torch.from_numpy(xs), torch.from_numpy(ys.astype(np.float32)).unsqueeze(1)

    return draw(500, True), draw(300, True), draw(2000, False), torch.from_numpy(w)


# --------------------------------------------------------------------------
# one training run
def loss_fn(kind):
    import torch.nn.functional as F

    return {"digits": F.cross_entropy, "linreg": F.mse_loss, "charlm": F.cross_entropy}[kind]


def evaluate(model, kind, data):
    """Accuracy (digits), mean absolute error (regression), or mean
    cross-entropy in nats per character (language model)."""
    import torch

    x, y = data
    with torch.no_grad():
        out = model(x)
        if kind == "digits":
            return float((out.argmax(1) == y).float().mean())
        if kind == "charlm":
            return float(torch.nn.functional.cross_entropy(out, y))
        return float((out - y).abs().mean())  # mean absolute error


def char_eval(model, data):
    """(cross-entropy in nats per character, next-character accuracy)."""
    import torch

    x, y = data
    with torch.no_grad():
        out = model(x)
        return float(torch.nn.functional.cross_entropy(out, y)), float((out.argmax(-1) == y).float().mean())


def flatness(model, kind, data, gen):
    """Mean increase of the training loss when every tensor gets Gaussian
    noise of FLAT_SIGMA times its own RMS (FLAT_DRAWS draws)."""
    import torch

    lf = loss_fn(kind)
    x, y = data
    with torch.no_grad():
        base = float(lf(model(x), y))
        saved = [p.detach().clone() for p in model.parameters()]
        inc = []
        for _ in range(FLAT_DRAWS):
            for p, s in zip(model.parameters(), saved):
                rms = s.pow(2).mean().sqrt()
                p.copy_(s + FLAT_SIGMA * rms * torch.randn(s.shape, generator=gen))
            inc.append(float(lf(model(x), y)) - base)
        for p, s in zip(model.parameters(), saved):
            p.copy_(s)
    return sum(inc) / len(inc)


def train_run(task_name, task, method, lr, seed, steps, endpoint, run_name, monitor_on, full_eval=True,
              lm_eval=0):
    """One training run; full_eval=False (LR tuning) measures the validation
    score only."""
    import torch

    import htga
    import htga.torch as ht

    kind = task["kind"]
    vocab = None
    if kind == "digits":
        train, val, test = load_digits_split(task, seed)
        model_name = task["model"]
    elif kind == "charlm":
        train_ids, val, test, train, vocab = load_charlm(task, seed, lm_eval)
        model_name = task["model"]
    else:
        train, val, test, w_star = load_linreg(task, seed)
        model_name = "linear"
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = make_model(model_name, vocab)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=lr)
    lf = loss_fn(kind)
    client = monitor = None
    if method == "htga" or monitor_on:
        client = htga.Client(endpoint, run_name, connect_grace_ms=3000, seed=seed)
        # every step (no overhead budget): the method as published, and the
        # same number of samples for every run of the comparison
        monitor = ht.GradientMonitor(client, model, grouping="module", sample_size=SAMPLE_SIZE,
                                     param_every=PARAM_EVERY if monitor_on else 0, max_overhead=None)
    if method == "htga":
        opt = ht.HTGA(opt, client, monitor=monitor)
    bs = {"digits": 32, "linreg": 16, "charlm": 64}[kind]
    if kind == "charlm":  # random positions of the training text: their context and character
        span = torch.arange(CHAR_CTX + 1)

        def batch():
            w = train_ids[torch.randint(0, len(train_ids) - CHAR_CTX, (bs, 1), generator=gen) + span]
            return w[:, :-1], w[:, -1]
    else:
        xt, yt = train

        def batch():
            idx = torch.randint(0, len(yt), (bs,), generator=gen)
            return xt[idx], yt[idx]
    diverged = False
    lam_trace = []
    t0 = time.perf_counter()
    for step in range(steps):
        xb, yb = batch()
        opt.zero_grad()
        loss = lf(model(xb), yb)
        loss.backward()
        if not math.isfinite(float(loss)):
            diverged = True
            break
        if method == "htga":
            opt.step()  # sends through the monitor, then applies lambda
            if step % 10 == 0:
                lam_trace.append((step, dict(opt.last_lambdas)))
            continue
        if monitor is not None:
            monitor.send(step)  # the raw gradient, before normalizing or clipping
        if method == "nsgd":
            norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in params))
            for p in params:
                p.grad.div_(norm + 1e-12)
        elif method == "clip":
            torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
    elapsed = time.perf_counter() - t0
    done = step + 1
    if client is not None:
        client.flush(500)
        stats = client.stats()
        client.close()
    else:
        stats = None
    finite = all(torch.isfinite(p).all() for p in params)
    res = dict(task=task_name, method=method, lr=lr, seed=seed, steps=done, diverged=diverged or not finite,
               ms_per_step=1e3 * elapsed / max(done, 1), run=run_name, client_stats=stats, lambdas=lam_trace)
    if res["diverged"]:
        return res
    res["val"] = evaluate(model, kind, val)
    if not full_eval:
        return res
    if kind == "charlm":
        res["train"], res["train_acc"] = char_eval(model, train)
        res["test"], res["test_acc"] = char_eval(model, test)
    else:
        res["train"] = evaluate(model, kind, train)
        res["test"] = evaluate(model, kind, test)
    res["flat"] = flatness(model, kind, train, gen)
    if kind == "linreg":
        w = model.weight.detach().reshape(-1)
        res["w_err"] = float((w - w_star).norm() / w_star.norm())
    return res


def score(res, kind):
    """Validation score used for LR tuning (higher is better)."""
    if res["diverged"]:
        return -math.inf
    return res["val"] if kind == "digits" else -res["val"]  # MAE, cross-entropy: lower is better


def worker(args):
    """Runs every task for one method: LR tuning on seed 0 (one run per grid
    point, no monitor), then the seeds at the chosen LR with the monitor on
    (gradient and parameter tails go to htgad)."""
    import torch

    torch.set_num_threads(1)
    tasks = json.loads(args.tasks)
    out = []
    for name, task in tasks.items():
        steps = {"digits": args.steps, "linreg": args.reg_steps, "charlm": args.lm_steps}[task["kind"]]
        tuning = []
        grid = LR_GRID if args.tune else [args.lr]
        for lr in grid:
            if len(grid) == 1:
                break
            r = train_run(name, task, args.worker, lr, 0, steps, args.endpoint,
                          f"{args.tag}/tune/{name}/{args.worker}/lr{lr:g}", monitor_on=False, full_eval=False,
                          lm_eval=args.lm_eval)
            tuning.append({"lr": lr, "score": score(r, task["kind"])})
        best = max(tuning, key=lambda t: t["score"])["lr"] if tuning else grid[0]
        for seed in range(args.seeds):
            r = train_run(name, task, args.worker, best, 100 + seed, steps, args.endpoint,
                          f"{args.tag}/{name}/{args.worker}/s{seed}", monitor_on=True, lm_eval=args.lm_eval)
            r["tuning"] = tuning
            out.append(r)
            print(f"  {args.worker:5s} {name:14s} seed {seed} lr {best:g}: "
                  f"test {r.get('test', float('nan')):.4f} {r['ms_per_step']:.2f} ms/step", flush=True)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(args.out, "w") as f:
        json.dump({"method": args.worker, "peak_rss_mb": rss_kb / 1024, "runs": out}, f)


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


# --------------------------------------------------------------------------
# tail indices from htgad's database
def read_tails(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT run, group_name, block, step_last, alpha, lambda FROM estimates "
                       "ORDER BY run, group_name, block").fetchall()
    con.close()
    tails = {}
    for run, group, block, step, alpha, lam in rows:
        tails.setdefault(run, {}).setdefault(group, []).append((step, alpha, lam))
    return tails


def median(xs):
    xs = sorted(x for x in xs if x is not None and math.isfinite(x))
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def tail_summary(series):
    """(median gradient alpha over training, last parameter alpha), each the
    median over the run's groups."""
    grad = [median([a for _, a, _ in s]) for g, s in series.items() if not g.startswith("param/")]
    par = [s[-1][1] for g, s in series.items() if g.startswith("param/") and s]
    return median(grad), median(par)


# --------------------------------------------------------------------------
# report
def mean_sd(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def fmt(m, sd, digits=3, scale=1.0):
    if m is None:
        return "n/a"
    return f"{m * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def summarize(results, tails):
    rows = []
    by = {}
    for r in results["runs"]:
        by.setdefault((r["task"], r["method"]), []).append(r)
    for (task, method), runs in by.items():
        ok = [r for r in runs if not r["diverged"]]
        tl = [tail_summary(tails.get(r["run"], {})) for r in runs]
        row = dict(task=task, method=method, lr=runs[0]["lr"], seeds=len(runs), diverged=len(runs) - len(ok),
                   test=mean_sd([r["test"] for r in ok]), train=mean_sd([r["train"] for r in ok]),
                   gap=mean_sd([r["test"] - r["train"] if task.startswith("charlm") else r["train"] - r["test"]
                                for r in ok]),
                   test_acc=mean_sd([r.get("test_acc") for r in ok]), flat=mean_sd([r["flat"] for r in ok]),
                   w_err=mean_sd([r.get("w_err") for r in ok]),
                   alpha_grad=mean_sd([t[0] for t in tl]), alpha_param=mean_sd([t[1] for t in tl]),
                   ms=mean_sd([r["ms_per_step"] for r in runs]),
                   lam=mean_sd([median([v for _, d in r["lambdas"] for v in d.values()]) for r in ok
                                if r["lambdas"]]))
        rows.append(row)
    return rows


def plots(rows, results, tails, outdir, prefix):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    colors = dict(sgd="tab:blue", nsgd="tab:orange", clip="tab:green", htga="tab:red")
    dig = sorted({r["task"] for r in rows if r["task"].startswith(("mlp", "cnn"))})
    if dig:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        wdt = 0.8 / len(METHODS)
        for i, m in enumerate(METHODS):
            vals = [next((r for r in rows if r["task"] == t and r["method"] == m), None) for t in dig]
            ys = [v["test"][0] if v and v["test"][0] is not None else 0 for v in vals]
            es = [v["test"][1] if v and v["test"][1] is not None else 0 for v in vals]
            ax.bar([j + i * wdt for j in range(len(dig))], ys, wdt, yerr=es, label=m, color=colors[m])
        ax.set_xticks([j + 0.4 - wdt / 2 for j in range(len(dig))])
        ax.set_xticklabels(dig)
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel("test accuracy")
        ax.legend(ncol=4, fontsize=8)
        ax.set_title("digits: test accuracy (mean ± sd over seeds)")
        fig.tight_layout()
        files.append(f"{prefix}digits_accuracy.png")
        fig.savefig(os.path.join(outdir, files[-1]), dpi=100)
        plt.close(fig)
    reg = sorted({r["task"] for r in rows if r["task"].startswith("linreg")}, key=lambda t: float(t[9:]))
    if reg:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
        nus = [float(t[9:]) for t in reg]
        for m in METHODS:
            vals = [next((r for r in rows if r["task"] == t and r["method"] == m), None) for t in reg]
            ys = [v["w_err"][0] if v and v["w_err"][0] is not None else float("nan") for v in vals]
            ax[0].plot(nus, ys, "o-", label=m, color=colors[m])
            al = [v["alpha_grad"][0] if v and v["alpha_grad"][0] is not None else float("nan") for v in vals]
            ax[1].plot(nus, al, "o-", label=m, color=colors[m])
        for a in ax:
            a.set_xscale("log")
            a.set_xlabel("noise tail index nu (Student-t)")
        ax[0].set_yscale("log")
        ax[0].set_ylabel("||w - w*|| / ||w*||")
        ax[1].set_ylabel("gradient alpha from htgad (median)")
        ax[0].legend(fontsize=8)
        fig.suptitle("linear regression with heavy-tailed noise")
        fig.tight_layout()
        files.append(f"{prefix}linreg_sweep.png")
        fig.savefig(os.path.join(outdir, files[-1]), dpi=100)
        plt.close(fig)
    # alpha and lambda over training for one task, seed 0
    task = next((t for t in ("cnn-corrupt", "mlp-corrupt") if any(r["task"] == t for r in rows)), None)
    if task:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
        for m in METHODS:
            run = next((r for r in results["runs"] if r["task"] == task and r["method"] == m and r["seed"] == 100),
                       None)
            if not run:
                continue
            series = tails.get(run["run"], {})
            for gi, (g, s) in enumerate(sorted(series.items())):
                if g.startswith("param/"):
                    continue
                ax[0].plot([p[0] for p in s], [p[1] for p in s], color=colors[m], alpha=0.7, lw=1,
                           label=m if gi == 0 else None)
                if m == "htga":
                    ax[1].plot([p[0] for p in s], [p[2] for p in s], lw=1, label=g)
        ax[0].set_xlabel("step")
        ax[0].set_ylabel("Hill alpha per module (htgad)")
        ax[0].legend(fontsize=8)
        ax[1].set_xlabel("step")
        ax[1].set_ylabel("lambda pushed to HTGA")
        ax[1].legend(fontsize=7)
        fig.suptitle(f"{task}: gradient tail index and lambda over training (seed 0)")
        fig.tight_layout()
        files.append(f"{prefix}tails_{task}.png")
        fig.savefig(os.path.join(outdir, files[-1]), dpi=100)
        plt.close(fig)
    return files


def markdown(rows, results, ov, files, imgdir_rel, command, args, wall):
    L = []
    L.append(f"Command: `{command}`  ")
    L.append(f"Scale: {args.seeds} seed(s); digits {args.steps} steps, regression {args.reg_steps} steps, "
             f"character LM {args.lm_steps} steps, "
             f"batch 32 (digits) / 16 (regression) / 64 (LM); LR grid {LR_GRID if args.tune else [args.lr]} "
             f"({'tuned per method on seed 0, validation split' if args.tune else 'not tuned'}); "
             f"htgad --block-samples {BLOCK_SAMPLES}, default policy (linear:1, clamp [0.1, 10]); "
             f"monitor per module, {SAMPLE_SIZE} values per group per step, parameters every {PARAM_EVERY} steps. "
             f"Wall time {wall / 60:.1f} min on {os.cpu_count()} shared cores, torch threads 1.")
    L.append("")
    L.append("### Digits (accuracy; gap = train - test accuracy)")
    L.append("")
    L.append("| task | method | lr | test acc | gap | flatness (Δloss) | grad α | param α | mean λ | ms/step | diverged |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["task"], METHODS.index(r["method"]))):
        if not r["task"].startswith(("mlp", "cnn")):
            continue
        L.append(f"| {r['task']} | {r['method']} | {r['lr']:g} | {fmt(*r['test'])} | {fmt(*r['gap'])} | "
                 f"{fmt(*r['flat'])} | {fmt(*r['alpha_grad'], 2)} | {fmt(*r['alpha_param'], 2)} | "
                 f"{fmt(*r['lam'], 2)} | {fmt(*r['ms'], 2)} | {r['diverged']}/{r['seeds']} |")
    L.append("")
    L.append("### Linear regression, Student-t noise of tail index ν (w_err = ‖w − w*‖/‖w*‖; "
             "test = mean absolute error on clean targets)")
    L.append("")
    L.append("| task | method | lr | w_err | test MAE | flatness (Δloss) | grad α | mean λ | ms/step | diverged |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["task"], METHODS.index(r["method"]))):
        if not r["task"].startswith("linreg"):
            continue
        L.append(f"| {r['task']} | {r['method']} | {r['lr']:g} | {fmt(*r['w_err'])} | {fmt(*r['test'])} | "
                 f"{fmt(*r['flat'], 3)} | {fmt(*r['alpha_grad'], 2)} | {fmt(*r['lam'], 2)} | "
                 f"{fmt(*r['ms'], 2)} | {r['diverged']}/{r['seeds']} |")
    L.append("")
    lm = [r for r in rows if r["task"].startswith("charlm")]
    if lm:
        L.append(f"### Character-level language model (MLP over the {CHAR_CTX} previous characters, trained on "
                 f"Debian's license texts in {CORPUS_DIR}; test loss = cross-entropy in nats per character on "
                 "held-out blocks; gap = test − train loss; test acc = next character predicted)")
        L.append("")
        L.append("| task | method | lr | test loss | test acc | gap | flatness (Δloss) | grad α | param α | mean λ "
                 "| ms/step | diverged |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in sorted(lm, key=lambda r: (r["task"], METHODS.index(r["method"]))):
            L.append(f"| {r['task']} | {r['method']} | {r['lr']:g} | {fmt(*r['test'])} | {fmt(*r['test_acc'])} | "
                     f"{fmt(*r['gap'])} | {fmt(*r['flat'])} | {fmt(*r['alpha_grad'], 2)} | "
                     f"{fmt(*r['alpha_param'], 2)} | {fmt(*r['lam'], 2)} | {fmt(*r['ms'], 2)} | "
                     f"{r['diverged']}/{r['seeds']} |")
        L.append("")
    L.append("### Memory: peak RSS of each method's worker process (all tasks)")
    L.append("")
    L.append("| method | peak RSS (MB) |")
    L.append("|---|---:|")
    for m, mb in results["peak_rss_mb"].items():
        L.append(f"| {m} | {mb:.0f} |")
    L.append("")
    if ov:
        L += overhead_markdown(ov)
    for f in files:
        L.append(f"![{f}]({imgdir_rel}/{f})")
        L.append("")
    return "\n".join(L)


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


def write_doc(path, body):
    text = open(path).read() if os.path.exists(path) else f"# Experiments\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    a, rest = text.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(a + BEGIN + "\n" + body + "\n" + END + b)


def find_built(build, rel):
    p = os.path.join(build, rel)
    return p if os.path.exists(p) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory")
    ap.add_argument("--htgad", help="htgad binary (default: BUILD/daemon/htgad, env HTGAD)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results.json and plots")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "experiments.md"),
                    help="markdown file whose results section is rewritten ('' = none)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=500, help="training steps, digits")
    ap.add_argument("--reg-steps", type=int, default=300, help="training steps, regression")
    ap.add_argument("--lm-steps", type=int, default=500, help="training steps, character-level LM")
    ap.add_argument("--lm-eval", type=int, default=0,
                    help="character-level LM: validation/test positions kept (0 = all; --short: 2000)")
    ap.add_argument("--no-tune", dest="tune", action="store_false", help="use --lr for every method")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--tasks", default="all", help="comma-separated task names, or all")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--overhead-steps", type=int, default=250, help="overhead: steps per round and variant")
    ap.add_argument("--overhead-reps", type=int, default=8, help="overhead: rounds")
    ap.add_argument("--overhead-only", action="store_true",
                    help="only the overhead measurement: prints its table, writes overhead.json/.md "
                         "to --out, leaves --doc alone")
    ap.add_argument("--short", action="store_true",
                    help="smoke version: 1 seed, 30 steps, no tuning, 3 tasks, tiny overhead run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="eval", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    all_tasks = {**digits_tasks(), **regression_tasks(), **charlm_tasks()}
    if args.short:
        args.seeds, args.steps, args.reg_steps, args.lm_steps, args.tune = 1, 30, 30, 30, False
        args.lm_eval = args.lm_eval or 2000
        args.overhead_steps, args.overhead_reps = 10, 1
        if args.tasks == "all":
            args.tasks = "mlp-lowdata,cnn-corrupt,linreg-nu1.5,charlm-mlp"
    tasks = all_tasks if args.tasks == "all" else {t: all_tasks[t] for t in args.tasks.split(",")}
    methods = [] if args.overhead_only else args.methods.split(",")
    if methods and any(t["kind"] == "charlm" for t in tasks.values()):
        read_corpus()  # fails here, with the package to install, rather than in a worker
    htgad = args.htgad or os.environ.get("HTGAD") or find_built(args.build, "daemon/htgad")
    lib = os.environ.get("HTGA_LIBRARY") or find_built(args.build, "client/libhtga.so")
    if not htgad:
        sys.exit("htgad not found: build it (meson compile -C build) or pass --htgad")
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="htga-eval-")
    env = dict(os.environ)
    if lib:
        env["HTGA_LIBRARY"] = os.path.abspath(lib)
    os.environ.update(env)
    endpoint = "ipc://" + os.path.join(tmp, "htgad.sock")
    db = os.path.join(tmp, "htga.db")
    log = open(os.path.join(args.out, "htgad.log"), "w")
    daemon = subprocess.Popen([htgad, "--db", db, "--listen", endpoint, "--http", "off",
                               "--block-samples", str(BLOCK_SAMPLES), "--queue-blocks", "1024"],
                              stdout=log, stderr=subprocess.STDOUT)
    t_start = time.time()
    results = {"runs": [], "peak_rss_mb": {}}
    try:
        for _ in range(500):
            if os.path.exists(endpoint[6:]) or daemon.poll() is not None:
                break
            time.sleep(0.02)
        if daemon.poll() is not None:
            sys.exit(f"htgad exited at start (code {daemon.returncode}), see {log.name}")
        for m in methods:
            print(f"method {m}", flush=True)
            out = os.path.join(tmp, f"{m}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", m, "--endpoint", endpoint,
                   "--tasks", json.dumps(tasks), "--seeds", str(args.seeds), "--steps", str(args.steps),
                   "--reg-steps", str(args.reg_steps), "--lm-steps", str(args.lm_steps), "--lr", str(args.lr),
                   "--lm-eval", str(args.lm_eval), "--out", out]
            if not args.tune:
                cmd.append("--no-tune")
            subprocess.run(cmd, check=True, env=env)
            with open(out) as f:
                w = json.load(f)
            results["runs"] += w["runs"]
            results["peak_rss_mb"][m] = w["peak_rss_mb"]
        print("overhead", flush=True)
        load0 = os.getloadavg()
        ov = overhead(endpoint, args.overhead_steps, args.overhead_reps)
        load1 = os.getloadavg()
        for o in ov:
            o["loadavg"] = [load0[0], load1[0]]
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
    wall = time.time() - t_start
    command = "/usr/bin/python3 experiments/htga_eval.py " + " ".join(sys.argv[1:])
    if args.overhead_only:
        shutil.rmtree(tmp, ignore_errors=True)
        md = "\n".join([f"Command: `{command.strip()}`  ", f"Load average (1 min) {load0[0]:.2f} before, "
                        f"{load1[0]:.2f} after; {os.cpu_count()} cores; {wall / 60:.1f} min.", ""]
                       + overhead_markdown(ov))
        with open(os.path.join(args.out, "overhead.json"), "w") as f:
            json.dump({"args": vars(args), "overhead": ov, "wall_s": wall}, f, indent=1)
        with open(os.path.join(args.out, "overhead.md"), "w") as f:
            f.write(md + "\n")
        print(md)
        return 0
    tails = read_tails(db)
    shutil.rmtree(tmp, ignore_errors=True)
    rows = summarize(results, tails)
    prefix = "short_" if args.short else ""
    imgdir = args.out if not args.doc else os.path.join(os.path.dirname(args.doc), "img")
    os.makedirs(imgdir, exist_ok=True)
    files = plots(rows, results, tails, imgdir, prefix)
    with open(os.path.join(args.out, f"{prefix}results.json"), "w") as f:
        json.dump({"args": vars(args), "rows": rows, "overhead": ov, "peak_rss_mb": results["peak_rss_mb"],
                   "runs": [{k: v for k, v in r.items() if k != "lambdas"} for r in results["runs"]],
                   "tails_runs": sorted(tails), "wall_s": wall}, f, indent=1, default=str)
    with open(os.path.join(args.out, f"{prefix}raw.json"), "w") as f:  # big: every block, every lambda
        json.dump({"results": results, "tails": tails}, f, default=str)
    md = markdown(rows, results, ov, files, os.path.relpath(imgdir, os.path.dirname(args.doc or args.out + "/x")),
                  command.strip(), args, wall)
    if args.doc:
        write_doc(args.doc, md)
    else:
        with open(os.path.join(args.out, f"{prefix}results.md"), "w") as f:
            f.write(md + "\n")
    print(f"done in {wall / 60:.1f} min: {len(results['runs'])} runs, {len(tails)} runs with tails in htgad")
    return 0


if __name__ == "__main__":
    sys.exit(main())
