#!/usr/bin/python3
"""The evaluation of issues 6 and 15: HTGA (each parameter group's update
scaled by the lambda htgad derives from the group's gradient tail index)
against SGD, momentum SGD, normalized SGD (with and without momentum) and
gradient clipping with a tuned threshold, with paired seeds, the real htgad
estimating the tails, several lambda policies, a small transformer, a
2-4-rank torch.distributed run and the overhead on a model with >= 10 ms steps.

One command (from the repository root, after `meson compile -C build`):

    nice -n 10 /usr/bin/python3 experiments/htga_eval.py --build build

It starts its own htgad daemons (one per lambda policy, temporary directory,
ipc:// endpoints, HTTP on free loopback ports), runs the jobs in a pool of
worker processes, reads the estimates back from htgad (the `estimates` view
and the REST API), and writes results.json, PNG plots and the part of
docs/experiments.md between the results markers. `--short` is the smoke
version the test suite runs. See experiments/README.md.
"""

import argparse
import json
import math
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

# --------------------------------------------------------------------------
# methods
BASELINES = ["sgd", "msgd", "nsgd", "mnsgd", "clip"]
POLICIES = {"lin1": "linear:1", "pow1.5": "power:1.5", "pow2": "power:2", "pow3": "power:3"}
EMA = 0.9  # "with EMA": weight kept from the previous lambda
MOMENTUM = 0.9
ALPHA_REF = 3.0  # the tail index at which a policy's lambda defines its effective step
LAMBDA_MIN, LAMBDA_MAX = 1e-3, 1e3  # clamp, wide so that no policy sits on it
CLIP_FACTORS = [0.25, 1.0, 4.0]  # clipping thresholds, times the median initial gradient norm


def htga_methods():
    return [f"htga-{p}{'-ema' if e else ''}{'-m' if m else ''}" for m in (0, 1) for p in POLICIES for e in (0, 1)]


ALL_METHODS = BASELINES + htga_methods()


def spec(method):
    """momentum, gradient transform (None, 'norm', 'clip'), policy key, ema."""
    if method.startswith("htga-"):
        parts = method.split("-")[1:]
        return dict(mom=MOMENTUM if "m" in parts else 0.0, tr=None, pol=parts[0], ema=EMA if "ema" in parts else 0.0)
    return dict(mom=MOMENTUM if method in ("msgd", "mnsgd") else 0.0,
                tr={"nsgd": "norm", "mnsgd": "norm", "clip": "clip"}.get(method), pol=None, ema=0.0)


def policy_lambda(pol, alpha=ALPHA_REF):
    kind, v = POLICIES[pol].split(":")
    lam = float(v) * alpha if kind == "linear" else alpha ** -float(v)
    return min(max(lam, LAMBDA_MIN), LAMBDA_MAX)


def daemon_key(method):
    s = spec(method)
    return f"{s['pol']}-ema{s['ema']:g}" if s["pol"] else "lin1-ema0"


# --------------------------------------------------------------------------
# tasks
SAMPLE_SIZE = 512  # values per group per step sent to htgad
BLOCK_SAMPLES = 2048
PARAM_EVERY = 25
HESS_ITERS = 30  # at most this many Hessian-vector products per run
HESS_TOL = 1e-3  # power iteration stops when the Rayleigh quotient moves less than this, relatively
NOISE_SIGMA, NOISE_DRAWS = 0.05, 5  # the weight-noise proxy: noise of 5% of each tensor's RMS, 5 draws
CORPUS_DIR = "/usr/share/common-licenses"  # Debian's base-files: the character-level LM's text
CHAR_BLOCK = 512  # characters per block of the train/validation/test split
CHAR_CTX = 8  # characters of context the MLP language model sees
TF = dict(ctx=16, d=32, heads=2, layers=1)  # the transformer of the task charlm-tf
TF_BIG = dict(ctx=32, d=32, heads=2, layers=2)  # the overhead measurement's model (>= 10 ms steps)
CHAR_TRAIN_EVAL = 5000  # training positions for the train loss (gap) and sharpness

TASKS = {
    "mlp-lowdata": dict(kind="digits", model="mlp", frac=0.1, corrupt=False, bs=32, centre=0.1),
    "mlp-corrupt": dict(kind="digits", model="mlp", frac=1.0, corrupt=True, bs=32, centre=0.03),
    "cnn-lowdata": dict(kind="digits", model="cnn", frac=0.1, corrupt=False, bs=32, centre=0.1),
    "cnn-corrupt": dict(kind="digits", model="cnn", frac=1.0, corrupt=True, bs=32, centre=0.03),
    "linreg-nu1.5": dict(kind="linreg", nu=1.5, bs=16, centre=0.01),
    "linreg-nu30": dict(kind="linreg", nu=30.0, bs=16, centre=0.01),
    "charlm-mlp": dict(kind="charlm", model="char-mlp", bs=64, centre=1.0),
    "charlm-tf": dict(kind="charlm", model="char-tf", bs=16, centre=1.0),
}
DEFAULT_TASKS = ["mlp-lowdata", "mlp-corrupt", "linreg-nu1.5", "charlm-mlp", "charlm-tf"]


def lower_better(task):
    return TASKS[task]["kind"] != "digits"


def make_model(name, vocab=None, tf=None):
    import torch.nn as nn

    if name == "char-mlp":
        return CharMLP(vocab)
    if name == "char-tf":
        return CharTF(vocab, **(tf or TF))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64, 10))
    if name == "linear":
        return nn.Linear(100, 1)
    raise ValueError(name)


def CharMLP(vocab, emb=16, hidden=128):
    """The CHAR_CTX previous characters, each embedded, concatenated, one
    tanh hidden layer, logits of the next character (Bengio et al. 2003)."""
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


def CharTF(vocab, ctx, d, heads, layers):
    """A small decoder-only transformer (pre-LayerNorm, causal attention
    written out so that double backward works for the Hessian): token and
    position embeddings, `layers` blocks of attention and a 4d MLP, logits
    of the next character at every position."""
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x, mask):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d // heads)
            att = att.masked_fill(mask[:t, :t], float("-inf")).softmax(-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
            return x + self.ff2(torch.nn.functional.gelu(self.ff1(self.ln2(x))))

    class _CharTF(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln, self.out = nn.LayerNorm(d), nn.Linear(d, vocab)
            self.register_buffer("mask", torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), 1), persistent=False)

        def forward(self, x):  # (B, T) ids -> (B, T, vocab) logits
            h = self.emb(x) + self.pos.weight[: x.shape[1]]
            for blk in self.blocks:
                h = blk(h, self.mask)
            return self.out(self.ln(h))

    return _CharTF()


def read_corpus():
    """Debian's license texts (package base-files), concatenated in name
    order; symbolic links (GPL -> GPL-3, ...) left out."""
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


_CORPUS = {}


def load_charlm(task, limit=0):
    """Character ids cut into blocks of CHAR_BLOCK characters, a fixed 10%
    of the blocks for test and 10% for validation, the rest for training
    (the split does not depend on the seed). Returns the training ids and
    (x, y) examples of validation, test and a fixed training subset: for
    the MLP every position's CHAR_CTX previous characters and the character;
    for the transformer non-overlapping windows of TF['ctx'] characters and
    the next character at each position. `limit` > 0 keeps that many
    positions (or windows), evenly spread; the training subset has
    CHAR_TRAIN_EVAL positions."""
    import numpy as np
    import torch

    if "ids" not in _CORPUS:
        text = read_corpus()
        vocab = sorted(set(text))
        codes = np.array([ord(c) for c in text], dtype=np.int64)
        lut = np.zeros(int(codes.max()) + 1, dtype=np.int64)
        lut[[ord(c) for c in vocab]] = np.arange(len(vocab))
        _CORPUS["ids"], _CORPUS["vocab"] = lut[codes], len(vocab)
    ids = _CORPUS["ids"]
    nblk = len(ids) // CHAR_BLOCK
    perm = np.random.default_rng(12345).permutation(nblk)
    ntest = nval = nblk // 10

    def cat(blocks):
        return torch.from_numpy(np.concatenate([ids[b * CHAR_BLOCK:(b + 1) * CHAR_BLOCK] for b in sorted(blocks)]))

    def keep(x, y, n):
        if 0 < n < len(y):
            i = torch.arange(n) * len(y) // n
            x, y = x[i], y[i]
        return x, y

    def examples(t, n):
        if task["model"] == "char-tf":
            c = TF["ctx"]
            w = t[: (len(t) - 1) // c * c + 1]
            x, y = w[:-1].view(-1, c), w[1:].view(-1, c)
            return keep(x, y, n // c if n else 0)
        return keep(t.unfold(0, CHAR_CTX, 1)[:-1], t[CHAR_CTX:], n)

    train = cat(perm[ntest + nval:])
    return (train, examples(cat(perm[ntest:ntest + nval]), limit), examples(cat(perm[:ntest]), limit),
            examples(train, CHAR_TRAIN_EVAL), _CORPUS["vocab"])


def load_digits_split(task, seed):
    """Fixed test split (540), then validation (300) and training from the
    rest (the split depends on the seed); low-data keeps a fraction of the
    training part; corruption adds Student-t(1.5) pixel noise and 20% random
    labels to train and validation (the test set stays clean)."""
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
    """y = x.w* + noise, x ~ N(0, I_100), noise ~ Student-t(nu); 500 train,
    300 validation (noisy), 2000 test (clean targets)."""
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

    if kind == "charlm":
        return lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return {"digits": F.cross_entropy, "linreg": F.mse_loss}[kind]


def measure(model, kind, data):
    """(score, accuracy): accuracy and accuracy (digits), mean absolute
    error and None (regression), cross-entropy in nats per character and
    next-character accuracy (language model)."""
    import torch

    x, y = data
    with torch.no_grad():
        out = torch.cat([model(x[i:i + 1024]) for i in range(0, len(x), 1024)])
        if kind == "digits":
            acc = float((out.argmax(1) == y).float().mean())
            return acc, acc
        if kind == "charlm":
            return float(loss_fn(kind)(out, y)), float((out.argmax(-1) == y).float().mean())
        return float((out - y).abs().mean()), None


def top_hessian_eig(model, lf, data, gen, iters=HESS_ITERS, tol=HESS_TOL):
    """Top (largest algebraic) eigenvalue of the training loss's Hessian
    on the fixed batch `data`, by power iteration on Hessian-vector
    products (double backward through torch.autograd): at most `iters`
    products, stopped once the Rayleigh quotient changes by less than `tol`
    relative to itself. Power iteration finds the eigenvalue of largest
    magnitude; when that one is negative, a second pass on H - mu I (mu that
    eigenvalue, so every eigenvalue of the shifted matrix is >= 0) finds the
    top one. Returns (eigenvalue, products used, converged, shifted)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    x, y = data
    loss = lf(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)

    def power(shift):
        v = [torch.randn(p.shape, generator=gen) for p in params]
        lam, prev = 0.0, None
        for it in range(1, iters + 1):
            norm = torch.sqrt(sum((a * a).sum() for a in v))
            v = [a / norm for a in v]
            hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
            hv = [h.detach() - shift * a for h, a in zip(hv, v)]
            lam = float(sum((a * b).sum() for a, b in zip(hv, v)))
            if not math.isfinite(lam):
                return lam, it, False
            if prev is not None and abs(lam - prev) <= tol * abs(lam):
                return lam, it, True
            prev, v = lam, hv
        return lam, iters, False

    lam, n, conv = power(0.0)
    if not (math.isfinite(lam) and lam < 0):
        return lam, n, conv, False
    top, n2, conv2 = power(lam)
    return top + lam, n + n2, conv and conv2, True


def noise_sharpness(model, lf, data, gen, sigma=NOISE_SIGMA, draws=NOISE_DRAWS):
    """The weight-noise proxy of sharpness: the mean increase of the
    training loss on `data` when every tensor gets Gaussian noise of sigma
    times its own RMS (`draws` draws); the weights are restored."""
    import torch

    x, y = data
    with torch.no_grad():
        base = float(lf(model(x), y))
        saved = [p.detach().clone() for p in model.parameters()]
        inc = []
        for _ in range(draws):
            for p, s in zip(model.parameters(), saved):
                p.copy_(s + sigma * s.pow(2).mean().sqrt() * torch.randn(s.shape, generator=gen))
            inc.append(float(lf(model(x), y)) - base)
        for p, s in zip(model.parameters(), saved):
            p.copy_(s)
    return sum(inc) / len(inc)


def make_batcher(task, train, gen):
    import torch

    bs = task["bs"]
    if task["kind"] == "charlm":
        ids = train
        ctx = TF["ctx"] if task["model"] == "char-tf" else CHAR_CTX
        span = torch.arange(ctx + 1)

        def batch():
            w = ids[torch.randint(0, len(ids) - ctx, (bs, 1), generator=gen) + span]
            if task["model"] == "char-tf":
                return w[:, :-1], w[:, 1:]
            return w[:, :-1], w[:, -1]
        return batch
    xt, yt = train

    def batch():
        idx = torch.randint(0, len(yt), (bs,), generator=gen)
        return xt[idx], yt[idx]
    return batch


def load_task(task, seed, lm_eval):
    """(train for batches, validation, test, training subset for the train
    score and sharpness, vocabulary or None, w* or None)."""
    kind = task["kind"]
    if kind == "digits":
        train, val, test = load_digits_split(task, seed)
        return train, val, test, train, None, None
    if kind == "charlm":
        ids, val, test, sub, vocab = load_charlm(task, lm_eval)
        return ids, val, test, sub, vocab, None
    train, val, test, w = load_linreg(task, seed)
    return train, val, test, train, None, w


def diverged_score(kind, test, vocab):
    """What a diverged run scores: chance accuracy (digits), the uniform
    guess's cross-entropy (language model), the zero predictor's mean
    absolute error (regression)."""
    if kind == "digits":
        return 0.1
    if kind == "charlm":
        return math.log(vocab)
    return float(test[1].abs().mean())


def initial_grad_norm(model, lf, batch, n=20):
    """Median global gradient norm over n batches at initialization (the
    clipping threshold's unit); the model's gradients are left zeroed."""
    import torch

    norms = []
    for _ in range(n):
        model.zero_grad()
        x, y = batch()
        lf(model(x), y).backward()
        norms.append(float(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))))
    model.zero_grad()
    return sorted(norms)[n // 2]


def train_run(job):
    """One training run. job: task, method, lr, cf (clipping factor), seed,
    steps, endpoint, run, monitor (send gradients and parameters of a
    baseline too), full (test metrics, sharpness; else validation only),
    lm_eval."""
    import torch

    import htga
    import htga.torch as ht

    torch.set_num_threads(1)
    task = TASKS[job["task"]]
    kind, s, seed = task["kind"], spec(job["method"]), job["seed"]
    train, val, test, sub, vocab, w_star = load_task(task, seed, job.get("lm_eval", 0))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = make_model(task.get("model", "linear"), vocab)
    params = list(model.parameters())
    lf = loss_fn(kind)
    batch = make_batcher(task, train, gen)
    thr = None
    if s["tr"] == "clip":  # its own generator: the batch order stays the one every method sees
        thr = job["cf"] * initial_grad_norm(model, lf, make_batcher(task, train, torch.Generator().manual_seed(seed + 7)))
    opt = torch.optim.SGD(params, lr=job["lr"], momentum=s["mom"])
    client = monitor = None
    if s["pol"] or job["monitor"]:
        client = htga.Client(job["endpoint"], job["run"], connect_grace_ms=3000, seed=seed)
        monitor = ht.GradientMonitor(client, model, grouping="module", sample_size=SAMPLE_SIZE,
                                     param_every=PARAM_EVERY if job["monitor"] else 0, max_overhead=None)
    if s["pol"]:
        opt = ht.HTGA(opt, client, monitor=monitor)
        lam0 = policy_lambda(s["pol"])
        names = [g.name for g in monitor.groups]

        def lambdas():  # a group without an estimate yet starts at the policy's lambda at ALPHA_REF
            out = {}
            for n in names:
                v = client.lambda_get(n)
                out[n] = lam0 if v is None else v
            return out
        monitor.lambdas = lambdas
    diverged = False
    lam_sum, lam_n, lam_trace = {}, 0, []
    t0 = time.perf_counter()
    step = -1
    for step in range(job["steps"]):
        xb, yb = batch()
        opt.zero_grad()
        loss = lf(model(xb), yb)
        if not math.isfinite(float(loss)):
            diverged = True
            break
        loss.backward()
        if s["pol"]:
            opt.step()  # sends through the monitor, then applies lambda
            for g, v in opt.last_lambdas.items():
                lam_sum[g] = lam_sum.get(g, 0.0) + v
            lam_n += 1
            if step % 10 == 0:
                lam_trace.append((step, dict(opt.last_lambdas)))
            continue
        if monitor is not None:
            monitor.send(step)  # the raw gradient, before normalizing or clipping
        if s["tr"] == "norm":
            norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in params))
            for p in params:
                p.grad.div_(norm + 1e-12)
        elif s["tr"] == "clip":
            torch.nn.utils.clip_grad_norm_(params, thr)
        opt.step()
    elapsed = time.perf_counter() - t0
    done = step + 1
    if client is not None:
        client.flush(2000)
        client.close()
    finite = all(bool(torch.isfinite(p).all()) for p in params)
    res = dict(task=job["task"], method=job["method"], lr=job["lr"], cf=job.get("cf"), seed=seed, steps=done,
               diverged=diverged or not finite, ms_per_step=1e3 * elapsed / max(done, 1), run=job["run"],
               phase=job["phase"], clip_thr=thr, point=job.get("point"))
    if lam_n:
        means = {g: v / lam_n for g, v in lam_sum.items()}
        res["lam"] = sorted(means.values())[len(means) // 2]  # median over groups of the mean over steps
        res["eff_step"] = job["lr"] * res["lam"]
        res["lam_trace"] = lam_trace if job["full"] and seed == 100 else []
    fallback = diverged_score(kind, test, vocab)
    if not res["diverged"]:
        res["val"], _ = measure(model, kind, val)
        if not math.isfinite(res["val"]):
            res["diverged"] = True
    if res["diverged"]:
        res["val"] = fallback
        if job["full"]:
            res.update(test=fallback, train=fallback, test_acc=None, hess=None, gap=None)
        return res
    if not job["full"]:
        return res
    res["test"], res["test_acc"] = measure(model, kind, test)
    res["train"], res["train_acc"] = measure(model, kind, sub)
    if not all(math.isfinite(v) for v in (res["test"], res["train"])):
        res["test"] = fallback
    res["gap"] = res["train"] - res["test"] if kind == "digits" else res["test"] - res["train"]
    hx, hy = sub
    nh = {"digits": 1000, "linreg": 500, "charlm": 256 if task.get("model") == "char-mlp" else 32}[kind]
    if job["phase"] != "eval":  # the repeats of one seed measure the test score's spread only
        return res
    t1 = time.perf_counter()
    hb = (hx[:nh], hy[:nh])  # a fixed batch of training data
    res["hess"], res["hess_iters"], res["hess_conv"], res["hess_shifted"] = top_hessian_eig(model, lf, hb, gen,
                                                                                           job["hess_iters"])
    res["noise"] = noise_sharpness(model, lf, hb, gen)
    res["sharp_s"] = time.perf_counter() - t1
    if w_star is not None:
        w = model.weight.detach().reshape(-1)
        res["w_err"] = float((w - w_star).norm() / w_star.norm())
    return res


def pool_init():
    import torch

    torch.set_num_threads(1)
    try:
        os.nice(0)
    except OSError:
        pass


def run_job(job):
    t0 = time.time()
    try:
        res = train_run(job)
    except Exception as e:  # reported, not fatal: one broken run must not lose an hour
        import traceback

        res = dict(job, error=f"{e!r}\n{traceback.format_exc()}")
    res.update(key=job["key"], job_s=time.time() - t0)
    return res


# --------------------------------------------------------------------------
# htgad daemons: one per (policy, EMA), so that every run gets its policy
# from the flags, with HTTP on a free loopback port for the REST readback
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


class Daemons:
    """htgad per key in `keys`, its database, socket and log in `state`
    (a resumed run reopens the same databases)."""

    def __init__(self, htgad, state, keys):
        self.d = {}
        for key in keys:
            pol, ema = key.split("-ema")
            ep = "ipc://" + os.path.join(state, f"{key}.sock")
            port = free_port()
            db = os.path.join(state, f"{key}.db")
            log = open(os.path.join(state, f"htgad-{key}.log"), "a")
            p = subprocess.Popen([htgad, "--db", db, "--listen", ep, "--http", f"127.0.0.1:{port}",
                                  "--web-root", os.path.join(ROOT, "web"),
                                  "--block-samples", str(BLOCK_SAMPLES),
                                  "--policy", POLICIES[pol], "--ema", ema, "--lambda-min", str(LAMBDA_MIN),
                                  "--lambda-max", str(LAMBDA_MAX), "--max-streams", "65536",
                                  # every run of the evaluation comes from this one host: htgad's
                                  # per-peer limit on new runs (a defence against one peer filling
                                  # its tables) must not refuse a tuning grid's burst of runs
                                  "--peer-runs-burst", "1048576", "--peer-runs-per-s", "1000000",
                                  # every run's streams stay for the read-back at the end
                                  "--stream-idle-s", "86400"],
                                 stdout=log, stderr=subprocess.STDOUT)
            self.d[key] = dict(proc=p, endpoint=ep, port=port, db=db, log=log)
        deadline = time.time() + 30
        for key, v in self.d.items():
            while True:
                if v["proc"].poll() is not None:
                    sys.exit(f"htgad ({key}) exited at start (code {v['proc'].returncode}), see {v['log'].name}")
                try:
                    http_get(v["port"], "/api/v1/runs", 1)
                    if os.path.exists(v["endpoint"][6:]):
                        break
                except OSError:
                    pass
                if time.time() > deadline:
                    sys.exit(f"htgad ({key}) not ready after 30 s, see {v['log'].name}")
                time.sleep(0.05)

    def stop(self):
        for v in self.d.values():
            v["proc"].terminate()
        for v in self.d.values():
            try:
                v["proc"].wait(60)
            except subprocess.TimeoutExpired:
                v["proc"].kill()
            v["log"].close()


def read_estimates(state, prefix):
    """Per run (name starting with prefix), per group: [(step_last, alpha,
    kurtosis, variance, lambda)], from each daemon's `estimates` view (the
    databases in the state directory)."""
    out = {}
    for db in sorted(f for f in os.listdir(state) if f.endswith(".db")):
        con = sqlite3.connect(f"file:{os.path.join(state, db)}?mode=ro", uri=True)
        rows = con.execute("SELECT run, group_name, step_last, alpha, kurtosis, variance, lambda FROM estimates "
                           "WHERE run LIKE ? ORDER BY run, group_name, block", (prefix + "%",)).fetchall()
        con.close()
        for run, g, step, a, k, var, lam in rows:
            out.setdefault(run, {}).setdefault(g, []).append((step, a, k, var, lam))
    return out


def median(xs):
    xs = sorted(x for x in xs if x is not None and math.isfinite(x))
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def tail_summary(series):
    """Median over a run's gradient groups of each group's median over
    blocks (alpha, excess kurtosis, log10 variance), and the median over
    parameter groups of the last parameter alpha."""
    grad = [s for g, s in series.items() if not g.startswith("param/")]
    par = [s[-1][1] for g, s in series.items() if g.startswith("param/") and s]

    def col(i):
        if i == 3:  # variance, as log10 of the positive ones
            return median([median([math.log10(b[3]) for b in s if b[3] is not None and b[3] > 0]) for s in grad])
        return median([median([b[i] for b in s]) for s in grad])
    return dict(alpha=col(1), kurt=col(2), logvar=col(3), palpha=median(par))


# --------------------------------------------------------------------------
# tuning: a grid over lr (points centre * scale * 10^(i/2)) and, for
# clipping, the threshold factor (4^j), picked by the mean validation score
# over the tuning seeds; a choice on the edge of its grid extends the grid
def lr_scale(method):
    s = spec(method)
    scale = 1.0 - s["mom"]  # momentum's step is lr / (1 - beta)
    if s["pol"]:
        scale /= policy_lambda(s["pol"])  # HTGA: the grid is over the effective step lr * lambda
    return scale


def point_lr(task, method, i):
    return float(f"{TASKS[task]['centre'] * lr_scale(method) * 10 ** (i / 2):.4g}")


def neighbours(p):
    i, j = p
    return [(i + 1, j), (i - 1, j)] + ([(i, j + 1), (i, j - 1)] if j is not None else [])


def best_point(points):
    scored = [(sum(v) / len(v), p) for p, v in points.items() if v]
    return max(scored)[1] if scored else None


class Cell:
    """One (task, method): tuning rounds over the grid (the choice the best
    mean validation score over the tuning seeds; while it sits on an edge of
    what was evaluated, the grid is extended there, up to args.max_ext
    times), then the evaluation on the paired seeds and the repeats of seed
    100. `todo` holds the jobs the cell can run now; receive() takes a
    result and queues what follows from it."""

    def __init__(self, t, m, args, session):
        self.t, self.m, self.args, self.session = t, m, args, session
        self.points, self.ext, self.todo, self.waiting = {}, 0, [], 0
        self.tuned, self.results, self.done = None, [], False
        self.tune_runs, self.tune_s = 0, 0.0
        half = args.grid_points // 2
        js = [-1, 0, 1] if spec(m)["tr"] == "clip" else [None]
        self.add_points([(i, j) for i in range(-half, args.grid_points - half) for j in js])

    def job(self, phase, lr, cf, seed, run, point=None):
        t, m, a = self.t, self.m, self.args
        job = dict(task=t, method=m, lr=lr, cf=cf, point=point, seed=seed, steps=steps_for(t, a), phase=phase,
                   monitor=phase == "eval", full=phase != "tune", lm_eval=a.lm_eval, endpoint=daemons_ep(m),
                   hess_iters=a.hess_iters)
        # what decides the result, so that a resumed run finds it; the run's
        # name in htgad carries the session, so a run cut off by a stop is
        # never mixed with its rerun
        job["key"] = "|".join(str(job[k]) for k in ("phase", "task", "method", "lr", "cf", "seed", "steps",
                                                    "lm_eval")) + f"|{run}"
        job["run"] = f"{phase}/{t}/{m}/{run}@{self.session}"
        return job

    def add_points(self, pts):
        for (i, j) in pts:
            self.points[(i, j)] = []
            for seed in range(self.args.tune_seeds):
                self.todo.append(self.job("tune", point_lr(self.t, self.m, i), None if j is None else 4.0 ** j,
                                          seed, f"i{i}j{j}/s{seed}", point=(i, j)))
        self.waiting = len(self.todo)

    def receive(self, r):
        self.waiting -= 1
        if r["phase"] != "tune":
            self.results.append(r)
            self.done = self.waiting == 0
            return
        self.tune_runs += 1
        self.tune_s += r.get("job_s", 0.0)
        if "error" not in r:
            self.points[tuple(r["point"])].append((-1 if lower_better(self.t) else 1) * r["val"])
        if self.waiting:
            return
        best = best_point(self.points)
        if best is None:  # every tuning run failed: nothing to evaluate
            self.done = True
            return
        missing = [p for p in neighbours(best) if p not in self.points]
        if missing and self.ext < self.args.max_ext:
            self.ext += 1
            self.add_points(missing)
            return
        t, m, i, j = self.t, self.m, best[0], best[1]
        self.tuned = dict(point=best, lr=point_lr(t, m, i), cf=None if j is None else 4.0 ** j, edge=bool(missing),
                          npoints=len(self.points), ext=self.ext,
                          val=sum(self.points[best]) / len(self.points[best]),
                          grid={f"{point_lr(t, m, a)}|{b}": sum(v) / len(v) for (a, b), v in self.points.items() if v})
        lr, cf = self.tuned["lr"], self.tuned["cf"]
        for k in range(self.args.seeds):
            self.todo.append(self.job("eval", lr, cf, 100 + k, f"s{100 + k}"))
        if t in self.args.repeat_tasks.split(","):
            for k in range(1, self.args.repeats):
                self.todo.append(self.job("rep", lr, cf, 100, f"s100/r{k}"))
        self.waiting = len(self.todo)

    def status(self):
        if self.done:
            return "done" if self.tuned else "tuning failed"
        if self.tuned is None:
            return (f"tuning: {sum(len(v) for v in self.points.values())} of "
                    f"{len(self.points) * self.args.tune_seeds} runs of round {self.ext}")
        ev = sum(r["phase"] == "eval" for r in self.results)
        return f"evaluation: {ev} of {self.args.seeds} seeds"


def schedule(cells, cache, record, pool, args, progress, may_dispatch):
    """Runs the cells' jobs, the first cells first, at most 2 x args.jobs
    in flight; a job whose result is in `cache` is not run again.
    may_dispatch() False stops new jobs (deadline or stop); the jobs in
    flight are waited for."""
    import queue

    q = queue.Queue()
    flying = 0
    while True:
        moved = True
        while moved:  # deliver cached results (which can queue more), then fill the pool in cell order
            moved = False
            for c in cells:
                for job in [j for j in c.todo if j["key"] in cache]:
                    c.todo.remove(job)
                    c.receive(cache[job["key"]])
                    moved = True
            if moved:
                continue
            for c in cells:
                while c.todo and flying < 2 * args.jobs and pool is not None and may_dispatch():
                    job = c.todo.pop(0)
                    pool.apply_async(run_job, (job,), callback=q.put,
                                     error_callback=lambda e, job=job: q.put(dict(job, error=repr(e), job_s=0.0)))
                    flying += 1
                    moved = True
        if flying == 0:
            return
        try:
            r = q.get(timeout=5)
        except queue.Empty:
            continue
        flying -= 1
        record(r)
        progress.tick(r, cells)
        c = next(c for c in cells if c.t == r["task"] and c.m == r["method"])
        c.receive(r)
        if c.done:
            progress.cell(c)


_DAEMON_EPS = {}


def daemons_ep(method):
    return _DAEMON_EPS.get(daemon_key(method))


def steps_for(task, args):
    kind, model = TASKS[task]["kind"], TASKS[task].get("model")
    return {"digits": args.steps, "linreg": args.reg_steps, "charlm": args.lm_steps}[kind] if model != "char-tf" \
        else args.tf_steps


def job_cost(job):
    per = {"digits": 1.0, "linreg": 0.3, "charlm": 4.0}[TASKS[job["task"]]["kind"]]
    if TASKS[job["task"]].get("model") == "char-tf":
        per = 8.0
    return per * job["steps"] * (2 if job.get("full") else 1)


class Progress:
    def __init__(self):
        self.t0, self.n = time.time(), 0

    def say(self, what):
        print(f"[{(time.time() - self.t0) / 60:5.1f} min] {what}", flush=True)

    def tick(self, r, cells):
        self.n += 1
        if "error" in r:
            self.say(f"ERROR {r['run']}: {r['error']}")
        if self.n % 100 == 0:
            self.say(f"{self.n} runs this session; cells done {sum(c.done for c in cells)} of {len(cells)}")

    def cell(self, c):
        tu = c.tuned or {}
        self.say(f"cell {c.t} {c.m}: {c.status()} (lr {tu.get('lr')}, {tu.get('npoints')} points)")


# --------------------------------------------------------------------------
# several ranks: torch.distributed (gloo, CPU) data-parallel training, every
# rank sending its own gradient samples to one htgad run
def dist_rank(args):
    import torch
    import torch.distributed as dist

    import htga
    import htga.torch as ht

    torch.set_num_threads(1)
    rank, world = args.dist_rank, args.dist_world
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.dist_port}", rank=rank, world_size=world)
    task = TASKS["charlm-mlp"]
    train, val, test, sub, vocab, _ = load_task(task, 100, args.lm_eval)
    torch.manual_seed(100)  # the same initial model on every rank
    model = make_model("char-mlp", vocab)
    params = list(model.parameters())
    lf = loss_fn("charlm")
    batch = make_batcher(task, train, torch.Generator().manual_seed(1000 + rank))  # each rank its own data
    opt = torch.optim.SGD(params, lr=args.lr)
    client = htga.Client(args.endpoint, args.dist_run, rank=rank, connect_grace_ms=3000, seed=rank)
    mon = ht.GradientMonitor(client, model, grouping="module", sample_size=SAMPLE_SIZE, max_overhead=None)
    names = [g.name for g in mon.groups]
    lam0 = policy_lambda("lin1")
    agree = 0
    seen = {n: [] for n in names}  # the distinct lambdas this rank received, in order
    for step in range(args.lm_steps):
        xb, yb = batch()
        opt.zero_grad()
        lf(model(xb), yb).backward()
        mon.send(step)  # this rank's own gradient: the ranks' samples pool in htgad's blocks
        for p in params:
            dist.all_reduce(p.grad)
            p.grad.div_(world)
        local = []
        for n in names:
            v = client.lambda_get(n)
            if v is not None and (not seen[n] or seen[n][-1] != v):
                seen[n].append(v)
            local.append(lam0 if v is None else v)
        local = torch.tensor(local, dtype=torch.float64)
        allv = [torch.zeros_like(local) for _ in range(world)]
        dist.all_gather(allv, local)
        agree += all(bool(torch.equal(a, allv[0])) for a in allv)
        applied = local.clone()
        dist.broadcast(applied, 0)  # rank 0's lambdas: the replicas stay identical
        for g, lam in zip(mon.groups, applied.tolist()):
            for p in g.params:
                p.grad.mul_(lam)
        opt.step()
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    allp = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(allp, flat)
    client.flush(5000)
    stats = client.stats()
    client.close()
    res = dict(rank=rank, steps=args.lm_steps, agree_steps=agree, samples_sent=stats["samples_sent"],
               lambdas_recv=stats["lambdas_recv"], seen=seen,
               max_param_diff=max(float((a - flat).abs().max()) for a in allp),
               test=measure(model, "charlm", test)[0])
    with open(args.out, "w") as f:
        json.dump(res, f)
    dist.destroy_process_group()
    return 0


def lambda_sequences(ranks):
    """(every rank's distinct lambdas, per group, in order, a subsequence
    of the longest rank's; values the ranks did not see, summed; the
    longest's count): the ranks draw from one sequence of lambdas."""
    def subseq(a, b):
        it = iter(b)
        return all(x in it for x in a)
    ok, missed, longest = True, 0, 0
    for g in ranks[0]["seen"]:
        seqs = [r["seen"].get(g, []) for r in ranks]
        top = max(seqs, key=len)
        ok &= all(subseq(x, top) for x in seqs)
        missed += sum(len(top) - len(x) for x in seqs)
        longest += len(top)
    return ok, missed, longest


def distributed(v, args, lr, tmp, run):
    """Runs args.ranks ranks of charlm-mlp with HTGA (linear:1) sharing one
    htgad run (daemon v); reads the pooled blocks back over REST."""
    port = free_port()
    procs = []
    for r in range(args.ranks):
        out = os.path.join(tmp, f"dist{r}.json")
        procs.append((out, subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--dist-rank", str(r), "--dist-world", str(args.ranks),
             "--dist-port", str(port), "--dist-run", run, "--endpoint", v["endpoint"], "--lr", str(lr),
             "--lm-steps", str(args.lm_steps), "--lm-eval", str(args.lm_eval), "--out", out])))
    ranks = []
    for out, p in procs:
        if p.wait(3600) != 0:
            raise RuntimeError(f"distributed rank failed (code {p.returncode})")
        with open(out) as f:
            ranks.append(json.load(f))
    sent = sum(r["samples_sent"] for r in ranks)
    # every sample is in a block once htgad has closed the partial blocks:
    # poll the REST API until the stored samples stop growing
    groups, deadline, last = {}, time.time() + 60, -1
    while time.time() < deadline:
        info = http_get(v["port"], "/api/v1/runs/" + urllib.parse.quote(run, safe=""))
        groups = {}
        for g in info.get("groups", []):
            name = g.get("group") or g.get("name")
            ser = http_get(v["port"], f"/api/v1/runs/{urllib.parse.quote(run, safe='')}/groups/"
                                      f"{urllib.parse.quote(name, safe='')}/series?fields=n,step_first,lambda,kurtosis,variance")
            groups[name] = ser
        stored = sum(sum(s.get("n", [])) for s in groups.values())
        if stored >= sent or stored == last and stored > 0:
            break
        last = stored
        time.sleep(1)
    stored = sum(sum(s.get("n", [])) for s in groups.values())
    spans = [st - sf + 1 for s in groups.values() for sf, st in zip(s.get("step_first", []), s.get("step", []))]
    per_step = sum(SAMPLE_SIZE for _ in groups) * args.ranks
    return dict(ranks=ranks, run=run, world=args.ranks, steps=args.lm_steps, lr=lr, samples_sent=sent,
                samples_stored=stored, blocks=sum(s.get("blocks", 0) for s in groups.values()),
                mean_block_span=sum(spans) / max(1, len(spans)),
                expected_span_pooled=BLOCK_SAMPLES / (SAMPLE_SIZE * args.ranks), expected_span_one=BLOCK_SAMPLES / SAMPLE_SIZE,
                samples_per_step=per_step,
                same_lambda_sequence=all(r["seen"] == ranks[0]["seen"] for r in ranks),
                lambda_values=sum(len(x) for x in ranks[0]["seen"].values()),
                kurtosis=median([k for s in groups.values() for k in s.get("kurtosis", []) if k is not None]),
                test=[r["test"] for r in ranks])


# --------------------------------------------------------------------------
# overhead on a model with >= 10 ms steps. Time: one process, one model and
# one batch stream; the variants take turns in blocks of steps (ABCD, then
# DCBA, ...), so the shared machine's load hits them alike; per round, a
# variant's median step over plain SGD's; the median of those ratios with a
# bootstrap interval over rounds. Memory: each variant in its own child
# process (peak RSS, getrusage), in alternating order.
OVERHEAD_VARIANTS = ["sgd", "monitor", "htga", "default-monitor", "default-htga"]
RSS_VARIANTS = ["sgd", "monitor", "htga"]


def overhead_model():
    import torch

    TF.update(TF_BIG)
    task = TASKS["charlm-tf"]
    ids, _, _, _, vocab = load_charlm(task, 1000)
    torch.manual_seed(0)
    model = make_model("char-tf", vocab, TF_BIG)
    return model, loss_fn("charlm"), make_batcher(task, ids, torch.Generator().manual_seed(0))


def overhead_optimizer(model, client, v):
    """(optimizer to step, monitor whose send() the loop calls or None) of
    variant v."""
    import torch

    import htga.torch as ht

    sgd = torch.optim.SGD(model.parameters(), lr=0.001)
    if v in ("monitor", "default-monitor"):
        return sgd, ht.GradientMonitor(client, model, **({"max_overhead": None} if v == "monitor" else {}))
    if v in ("htga", "default-htga"):
        return ht.HTGA(sgd, client, model=model, **({"max_overhead": None} if v == "htga" else {})), None
    return sgd, None


def overhead_child(args):
    """--overhead-variant: `interleaved` (the timing) or one variant alone
    (its peak RSS); prints one JSON line."""
    import torch

    import htga

    torch.set_num_threads(1)
    model, lf, batch = overhead_model()
    v = args.overhead_variant
    variants = OVERHEAD_VARIANTS if v == "interleaved" else [v]
    # plain SGD alone has no client at all: the baseline's memory
    client = None if v == "sgd" else htga.Client(args.endpoint, f"overhead/{v}/{args.tag}", connect_grace_ms=3000)
    opts = {k: overhead_optimizer(model, client, k) for k in variants}
    count = {k: 0 for k in variants}
    times = {k: [] for k in variants}  # per round, the variant's step times (ms)
    cpu = {k: [] for k in variants}  # the same in CPU time of the process (all its threads)

    def run(k, n, keep):
        o, mon = opts[k]
        ts, cs = [], []
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            xb, yb = batch()
            o.zero_grad()
            lf(model(xb), yb).backward()
            if mon is not None:
                mon.send(count[k])
            o.step()
            count[k] += 1
            ts.append(1e3 * (time.perf_counter() - t0))
            cs.append(1e3 * (time.process_time() - c0))
        if keep:
            times[k].append(ts)
            cpu[k].append(cs)

    for k in variants:  # warm-up, not timed
        run(k, 5, False)
    reps = args.overhead_reps if v == "interleaved" else 1
    for r in range(reps):
        for k in (variants if r % 2 == 0 else variants[::-1]):
            run(k, args.overhead_steps, True)
    sent = {}
    for k, (o, mon) in opts.items():
        m = mon or getattr(o, "monitor", None)
        if m is not None:
            sent[k] = m.steps_sent / max(1, m.steps_seen)
    if client is not None:
        client.close()
    print(json.dumps(dict(variant=v, times=times, cpu=cpu, sent=sent,
                          rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          params=sum(p.numel() for p in model.parameters()))))
    return 0


def bootstrap_median(xs, n=2000, seed=0):
    """95% percentile-bootstrap interval of the median of xs."""
    import random

    rng = random.Random(seed)
    meds = sorted(median([rng.choice(xs) for _ in xs]) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def overhead(endpoint, args):
    def child(v, tag):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--overhead-variant", v,
                              "--endpoint", endpoint,
                              "--overhead-steps", str(args.overhead_steps), "--overhead-reps", str(args.overhead_reps),
                              "--tag", tag], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"overhead child {v} failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    t0 = time.time()
    it = child("interleaved", "t")
    variants = {}
    for k in OVERHEAD_VARIANTS:
        v = variants[k] = dict(sent=it["sent"].get(k))
        for what, pre in (("times", ""), ("cpu", "cpu_")):
            per = {x: [median(ts) for ts in it[what][x]] for x in (k, "sgd")}
            ratio = [a / b - 1 for a, b in zip(per[k], per["sgd"])]
            v.update({pre + "ms": median([t for ts in it[what][k] for t in ts]), pre + "ratio": median(ratio),
                      pre + "ci": bootstrap_median(ratio)})
    timing_s = time.time() - t0
    rss = {k: [] for k in RSS_VARIANTS}
    for r in range(args.rss_rounds):
        for k in (RSS_VARIANTS if r % 2 == 0 else RSS_VARIANTS[::-1]):
            rss[k].append(child(k, f"rss{r}")["rss_mb"])
    for k in RSS_VARIANTS:
        variants[k].update(rss_mb=median(rss[k]), rss_delta=median([a - b for a, b in zip(rss[k], rss["sgd"])]),
                           rss_all=rss[k])
    return dict(variants=variants, rounds=args.overhead_reps, steps=args.overhead_steps, params=it["params"],
                rss_rounds=args.rss_rounds,
                model=dict(TF_BIG, batch=TASKS["charlm-tf"]["bs"]), timing_s=timing_s, wall_s=time.time() - t0)


# --------------------------------------------------------------------------
# analysis
def mean_sd(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0)


def paired(a, b, sign):
    """Paired difference sign * (a - b) over common seeds: (mean, 95% t
    interval lo, hi, n); positive = a better."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = [sign * (a[s] - b[s]) for s in seeds]
    n = len(d)
    if n < 2:
        return None
    m, sd = mean_sd(d)
    h = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h, n


def verdict(p):
    if p is None:
        return "?"
    return "W" if p[1] > 0 else "L" if p[2] < 0 else "T"


def own_base(method):
    return "msgd" if method.endswith("-m") else "sgd"


def hess_is_top(r):
    """False for a run measured before the shifted pass existed whose power
    iteration ended on a negative eigenvalue (the largest in magnitude, not
    the top one)."""
    return r.get("hess") is not None and ("hess_shifted" in r or r["hess"] >= 0)


def summarize(evals, tails, tuned, methods, tasks):
    rows = []
    for t in tasks:
        for m in methods:
            runs = [r for r in evals if r["task"] == t and r["method"] == m and "error" not in r]
            if not runs:
                continue
            ok = [r for r in runs if not r["diverged"]]
            ts = [tail_summary(tails.get(r["run"], {})) for r in runs]
            tu = tuned[(t, m)]
            rows.append(dict(task=t, method=m, lr=tu["lr"], cf=tu["cf"], edge=tu["edge"], npoints=tu["npoints"],
                             seeds=len(runs), diverged=len(runs) - len(ok),
                             test=mean_sd([r["test"] for r in runs]), test_acc=mean_sd([r.get("test_acc") for r in ok]),
                             gap=mean_sd([r.get("gap") for r in ok]),
                             hess=mean_sd([r.get("hess") for r in ok if hess_is_top(r)]),
                             hess_neg=sum(not hess_is_top(r) for r in ok),
                             noise=median([r.get("noise") for r in ok]),  # a run near instability can blow up
                             hess_conv=sum(bool(r.get("hess_conv")) for r in ok),
                             hess_iters=median([r.get("hess_iters") for r in ok]),
                             w_err=mean_sd([r.get("w_err") for r in ok]),
                             alpha=mean_sd([x["alpha"] for x in ts]), palpha=mean_sd([x["palpha"] for x in ts]),
                             kurt=mean_sd([x["kurt"] for x in ts]), logvar=mean_sd([x["logvar"] for x in ts]),
                             lam=mean_sd([r.get("lam") for r in runs]), eff=mean_sd([r.get("eff_step") for r in runs]),
                             ms=mean_sd([r["ms_per_step"] for r in runs]),
                             by_seed={r["seed"]: r["test"] for r in runs}))
    return rows


def comparisons(rows, tasks):
    """Per task, per HTGA method, per baseline: the paired difference of the
    test score (positive = HTGA better)."""
    out = []
    idx = {(r["task"], r["method"]): r for r in rows}
    for t in tasks:
        sign = -1 if lower_better(t) else 1
        for h in [m for m in ALL_METHODS if m.startswith("htga") and (t, m) in idx]:
            for b in [b for b in BASELINES if (t, b) in idx]:
                p = paired(idx[(t, h)]["by_seed"], idx[(t, b)]["by_seed"], sign)
                out.append(dict(task=t, htga=h, base=b, p=p, v=verdict(p)))
    return out


def spreads(reps, evals, tasks):
    """Per (task, method): sd of the test score over repeated runs of seed
    100 (the eval run included) beside the sd over seeds."""
    out = []
    for t in tasks:
        for m in ALL_METHODS:
            rr = [r["test"] for r in reps if r["task"] == t and r["method"] == m and "error" not in r]
            if not rr:
                continue
            e = [r for r in evals if r["task"] == t and r["method"] == m and "error" not in r]
            rr += [r["test"] for r in e if r["seed"] == 100]
            out.append(dict(task=t, method=m, n=len(rr), rep=mean_sd(rr), lo=min(rr), hi=max(rr),
                            seeds=mean_sd([r["test"] for r in e])))
    return out


# --------------------------------------------------------------------------
# report
def f3(ms, d=3):
    m, sd = ms
    return "n/a" if m is None else f"{m:.{d}f} ± {sd:.{d}f}"


def sci(ms):
    m, sd = ms
    return "n/a" if m is None else f"{m:.2g} ± {sd:.2g}"


def g(x, d=3):
    return "n/a" if x is None else f"{x:.{d}g}"


def task_caption(t):
    k = TASKS[t]["kind"]
    return {"digits": "test accuracy (higher is better); gap = train − test accuracy",
            "linreg": "test mean absolute error on clean targets (lower is better); gap = test − train MAE",
            "charlm": "test cross-entropy in nats per character (lower is better); gap = test − train loss"}[k]


def markdown(res, rows, comps, spr, files, imgrel, args):
    L = []
    meta = res["meta"]
    L.append(f"Command: `{meta['command']}`  ")
    ss = meta["sessions"]
    if len(ss) > 1:
        L.append(f"Run in {len(ss)} sessions (the later ones with `--resume`, running only what the state "
                 "directory did not hold): " + "; ".join(
            f"{x['start']} .. {x['end']} at `{x['commit']}`, {x['runs']} runs, {x['wall_s'] / 60:.1f} min"
            for x in ss) + ".  ")
    L.append(f"Commit `{meta['commit']}`{' (with uncommitted changes)' if meta['dirty'] else ''}, "
             f"{meta['date']}; wall time {meta['wall_s'] / 60:.1f} min on {os.cpu_count()} shared cores "
             f"(load average {meta['load'][0]:.1f} at the start, {meta['load'][1]:.1f} at the end), "
             f"{args.jobs} worker processes, torch 1 thread each. Measured worker time per cell (tuning and "
             "evaluation runs of one task and method), mean per task: " + ", ".join(
                 f"{t} {v / 60:.1f} min" for t, v in res.get("cell_s", {}).items()) + ".  ")
    L.append(f"Scale: tasks {', '.join(res['tasks'])}; {len(res['methods'])} methods; {args.seeds} paired seeds "
             f"per cell (100..{99 + args.seeds}), tuning on {args.tune_seeds} other seeds (0..{args.tune_seeds - 1}) "
             f"over a {args.grid_points}-point grid (steps of √10, extended up to {args.max_ext} times while the "
             f"choice sits on an edge); steps: digits {args.steps}, regression {args.reg_steps}, MLP LM "
             f"{args.lm_steps}, transformer {args.tf_steps}; htgad --block-samples {BLOCK_SAMPLES}, lambda clamp "
             f"[{LAMBDA_MIN:g}, {LAMBDA_MAX:g}], EMA {EMA} where named; monitor per module, {SAMPLE_SIZE} values "
             f"per group per step, parameters every {PARAM_EVERY} steps; {res['nruns']} runs in all.")
    if "estimates_missing" in res:
        L[-1] += "  "
        L.append(f"Estimates read back from htgad: {res['nevals'] - len(res['estimates_missing'])} of "
                 f"{res['nevals']} evaluation runs have them, {len(res['estimates_foreign'])} hold blocks past "
                 f"their last step (another run's), {res['writer_errors']} writer errors in the htgad logs.")
    L.append("")
    if res.get("missing"):
        L.append(f"**Incomplete: {len(res['missing'])} cells are missing** from every table below (the run was "
                 "stopped before they finished); to finish them, run the command above with `--resume` (the "
                 "finished runs are kept in the state directory and not run again; the doc is then rewritten "
                 "whole). Missing: " + "; ".join(f"{x['task']} × {x['method']} ({x['status']})"
                                                 for x in res["missing"]) + ".")
        L.append("")
    L.append("### Tuned choices (grid picked by the mean validation score over the tuning seeds)")
    L.append("")
    L.append("lr: the chosen learning rate; eff. step: lr × the run's mean lambda (HTGA; its grid is laid out "
             f"over lr × lambda(α = {ALPHA_REF:g})); clip: threshold factor × the median initial gradient norm; "
             "points: grid points evaluated; edge: the choice still sits on an edge after the extensions.")
    L.append("")
    tasks = res["tasks"]
    L.append("| method | " + " | ".join(f"{t}: lr (eff. step) [points]" for t in tasks) + " |")
    L.append("|---|" + "---:|" * len(tasks))
    idx = {(r["task"], r["method"]): r for r in rows}
    for m in res["methods"]:
        cells = []
        for t in tasks:
            r = idx.get((t, m))
            if not r:
                cells.append("")
                continue
            c = f"{r['lr']:.3g}"
            if r["eff"][0] is not None:
                c += f" ({r['eff'][0]:.3g})"
            if r["cf"] is not None:
                c += f" clip×{r['cf']:g}"
            c += f" [{r['npoints']}]" + (" **edge**" if r["edge"] else "")
            cells.append(c)
        L.append(f"| {m} | " + " | ".join(cells) + " |")
    L.append("")
    for t in tasks:
        L.append(f"### {t}: {task_caption(t)}")
        L.append("")
        trs = [r for r in rows if r["task"] == t]
        nok = sum(r["seeds"] - r["diverged"] for r in trs)
        L.append(f"Mean ± sd over {args.seeds} seeds. λ_max(H): top Hessian eigenvalue of the training loss on a "
                 f"fixed training batch at the end (power iteration on Hessian-vector products, stopped when the "
                 f"estimate moves less than {HESS_TOL:g} relatively, at most {args.hess_iters}: converged in "
                 f"{sum(r['hess_conv'] for r in trs)} of {nok} runs, median "
                 f"{median([r['hess_iters'] for r in trs]) or 0:.0f} products"
                 + (f"; runs whose iteration ended on a negative eigenvalue: {sum(r['hess_neg'] for r in trs)}, "
                    "the largest in magnitude, without the shifted second pass that finds the top one: left out"
                    if any(r["hess_neg"] for r in trs) else "") +
                 "); noise: the weight-noise proxy, median over seeds of the "
                 f"mean rise of that batch's loss under Gaussian noise of {NOISE_SIGMA:g} × each tensor's RMS "
                 f"({NOISE_DRAWS} draws); α: gradient tail index (median over the run's blocks "
                 "and groups, from htgad); param α: parameters' tail index at the end; kurt: gradient excess "
                 "kurtosis; log10 var: gradient variance (both from htgad's blocks, medians over training); "
                 "λ: mean lambda applied.")
        L.append("")
        extra = "test acc | " if TASKS[t]["kind"] == "charlm" else "w_err | " if TASKS[t]["kind"] == "linreg" else ""
        L.append(f"| method | test | {extra}gap | λ_max(H) | noise | α | param α | kurt | log10 var | λ | ms/step | "
                 "diverged |")
        L.append("|---|" + "---:|" * (11 + bool(extra)))
        for m in res["methods"]:
            r = idx.get((t, m))
            if not r:
                continue
            ex = ""
            if TASKS[t]["kind"] == "charlm":
                ex = f"{f3(r['test_acc'])} | "
            elif TASKS[t]["kind"] == "linreg":
                ex = f"{f3(r['w_err'])} | "
            L.append(f"| {m} | {f3(r['test'])} | {ex}{f3(r['gap'])} | {sci(r['hess'])} | {g(r['noise'], 2)} | "
                     f"{f3(r['alpha'], 2)} | "
                     f"{f3(r['palpha'], 2)} | {f3(r['kurt'], 1)} | {f3(r['logvar'], 2)} | {f3(r['lam'], 3)} | "
                     f"{f3(r['ms'], 2)} | {r['diverged']}/{r['seeds']} |")
        L.append("")
        L.append(f"Paired differences, HTGA − baseline on the test score, signed so that **positive = HTGA "
                 f"better**; mean [95% paired t interval] over {args.seeds} seeds; W/L: the interval excludes 0 "
                 "in HTGA's favour/against it, T: it contains 0.")
        L.append("")
        bases = [b for b in BASELINES if (t, b) in idx]
        L.append("| HTGA method | " + " | ".join(f"vs {b}" for b in bases) + " |")
        L.append("|---|" + "---:|" * len(bases))
        for h in [m for m in res["methods"] if m.startswith("htga")]:
            cs = {c["base"]: c for c in comps if c["task"] == t and c["htga"] == h}
            if not cs:
                continue
            cells = []
            for b in bases:
                c = cs.get(b)
                p = c and c["p"]
                cells.append("n/a" if not p else f"{p[0]:+.3g} [{p[1]:+.3g}, {p[2]:+.3g}] {c['v']}")
            L.append(f"| {h} | " + " | ".join(cells) + " |")
        L.append("")
    L.append("### Wins, ties and losses per task and baseline (95% paired intervals, over the HTGA methods)")
    L.append("")
    L.append("Each cell: how many of the task's HTGA methods beat the baseline (W), tie it (T), lose to it (L); "
             "then the HTGA methods that win.")
    L.append("")
    L.append("| task | " + " | ".join(f"vs {b}: W/T/L" for b in BASELINES) + " |")
    L.append("|---|" + "---|" * len(BASELINES))
    for t in res["tasks"]:
        cells = []
        for b in BASELINES:
            cs = [c for c in comps if c["task"] == t and c["base"] == b]
            if not cs:
                cells.append("")
                continue
            wins = [c["htga"][5:] for c in cs if c["v"] == "W"]
            cells.append("/".join(str(sum(c["v"] == k for c in cs)) for k in "WTL") +
                         (f" ({', '.join(wins)})" if wins else ""))
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("### Wins, ties and losses of each HTGA method (95% paired intervals, all tasks)")
    L.append("")
    L.append("| HTGA method | vs its own base (SGD or momentum SGD): W/T/L | vs every baseline: W/T/L | tasks it wins on |")
    L.append("|---|---:|---:|---|")
    for h in [m for m in res["methods"] if m.startswith("htga")]:
        cs = [c for c in comps if c["htga"] == h]
        own = [c for c in cs if c["base"] == own_base(h)]

        def wtl(xs):
            return "/".join(str(sum(c["v"] == k for c in xs)) for k in "WTL")
        wins = sorted({f"{c['task']} (vs {c['base']})" for c in cs if c["v"] == "W"})
        L.append(f"| {h} | {wtl(own)} | {wtl(cs)} | {', '.join(wins) or '—'} |")
    L.append("")
    if spr:
        L.append("### Run-to-run spread of one seed (seed 100 run repeatedly) against the spread over seeds")
        L.append("")
        L.append("SGD-based baselines are deterministic (sd 0 expected); HTGA's lambdas arrive from htgad "
                 "asynchronously, so which step first uses a new lambda depends on timing.")
        L.append("")
        L.append("| task | method | runs of seed 100 | sd over those runs | min .. max | sd over seeds |")
        L.append("|---|---|---:|---:|---:|---:|")
        for s in spr:
            L.append(f"| {s['task']} | {s['method']} | {s['n']} | {s['rep'][1]:.4f} | {s['lo']:.4f} .. {s['hi']:.4f} | "
                     f"{s['seeds'][1]:.4f} |")
        L.append("")
    d = res.get("dist")
    if d:
        L.append(f"### {d['world']} ranks (torch.distributed, gloo, CPU) sharing one htgad run")
        L.append("")
        L.append(f"charlm-mlp, HTGA linear:1 on SGD, lr {d['lr']:g}, {d['steps']} steps; each rank draws its own "
                 f"batches, sends its own gradient's samples ({SAMPLE_SIZE} per module) to run `{d['run']}` with its "
                 "rank, then the gradients are averaged (all-reduce) and scaled by the lambdas. Read back over "
                 "REST (`/api/v1/runs/{run}` and each group's `series`).")
        L.append("")
        ag = [r["agree_steps"] for r in d["ranks"]][0]
        L.append("| quantity | value |")
        L.append("|---|---:|")
        L.append(f"| samples sent by the ranks (sum) | {d['samples_sent']} |")
        L.append(f"| samples in htgad's blocks of the run | {d['samples_stored']} |")
        L.append(f"| blocks | {d['blocks']} |")
        L.append(f"| mean steps spanned by a block | {d['mean_block_span']:.2f} (pooled: {d['expected_span_pooled']:.2f}; "
                 f"one rank alone would give {d['expected_span_one']:.2f}) |")
        sub, missed, longest = lambda_sequences(d["ranks"])
        L.append(f"| every rank received the same sequence of lambdas | {'yes' if d['same_lambda_sequence'] else 'no'} "
                 f"({longest} distinct values over the groups) |")
        L.append(f"| every rank's sequence a subsequence of the longest (a rank polls once a step, so two updates "
                 f"between its polls show it the second only) | {'yes' if sub else 'no'}; values not seen, summed over "
                 f"ranks: {missed} |")
        L.append(f"| steps on which all ranks held the same lambdas before the broadcast | {ag}/{d['steps']} |")
        L.append(f"| largest parameter difference between ranks at the end | {max(r['max_param_diff'] for r in d['ranks']):g} |")
        L.append(f"| test loss per rank | {', '.join(f'{x:.4f}' for x in d['test'])} |")
        L.append("")
    o = res.get("overhead")
    if o:
        md = o["model"]
        sgd = o["variants"]["sgd"]
        L.append(f"### Overhead on a model with ≥ 10 ms steps (transformer, {md['layers']} layers, d {md['d']}, "
                 f"context {md['ctx']}, batch {md['batch']}, {o['params']} parameters): plain SGD "
                 f"{sgd['ms']:.1f} ms per step here")
        L.append("")
        L.append(f"Time: one process, one model, one batch stream; the variants take turns in blocks of "
                 f"{o['steps']} steps (in order, then reversed), {o['rounds']} rounds; per round a variant's "
                 "median step over plain SGD's in the same round; shown: the median of those per-round ratios "
                 "and its 95% bootstrap interval over rounds, for the wall time and for the CPU time of the "
                 "process (all its threads: torch, libhtga's and ZeroMQ's I/O; not htgad's), which other "
                 "engineers' load moves much less. monitor / HTGA: every step (`max_overhead=None`, "
                 "per parameter, 4096 values per group); default: as they come (the `max_overhead=0.01` "
                 f"budget). Peak RSS: each variant alone in its own child process (getrusage), "
                 f"{o.get('rss_rounds', 3)} rounds in "
                 "alternating order, median; Δ = median of the paired differences to plain SGD (no client "
                 "loaded) in the same round.")
        L.append("")
        L.append("| variant | wall ms/step (median) | wall overhead [95% interval] | CPU ms/step | CPU overhead "
                 "[95% interval] | peak RSS (MB) | Δ RSS vs SGD (MB) | steps sent |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")

        def pct(r, ci):
            return f"{100 * r:+.1f}% [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
        for k, v in o["variants"].items():
            sent = "" if v["sent"] is None else f"{100 * v['sent']:.0f}%"
            rss = f"{v['rss_mb']:.0f} | {v['rss_delta']:+.1f}" if "rss_mb" in v else " | "
            cpu = f"{v['cpu_ms']:.2f} | {pct(v['cpu_ratio'], v['cpu_ci'])}" if "cpu_ms" in v else " | "
            L.append(f"| {k} | {v['ms']:.2f} | {pct(v['ratio'], v['ci'])} | {cpu} | {rss} | {sent} |")
        L.append("")
    for f in files:
        L.append(f"![{f}]({imgrel}/{f})")
        L.append("")
    return "\n".join(L)


def plots(rows, comps, evals, tails, outdir, prefix, tasks):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    hm = [m for m in ALL_METHODS if m.startswith("htga") and any(c["htga"] == m for c in comps)]
    if hm and tasks:
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 0.32 * len(hm) + 1.6), sharey=True,
                                 squeeze=False)
        for ax, t in zip(axes[0], tasks):
            for y, h in enumerate(hm):
                c = next((c for c in comps if c["task"] == t and c["htga"] == h and c["base"] == own_base(h)), None)
                if not c or not c["p"]:
                    continue
                m, lo, hi, _ = c["p"]
                col = {"W": "tab:green", "L": "tab:red"}.get(c["v"], "0.4")
                ax.plot([lo, hi], [y, y], color=col, lw=2)
                ax.plot([m], [y], "o", color=col, ms=4)
            ax.axvline(0, color="k", lw=0.8)
            ax.set_title(t, fontsize=9)
            ax.tick_params(labelsize=7)
        axes[0][0].set_yticks(range(len(hm)))
        axes[0][0].set_yticklabels(hm, fontsize=7)
        fig.suptitle("HTGA − its own base optimizer (SGD, or momentum SGD for -m), test score, "
                     "positive = HTGA better; 95% paired t intervals", fontsize=9)
        fig.tight_layout()
        files.append(f"{prefix}paired_diffs.png")
        fig.savefig(os.path.join(outdir, files[-1]), dpi=100)
        plt.close(fig)
    # alpha, kurtosis, variance and lambda over training, seed 100, one task
    task = next((t for t in ("charlm-tf", "mlp-corrupt", "charlm-mlp") if t in tasks), tasks[0] if tasks else None)
    show = [m for m in ("sgd", "msgd", "htga-lin1", "htga-pow2", "htga-pow2-ema-m") if any(
        r["task"] == task and r["method"] == m for r in evals)]
    if task and show:
        fig, ax = plt.subplots(1, 4, figsize=(14, 3.2))
        colors = dict(zip(show, ["tab:blue", "tab:cyan", "tab:red", "tab:orange", "tab:purple"]))
        for m in show:
            run = next((r for r in evals if r["task"] == task and r["method"] == m and r["seed"] == 100), None)
            if not run:
                continue
            series = {gname: s for gname, s in tails.get(run["run"], {}).items() if not gname.startswith("param/")}
            for gi, (gname, s) in enumerate(sorted(series.items())):
                kw = dict(color=colors[m], alpha=0.6, lw=0.8, label=m if gi == 0 else None)
                ax[0].plot([b[0] for b in s], [b[1] for b in s], **kw)
                ax[1].plot([b[0] for b in s], [b[2] for b in s], **kw)
                ax[2].plot([b[0] for b in s], [b[3] for b in s], **kw)
                if m.startswith("htga"):
                    ax[3].plot([b[0] for b in s], [b[4] for b in s], **kw)
        for a, lab in zip(ax, ("gradient Hill alpha", "gradient excess kurtosis", "gradient variance",
                               "lambda (HTGA runs)")):
            a.set_xlabel("step")
            a.set_ylabel(lab)
        ax[1].set_yscale("symlog")
        ax[2].set_yscale("log")
        ax[3].set_yscale("log")
        ax[0].legend(fontsize=7)
        fig.suptitle(f"{task}, seed 100: per-module estimates read back from htgad (`estimates` view)", fontsize=9)
        fig.tight_layout()
        files.append(f"{prefix}tails_over_training.png")
        fig.savefig(os.path.join(outdir, files[-1]), dpi=100)
        plt.close(fig)
    return files


BEGIN, END = "<!-- results:begin (written by experiments/htga_eval.py) -->", "<!-- results:end -->"


def write_doc(path, body):
    text = open(path).read() if os.path.exists(path) else f"# Experiments\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    a, rest = text.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(a + BEGIN + "\n" + body + "\n" + END + b)


def git(*a):
    try:
        return subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def find_built(build, rel):
    p = os.path.join(build, rel)
    return p if os.path.exists(p) else None


def find_htgad(args):
    """The htgad to run (and libhtga for the workers, through the
    environment); makes --out."""
    htgad = args.htgad or os.environ.get("HTGAD") or find_built(args.build, "daemon/htgad")
    lib = os.environ.get("HTGA_LIBRARY") or find_built(args.build, "client/libhtga.so")
    if not htgad:
        sys.exit("htgad not found: build it (meson compile -C build) or pass --htgad")
    if lib:
        os.environ["HTGA_LIBRARY"] = os.path.abspath(lib)
    os.makedirs(args.out, exist_ok=True)
    return htgad


def digits_overhead_only(args):
    import overhead_digits

    htgad = find_htgad(args)
    tmp = tempfile.mkdtemp(prefix="htga-eval-")
    t0, load0 = time.time(), os.getloadavg()
    daemons = Daemons(htgad, tmp, ["lin1-ema0"])
    try:
        ov = overhead_digits.overhead(daemons.d["lin1-ema0"]["endpoint"], args.overhead_steps, args.overhead_reps)
    finally:
        daemons.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load1, wall = os.getloadavg(), time.time() - t0
    md = "\n".join([f"Command: `/usr/bin/python3 experiments/htga_eval.py {' '.join(sys.argv[1:])}`  ",
                    f"Load average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after; {os.cpu_count()} cores; "
                    f"{wall / 60:.1f} min.", ""] + overhead_digits.overhead_markdown(ov))
    with open(os.path.join(args.out, "overhead.json"), "w") as f:
        json.dump({"args": vars(args), "overhead": ov, "wall_s": wall}, f, indent=1)
    with open(os.path.join(args.out, "overhead.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory")
    ap.add_argument("--htgad", help="htgad binary (default: BUILD/daemon/htgad, env HTGAD)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results.json, logs")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "experiments.md"),
                    help="markdown file whose results section is rewritten ('' = none)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--seeds", type=int, default=10, help="paired evaluation seeds per cell")
    ap.add_argument("--tune-seeds", type=int, default=3, help="seeds per grid point when tuning")
    ap.add_argument("--grid-points", type=int, default=5, help="initial grid points (steps of sqrt(10))")
    ap.add_argument("--max-ext", type=int, default=4, help="grid extensions while the choice sits on an edge")
    ap.add_argument("--repeats", type=int, default=4, help="runs of seed 100 for the run-to-run spread")
    ap.add_argument("--repeat-tasks", default="mlp-corrupt,linreg-nu1.5")
    ap.add_argument("--steps", type=int, default=300, help="training steps, digits")
    ap.add_argument("--reg-steps", type=int, default=300, help="training steps, regression")
    ap.add_argument("--lm-steps", type=int, default=300, help="training steps, MLP language model")
    ap.add_argument("--tf-steps", type=int, default=200, help="training steps, transformer")
    ap.add_argument("--hess-iters", type=int, default=HESS_ITERS, help="power iteration: most Hessian-vector products")
    ap.add_argument("--lm-eval", type=int, default=5000, help="LM validation/test positions kept (0 = all)")
    ap.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    ap.add_argument("--methods", default="all", help="comma-separated, or all: " + ", ".join(ALL_METHODS))
    ap.add_argument("--tf-methods", default="all", help="methods on charlm-tf (the costliest task), or all")
    ap.add_argument("--ranks", type=int, default=3, help="ranks of the distributed run (0 = none)")
    ap.add_argument("--overhead-steps", type=int, help="overhead: steps per block (2; --overhead-only 250)")
    ap.add_argument("--overhead-reps", type=int, help="overhead: rounds of blocks (60, 0 = none; --overhead-only 8)")
    ap.add_argument("--overhead-only", action="store_true",
                    help="only the step-by-step overhead on the digits models (experiments/overhead_digits.py, "
                         "the tables of docs/python.md): prints its table, writes overhead.json/.md to --out")
    ap.add_argument("--short", action="store_true", help="smoke version for the test suite")
    ap.add_argument("--state", help="state directory: every finished run, the htgad databases and logs "
                                    "(default OUT/state; emptied at the start unless --resume)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --state: finished runs are not run again")
    ap.add_argument("--report-only", action="store_true",
                    help="no new runs: the tables, plots and doc from what --state holds (missing cells listed)")
    ap.add_argument("--deadline", type=float, default=0,
                    help="minutes after which no new run starts; the report covers the cells completed")
    ap.add_argument("--lr", type=float, default=0.1, help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
    ap.add_argument("--dist-rank", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dist-world", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dist-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dist-run", help=argparse.SUPPRESS)
    ap.add_argument("--overhead-variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dist_rank is not None:
        return dist_rank(args)
    if args.overhead_steps is None:
        args.overhead_steps = 250 if args.overhead_only else 2
    if args.overhead_reps is None:
        args.overhead_reps = 8 if args.overhead_only else 60
    if args.overhead_variant:
        return overhead_child(args)
    if args.overhead_only:
        return digits_overhead_only(args)
    args.rss_rounds = 3
    if args.short:
        args.seeds, args.tune_seeds, args.grid_points, args.max_ext, args.repeats = 3, 1, 3, 1, 2
        args.steps = args.reg_steps = args.lm_steps = 30
        args.tf_steps = 15
        args.lm_eval = args.lm_eval or 2000
        args.repeat_tasks = "linreg-nu1.5"
        args.ranks = min(args.ranks, 2)
        args.overhead_steps, args.overhead_reps, args.rss_rounds = 3, 2, 1
        args.hess_iters = 10
        if args.methods == "all":
            args.methods = "sgd,msgd,nsgd,mnsgd,clip,htga-lin1,htga-pow2-ema-m"
        if args.tasks == ",".join(DEFAULT_TASKS):
            args.tasks = "mlp-lowdata,linreg-nu1.5,charlm-mlp,charlm-tf"
    tasks = args.tasks.split(",")
    methods = ALL_METHODS if args.methods == "all" else args.methods.split(",")
    for x in tasks:
        if x not in TASKS:
            sys.exit(f"unknown task {x}")
    per_task = {t: methods if t != "charlm-tf" or args.tf_methods == "all" else
                [m for m in args.tf_methods.split(",") if m in methods] for t in tasks}
    for x in methods + (args.tf_methods.split(",") if args.tf_methods != "all" else []):
        if x not in ALL_METHODS:
            sys.exit(f"unknown method {x}")
    if any(TASKS[x]["kind"] == "charlm" for x in tasks) or args.ranks:
        read_corpus()  # fails here, with the package to install, rather than in a worker
    os.makedirs(args.out, exist_ok=True)
    state = args.state or os.path.join(args.out, "state")
    design = {k: getattr(args, k) for k in DESIGN_ARGS}
    if args.resume or args.report_only:
        try:
            with open(os.path.join(state, "design.json")) as f:
                old = json.load(f)
        except OSError:
            sys.exit(f"nothing to resume in {state}")
        if any(old.get(k, design[k]) != v for k, v in design.items()):  # a key it lacks: the default then
            sys.exit(f"{state} holds a run of another design: {old}; run without --resume to start afresh")
    else:
        shutil.rmtree(state, ignore_errors=True)
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "design.json"), "w") as f:
        json.dump(design, f)
    sessions_path = os.path.join(state, "sessions.json")
    sessions = json.load(open(sessions_path)) if os.path.exists(sessions_path) else []
    cache, runs_path = {}, os.path.join(state, "runs.jsonl")
    if os.path.exists(runs_path):
        with open(runs_path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:  # a line cut off by a kill
                    continue
                cache[r["key"]] = r
    session = len(sessions)
    cells = [Cell(t, m, args, session) for t in schedule_order(tasks) for m in per_task[t]]
    stop = {"flag": False}

    def on_signal(signum, frame):
        print(f"signal {signum}: no new runs; waiting for those in flight, then the report", flush=True)
        stop["flag"] = True
    import signal

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t_start, load0 = time.time(), os.getloadavg()

    def may_dispatch():
        return not stop["flag"] and not (args.deadline and time.time() - t_start > 60 * args.deadline)
    progress = Progress()
    res = dict(tasks=tasks, methods=methods)
    sess = dict(commit=git("rev-parse", "--short", "HEAD"),
                dirty=bool(git("status", "--porcelain", "--untracked-files=no", "--", "experiments", "client",
                               "daemon", ":!experiments/results")),
                start=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load0=load0[0],
                command="nice -n 10 /usr/bin/python3 experiments/htga_eval.py " + " ".join(sys.argv[1:]))
    ran = []
    if not args.report_only:
        htgad = find_htgad(args)
        keys = sorted({daemon_key(m) for m in methods} | {"lin1-ema0"})
        daemons = Daemons(htgad, state, keys)
        _DAEMON_EPS.update({k: v["endpoint"] for k, v in daemons.d.items()})
        for c in cells:  # the endpoints are known now
            for j in c.todo:
                j["endpoint"] = daemons_ep(j["method"])
        runs_file = open(runs_path, "a")

        def record(r):
            ran.append(r)
            cache[r["key"]] = r
            runs_file.write(json.dumps({k: v for k, v in r.items() if k != "endpoint"}, default=str) + "\n")
            runs_file.flush()
        import multiprocessing as mp

        try:
            ov_path = os.path.join(state, "overhead.json")
            if args.overhead_reps and not os.path.exists(ov_path) and may_dispatch():
                progress.say("overhead (before the training runs, on a machine without them)")
                ov = overhead(daemons.d["lin1-ema0"]["endpoint"], args)
                with open(ov_path, "w") as f:
                    json.dump(ov, f)
            with mp.get_context("spawn").Pool(args.jobs, initializer=pool_init) as pool:
                progress.say(f"{len(cells)} cells, {len(cache)} runs already done")
                schedule(cells, cache, record, pool, args, progress, may_dispatch)
            dist_path = os.path.join(state, "dist.json")
            if args.ranks and not os.path.exists(dist_path) and may_dispatch():
                progress.say(f"distributed run, {args.ranks} ranks")
                c = next((c for c in cells if (c.t, c.m) == ("charlm-mlp", "htga-lin1") and c.tuned), None)
                lr = c.tuned["lr"] if c else point_lr("charlm-mlp", "htga-lin1", 0)
                tmp = tempfile.mkdtemp(prefix="htga-eval-")
                try:
                    d = distributed(daemons.d["lin1-ema0"], args, lr, tmp, f"dist/charlm-mlp@{session}")
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                with open(dist_path, "w") as f:
                    json.dump(d, f)
        finally:
            daemons.stop()
            runs_file.close()
    else:
        schedule(cells, cache, None, None, args, progress, lambda: False)
    sess.update(end=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), wall_s=time.time() - t_start,
                load1=os.getloadavg()[0], runs=len(ran), report_only=args.report_only)
    if not args.report_only:
        sessions.append(sess)
        with open(sessions_path, "w") as f:
            json.dump(sessions, f, indent=1)
    for name in ("overhead", "dist"):
        path = os.path.join(state, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                res[name] = json.load(f)
    return report(res, cells, sessions, state, args, tasks, methods)


SCHEDULE_FIRST = ["charlm-tf"]  # the costliest task first: a run cut short misses cheap cells, quick to add
DESIGN_ARGS = ["seeds", "tune_seeds", "grid_points", "max_ext", "repeats", "repeat_tasks", "steps", "reg_steps",
               "lm_steps", "tf_steps", "lm_eval", "hess_iters"]


def schedule_order(tasks):
    return [t for t in SCHEDULE_FIRST if t in tasks] + [t for t in tasks if t not in SCHEDULE_FIRST]


def report(res, cells, sessions, state, args, tasks, methods):
    """Tables, plots, results.json and the doc from the cells completed."""
    done = [r for c in cells for r in c.results]
    evals = [r for r in done if r["phase"] == "eval"]
    reps = [r for r in done if r["phase"] == "rep"]
    complete = [c for c in cells if c.done and c.tuned]
    res["missing"] = [dict(task=c.t, method=c.m, status=c.status()) for c in cells if c not in complete]
    tuned = {(c.t, c.m): c.tuned for c in complete}
    evals = [r for r in evals if (r["task"], r["method"]) in tuned]
    tails = read_estimates(state, "eval/")
    # every evaluation run's estimates, and only its own: blocks past its last step would be another run's
    res["estimates_missing"] = sorted(r["run"] for r in evals if r["run"] not in tails)
    res["estimates_foreign"] = sorted(r["run"] for r in evals if any(
        b[0] >= r["steps"] for s in tails.get(r["run"], {}).values() for b in s))
    res["nevals"] = len(evals)
    res["writer_errors"] = sum(open(os.path.join(state, f)).read().count("writer:")
                               for f in os.listdir(state) if f.startswith("htgad-") and f.endswith(".log"))
    # measured worker time per cell (tuning and evaluation runs), per task
    cell_s = {}
    for c in complete:
        cell_s.setdefault(c.t, []).append(c.tune_s + sum(r.get("job_s", 0.0) for r in c.results))
    res["cell_s"] = {t: sum(v) / len(v) for t, v in cell_s.items()}
    rows = summarize(evals, tails, tuned, methods, tasks)
    comps = comparisons(rows, tasks)
    spr = spreads([r for r in reps if (r["task"], r["method"]) in tuned], evals, tasks)
    res["meta"] = dict(sessions=sessions, command=(sessions[0]["command"] if sessions else ""),
                       commit="`, then `".join(dict.fromkeys(s["commit"] for s in sessions)),
                       dirty=any(s["dirty"] for s in sessions),
                       date=sessions[-1]["end"] if sessions else "", wall_s=sum(s["wall_s"] for s in sessions),
                       load=[sessions[0]["load0"], sessions[-1]["load1"]] if sessions else [0, 0])
    res["nruns"] = sum(len(c.results) + c.tune_runs for c in cells)
    prefix = "short_" if args.short else ""
    imgdir = args.out if not args.doc else os.path.join(os.path.dirname(args.doc), "img")
    os.makedirs(imgdir, exist_ok=True)
    files = plots(rows, comps, evals, tails, imgdir, prefix, tasks)
    errors = [r for r in done if "error" in r]
    with open(os.path.join(args.out, f"{prefix}results.json"), "w") as f:
        json.dump(dict(res, args=vars(args), rows=rows, comparisons=comps, spreads=spr, errors=len(errors),
                       tuned=[dict(v, task=t, method=m) for (t, m), v in tuned.items()],
                       runs=[{k: v for k, v in r.items() if k not in ("lam_trace", "endpoint")} for r in done],
                       tails_runs=sorted(tails)), f, indent=1, default=str)
    md = markdown(res, rows, comps, spr, files,
                  os.path.relpath(imgdir, os.path.dirname(args.doc or os.path.join(args.out, "x"))), args)
    if args.doc:
        write_doc(args.doc, md)
    else:
        with open(os.path.join(args.out, f"{prefix}results.md"), "w") as f:
            f.write(md + "\n")
    print(f"report: {len(complete)} of {len(cells)} cells complete, {len(evals)} evaluation runs, "
          f"{len(errors)} errors, {len(tails)} runs with estimates in htgad")
    return 1 if errors or res["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
