"""htga.torch: PyTorch helpers over htga.Client.

GradientMonitor groups a model's parameters (per parameter, per module, per
optimizer param group, or by a function), and after backward() sends a
sample of each group's gradient to htgad. The sample is drawn on the
gradient's own device (a CUDA gradient is sampled on the GPU and only the
sample is copied to the host), stratified like libhtga's sampler: the group's
values are split over its parameters in proportion to their sizes, and each
parameter's share takes one uniformly chosen value from each of equal strata.

HTGA wraps any torch.optim optimizer: its step() sends the gradients through
the monitor, then scales each group's update by the group's current lambda,
theta <- theta - lr * lambda * update, so with plain SGD
theta <- theta - lr * lambda * grad. When the daemon is away (the last sends
were dropped as offline) or has not answered yet, lambda is 1: plain steps.

    client = htga.Client("tcp://127.0.0.1:5555", "run-1")
    opt = htga.torch.HTGA(torch.optim.SGD(model.parameters(), lr=0.1), client, model=model)
    for x, y in data:
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
"""

import ctypes
import math
import time

import torch

__all__ = ["GradientMonitor", "HTGA", "DEFAULT_SAMPLE_SIZE", "DEFAULT_MAX_OVERHEAD",
           "DEFAULT_MAX_INTERVAL"]

DEFAULT_SAMPLE_SIZE = 4096
# The default budget: sending may cost at most 1% of training time. On tiny
# models (sub-millisecond steps) the monitor then sends every few steps; on
# models whose step is long it sends every step. None: every `every`-th step.
# Half the 2% the monitor is meant to stay under: its own accounting sees
# the calls and (through SEND_COST_FACTOR) the I/O threads they wake, not a
# daemon sharing the trainer's cores, and with 0.02 the measured whole-step
# overhead on the digits MLP sat at 1.6-3.1% (docs/python.md).
DEFAULT_MAX_OVERHEAD = 0.01
# A sending call also costs the trainer time after it returns: it wakes
# ZeroMQ's I/O thread (and htgad works on the message), which on a busy
# 2-core machine compete with the trainer's thread. Measured with
# bench/step_probe.py: the whole-step overhead was 1.5-1.9 times the call's
# own duration. The budget counts each sending call this many times.
SEND_COST_FACTOR = 2.0
# The overhead budget never spaces a group's sends more than this many steps
# apart, so that every group reaches htgad, and gets a lambda, within a bound
# (docs/daemon.md, "Flow control"): with htgad's 32-step window a group of n
# values has its first lambda by about max_interval * ceil(1024 / n) steps.
# On a model whose step is a fraction of a millisecond the bound wins over
# max_overhead (sending then costs up to about 3% at 0.1 ms steps).
DEFAULT_MAX_INTERVAL = 64
GROUPINGS = ("parameter", "module", "param_group")


class _Group:
    """One monitored group: a name, its parameters, and the cached sampling
    plan (per parameter: how many values, strata starts and widths on the
    parameter's device)."""

    __slots__ = ("name", "bname", "params", "plan", "plan_key")

    def __init__(self, name, params):
        self.name = name
        self.bname = name.encode("utf-8")
        self.params = params
        self.plan = None
        self.plan_key = None


def _largest_remainder(m, sizes):
    """Splits m into integer shares proportional to sizes, summing to m."""
    n = sum(sizes)
    exact = [m * s / n for s in sizes]
    shares = [int(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in order[: m - sum(shares)]:
        shares[i] += 1
    return shares


def _strata(m, n, device):
    i = torch.arange(m + 1, dtype=torch.int64)
    edges = (i * n) // m
    starts = edges[:-1]
    widths = edges[1:] - starts  # >= 1 since m <= n
    return starts.to(device), widths.to(device), (widths - 1).to(device)


class GradientMonitor:
    """Sends a sample of each parameter group's gradient to htgad.

    client       an htga.Client (or anything with send(group, step, array),
                 lambda_(group) and stats()).
    model        a torch.nn.Module; names groups by its parameter/module names.
    optimizer    for grouping="param_group" (names: the group's "name" key,
                 else "group<i>"), or as the parameter source without a model.
    params       an iterable of parameters, when neither model nor optimizer.
    grouping     "parameter", "module" (each module's own parameters), or
                 "param_group"; or a function (name, param) -> group name.
    sample_size  values sent per group per step (default 4096); the group's
                 whole gradient when it is smaller.
    every        send every `every`-th step only (1 = every step).
    max_overhead a budget, default 0.01 (DEFAULT_MAX_OVERHEAD): the monitor
                 times its own sends and the training step between its
                 calls, and widens the interval between sending steps (at
                 least `every`) so that sending costs at most this fraction
                 of training time (each sending call counted SEND_COST_FACTOR
                 times, for the I/O threads it wakes). None: no budget, send
                 every `every`-th step. steps_sent / steps_seen (and
                 stats()) say how many steps were actually sent.
    prefix       prepended to every group name (e.g. "grad/").
    param_every  also send a sample of the parameter values themselves every
                 param_every steps under "<param_prefix><group>" (0 = never),
                 so htgad tracks the tail index of the weights too.
    generator_seed  seeds the torch sampler (reproducible samples); every
                 group then goes through it, CPU ones included.
    With a real htga.Client, CPU float32 gradients are handed to libhtga in
    place (it draws the same stratified sample in C) and the client's
    max_samples is set to sample_size.
    """

    def __init__(self, client, model=None, *, optimizer=None, params=None, grouping="parameter",
                 sample_size=DEFAULT_SAMPLE_SIZE, every=1, prefix="", param_every=0, param_prefix="param/",
                 generator_seed=None, max_overhead=DEFAULT_MAX_OVERHEAD,
                 max_interval=DEFAULT_MAX_INTERVAL):
        if sample_size < 1:
            raise ValueError("sample_size must be >= 1")
        if every < 1:
            raise ValueError("every must be >= 1")
        self.client = client
        self.sample_size = int(sample_size)
        self.every = int(every)
        self.param_every = int(param_every)
        if max_overhead is not None and not max_overhead > 0:
            raise ValueError("max_overhead must be > 0")
        self.max_overhead = max_overhead
        if max_interval is not None and max_interval < 1:
            raise ValueError("max_interval must be >= 1")
        self.max_interval = max(self.every, max_interval) if max_interval is not None else 1 << 20
        self.interval = self.every  # steps between sends, adapted under max_overhead
        self._next = None
        self._cost = None  # EMA of a sending call's duration (s)
        self._idle = 0.0  # EMA of a non-sending call's duration (s)
        self._gap = None  # EMA of the time between calls, outside send() (s)
        self._t_end = None
        self.param_prefix = param_prefix
        self.groups = self._make_groups(model, optimizer, params, grouping, prefix)
        self.group_of = {}
        for g in self.groups:
            for p in g.params:
                self.group_of[p] = g.name
        self.sent = 0  # groups (messages) handed to libhtga
        self.dropped = 0  # groups dropped (daemon away or slow)
        self.steps_seen = 0  # send() calls
        self.steps_sent = 0  # of those, steps whose gradients were sent (not skipped)
        self.online = True  # False while the last step's sends were all dropped
        self._gen = {}
        self._seed = generator_seed
        self._direct = None  # the libhtga path's per-group plan, made at the first send
        # With a real htga.Client, CPU float32 tensors go straight to libhtga
        # (no copy; libhtga draws the same stratified sample), so the client's
        # max_samples is set to sample_size.
        self._raw = hasattr(client, "_raw_send") and generator_seed is None
        if self._raw and client.max_samples != self.sample_size:
            client.set_option(1, self.sample_size)  # HTGA_OPT_MAX_SAMPLES

    # -- grouping ---------------------------------------------------------
    @staticmethod
    def _make_groups(model, optimizer, params, grouping, prefix):
        named = []
        if model is not None:
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        elif optimizer is not None:
            named = [(f"p{i}", p) for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"])]
        elif params is not None:
            named = [(f"p{i}", p) for i, p in enumerate(params)]
        else:
            raise ValueError("GradientMonitor needs a model, an optimizer or params")
        order, members = [], {}

        def add(name, p):
            name = prefix + name
            if name not in members:
                order.append(name)
                members[name] = []
            members[name].append(p)

        if callable(grouping):
            for n, p in named:
                add(grouping(n, p), p)
        elif grouping == "parameter":
            for n, p in named:
                add(n, p)
        elif grouping == "module":
            if model is None:
                raise ValueError('grouping="module" needs a model')
            wanted = {p for _, p in named}
            for mname, mod in model.named_modules():
                for p in mod.parameters(recurse=False):
                    if p in wanted:
                        add(mname or "model", p)
                        wanted.discard(p)
        elif grouping == "param_group":
            if optimizer is None:
                raise ValueError('grouping="param_group" needs an optimizer')
            wanted = {p for _, p in named}
            for i, pg in enumerate(optimizer.param_groups):
                for p in pg["params"]:
                    if p in wanted:
                        add(str(pg.get("name", f"group{i}")), p)
        else:
            raise ValueError(f"grouping must be one of {GROUPINGS} or a function, not {grouping!r}")
        return [_Group(n, members[n]) for n in order]

    @property
    def names(self):
        return [g.name for g in self.groups]

    # -- sampling ---------------------------------------------------------
    def _generator(self, device):
        if self._seed is None:
            return None
        g = self._gen.get(device)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed(self._seed)
            self._gen[device] = g
        return g

    def _plan(self, group, tensors):
        key = tuple((t.numel(), t.device) for t in tensors)
        if group.plan_key != key:
            sizes = [t.numel() for t in tensors]
            n = sum(sizes)
            m = min(self.sample_size, n)
            plan = []
            if m < n:
                for share, size, t in zip(_largest_remainder(m, sizes), sizes, tensors):
                    plan.append(_strata(share, size, t.device) if share else None)
            group.plan, group.plan_key = (plan if m < n else None), key
        return group.plan

    def sample(self, group, tensors):
        """A 1-D sample (on the tensors' device) of the concatenated values of
        `tensors`, or the tensors themselves flattened when small enough."""
        plan = self._plan(group, tensors)
        if plan is None:
            if len(tensors) == 1:
                return tensors[0].reshape(-1)
            return torch.cat([t.reshape(-1) for t in tensors])
        parts = []
        for t, strata in zip(tensors, plan):
            if strata is None:
                continue
            starts, widths, wmax = strata
            u = torch.rand(starts.shape, device=t.device, generator=self._generator(t.device))
            idx = starts + torch.minimum((u * widths).long(), wmax)
            parts.append(t.reshape(-1)[idx])
        return parts[0] if len(parts) == 1 else torch.cat([p.to(parts[0].device) for p in parts])

    def _send(self, name, step, values):
        host = values.detach()
        if host.device.type != "cpu" or host.dtype != torch.float32:
            host = host.to(device="cpu", dtype=torch.float32)
        return self.client.send(name, step, host)

    def _send_group(self, g, name, step, tensors):
        """Sends one group's sample through client.send() (the general path:
        CUDA, other dtypes, large groups of several tensors, fake clients,
        seeded samples); True unless dropped (daemon away)."""
        return self._send(name, step, self.sample(g, tensors))

    def send(self, step):
        """Sends the current gradients (call after backward()). Groups whose
        parameters have no gradient are skipped. Returns the number of
        groups sent (0 on steps skipped by `every` or the overhead budget)."""
        self.steps_seen += 1
        if self.max_overhead is None:
            return self._send_step(step, step % self.every == 0)
        t0 = time.perf_counter()
        if self._t_end is not None:
            gap = t0 - self._t_end
            if self._gap is None:
                self._gap = gap
            else:  # a pause (evaluation, checkpoint) counts as at most 2 steps
                self._gap = 0.9 * self._gap + 0.1 * min(gap, 2 * self._gap)
        # scheduled on the calls, not on the caller's step numbers: those may
        # go back (a checkpoint reloaded, a batch index restarting each epoch)
        calls = self.steps_seen
        due = self._next is None or calls >= self._next
        n = self._send_step(step, due)
        t1 = time.perf_counter()
        if due and self._next is None:
            self._next = calls + self.interval  # the first call makes the plans: not a typical cost
        elif due:
            # a call the machine preempted counts as at most 4 typical ones,
            # so one stall cannot stop the sending for a long time
            cost = t1 - t0
            self._cost = cost if self._cost is None else 0.8 * self._cost + 0.2 * min(cost, 4 * self._cost)
            if self._gap:
                # k steps cost one send plus k-1 idle calls; aim at 80% of the
                # budget so that the variation of send times stays inside it
                room = 0.8 * self.max_overhead * self._gap - self._idle
                cost = SEND_COST_FACTOR * self._cost - self._idle
                k = math.ceil(cost / room) if room > 0 else 1 << 20
                # widen at most twofold per sending step: the estimate is
                # taken again at the next send, when a stall has passed
                self.interval = min(max(self.every, k), 2 * self.interval, self.max_interval)
            self._next = calls + self.interval
        else:
            self._idle = 0.9 * self._idle + 0.1 * min(t1 - t0, 2 * self._idle + 1e-5)
        self._t_end = t1
        return n

    def _send_step(self, step, grads_due):
        params_due = bool(self.param_every) and step % self.param_every == 0
        if not grads_due and not params_due:
            return 0  # the cheap path: nothing sent
        tried = dropped = 0
        for params, due in ((False, grads_due), (True, params_due)):
            if due:
                t, d = self._send_direct(step, params) if self._raw else self._send_general(step, params)
                tried += t
                dropped += d
                if not params and t > d:
                    self.steps_sent += 1
        self.sent += tried - dropped
        self.dropped += dropped
        if tried:  # sends queue while htgad is away: ask the client too
            self.online = dropped < tried and getattr(self.client, "connected", lambda: True)()
        return tried - dropped

    def stats(self):
        """What the monitor did: steps_seen (send() calls), steps_sent (steps
        whose gradients went to libhtga; fewer than steps_seen under `every`
        or the overhead budget), groups_sent / groups_dropped (messages),
        interval (the current steps between sends) and max_overhead."""
        return {"steps_seen": self.steps_seen, "steps_sent": self.steps_sent, "groups_sent": self.sent,
                "groups_dropped": self.dropped, "interval": self.interval, "max_overhead": self.max_overhead}

    def _send_general(self, step, params):
        """One step's sends through client.send(); returns (tried, dropped)."""
        tried = dropped = 0
        with torch.no_grad():
            for g in self.groups:
                if params:
                    ts, name = [p.detach() for p in g.params], self.param_prefix + g.name
                else:
                    ts, name = [p.grad for p in g.params if p.grad is not None], g.name
                if ts:
                    tried += 1
                    dropped += not self._send_group(g, name, step, ts)
        return tried, dropped

    def _direct_plan(self):
        """Per group, how the libhtga path sends it with no allocation:
        (group, params, name, param name, buffer, views). A single CPU
        float32 parameter is read in place (views == (), libhtga subsamples
        it); a few whose values together fit sample_size are copied into a
        flat buffer allocated once (views into it); anything else (CUDA,
        other dtypes, larger groups of several tensors: views is None) takes
        the general path. Made at the first send; a tensor that moved or
        changed dtype or shape since is caught per step and takes the
        general path. Also: whether a step can skip torch.no_grad() (no
        copies, no general path), and, when every group is read in place or
        from its buffer and libhtga has htga_send_many(), the ctypes arrays
        of that one call per step (see _send_batch)."""
        if self._direct is not None:
            return self._direct
        plan, in_place = [], True
        for g in self.groups:
            ps = tuple(g.params)
            pname = (self.param_prefix + g.name).encode("utf-8")
            sizes = [p.numel() for p in ps]
            if not all(p.device.type == "cpu" and p.dtype is torch.float32 for p in ps):
                plan.append((g, ps, g.bname, pname, None, None))
            elif len(ps) == 1:
                plan.append((g, ps, g.bname, pname, None, ()))
                continue
            elif sum(sizes) <= self.sample_size:
                buf = torch.empty(sum(sizes), dtype=torch.float32)
                views = tuple(v.view(p.shape) for v, p in zip(buf.split(sizes), ps))
                plan.append((g, ps, g.bname, pname, buf, views))
            else:
                plan.append((g, ps, g.bname, pname, None, None))
            in_place = False
        batch = None
        if plan and getattr(self.client, "_send_many_fn", None) is not None and \
                all(e[5] is not None for e in plan):
            k = len(plan)
            names = (ctypes.c_char_p * k)(*[e[2] for e in plan])
            pnames = (ctypes.c_char_p * k)(*[e[3] for e in plan])
            ptrs, ns = (ctypes.c_void_p * k)(), (ctypes.c_size_t * k)()
            for i, e in enumerate(plan):
                if e[4] is not None:  # a group's buffer: fixed address and size
                    ptrs[i], ns[i] = e[4].data_ptr(), e[4].numel()
            batch = (k, names, pnames, ptrs, ns)
        self._direct = (plan, in_place, batch)
        return self._direct

    def _send_direct(self, step, params):
        """One step's sends straight to libhtga: one htga_send_many() call
        for all groups when the plan allows (see _send_batch), else one
        htga_send() per group (gradients, or the parameter values when
        `params`); returns (tried, dropped)."""
        plan, in_place, batch = self._direct_plan()
        if in_place and not params:
            if batch is not None:
                r = self._send_batch(step, plan, batch, params)
                if r is not None:
                    return r
            return self._send_direct_plan(step, plan, params)
        with torch.no_grad():
            if batch is not None:
                r = self._send_batch(step, plan, batch, params)
                if r is not None:
                    return r
            return self._send_direct_plan(step, plan, params)

    def _send_batch(self, step, plan, batch, params):
        """All groups of a step in one htga_send_many() call on the
        precomputed arrays: per step only the addresses and sizes of the
        in-place tensors are filled in. Returns (tried, dropped), or None
        (nothing sent) when a tensor is missing or not as planned: the
        per-group path then handles the step."""
        h = self.client._h
        if not h:
            raise RuntimeError("htga_send_many failed: the client is closed")
        k, names, pnames, ptrs, ns = batch
        f32 = torch.float32
        i = 0
        for g, ps, bname, pname, buf, views in plan:
            if views == ():  # one tensor, read in place
                t = ps[0] if params else ps[0].grad
                if t is None or t.dtype is not f32 or t.is_cuda or not t.is_contiguous():
                    return None
                ptrs[i] = t.data_ptr()
                ns[i] = t.numel()
            else:  # a few small tensors, copied into the group's buffer
                ts = ps if params else [p.grad for p in ps]
                for v, t in zip(views, ts):
                    if t is None or t.shape != v.shape:
                        return None
                    v.copy_(t)
            i += 1
        rc = self.client._send_many_fn(h, step, k, pnames if params else names, ptrs, ns, None)
        if rc < 0:
            raise RuntimeError(f"htga_send_many failed with code {rc}")
        return k, k - rc

    def _send_direct_plan(self, step, plan, params):
        h = self.client._h
        if not h:
            raise RuntimeError("htga_send failed: the client is closed")
        send = self.client._send_fn
        f32 = torch.float32
        tried = dropped = 0
        for g, ps, bname, pname, buf, views in plan:
            if views == ():  # one tensor, read in place
                t = ps[0] if params else ps[0].grad
                if t is None:
                    continue
                if t.dtype is f32 and not t.is_cuda and t.is_contiguous():
                    addr, n = t.data_ptr(), t.numel()
                else:
                    views = None
                ts = (t,)
            elif views is not None:  # a few small tensors, copied into the group's buffer
                ts = ps if params else [p.grad for p in ps]
                for v, t in zip(views, ts):
                    if t is None or t.shape != v.shape:
                        views = None
                        break
                    v.copy_(t)
                addr, n = buf.data_ptr(), buf.numel()
            else:
                ts = ps if params else [p.grad for p in ps]
            if views is None:  # the general path (or some gradients missing)
                ts = [t.detach() for t in ts if t is not None]
                if ts:
                    tried += 1
                    dropped += not self._send_group(g, pname.decode() if params else g.name, step, ts)
                continue
            tried += 1
            rc = send(h, pname if params else bname, step, addr, n)
            if rc < 0:  # 1, HTGA_SKIPPED: the daemon's budget skips this step, not a loss
                if rc != -4:  # HTGA_EDROPPED: no room in libhtga's queue, counted there
                    raise RuntimeError(f"htga_send({g.name!r}) failed with code {rc}")
                dropped += 1
        return tried, dropped

    def lambdas(self):
        """{group: current lambda}; all 1.0 while the daemon is away."""
        if not self.online:
            return {g.name: 1.0 for g in self.groups}
        if self._raw:
            lam, h = self.client._lambda_fn, self.client._h
            if not h:
                return {g.name: 1.0 for g in self.groups}
            return {g.name: lam(h, g.bname) for g in self.groups}
        return {g.name: self.client.lambda_(g.name) for g in self.groups}


def _plain_sgd(optimizer):
    return type(optimizer) is torch.optim.SGD and all(
        pg.get("momentum", 0) == 0 and pg.get("weight_decay", 0) == 0 for pg in optimizer.param_groups)


class HTGA:
    """Wraps `optimizer` so that step() applies theta <- theta - lr * lambda * update
    with each group's current lambda from htgad.

    monitor   a GradientMonitor; made from model/optimizer, grouping,
              sample_size, every, param_every, max_overhead and max_interval
              when not given.
    mode      "update": scales the optimizer's whole update (parameters are
              saved before the inner step and moved to old + lambda*(new-old);
              exact for any optimizer, costs one copy of the scaled
              parameters); "grad": scales the gradients before the inner step
              (no copy; identical for plain SGD, not for momentum/Adam);
              "auto" (default): "grad" for plain SGD, else "update".
    The wrapper forwards param_groups, state, zero_grad(), state_dict() and
    load_state_dict() to the inner optimizer; attach LR schedulers to the
    inner optimizer (opt.optimizer).
    """

    def __init__(self, optimizer, client, *, model=None, monitor=None, grouping=None,
                 sample_size=DEFAULT_SAMPLE_SIZE, every=1, mode="auto", param_every=0,
                 max_overhead=DEFAULT_MAX_OVERHEAD, max_interval=DEFAULT_MAX_INTERVAL):
        if mode not in ("auto", "update", "grad"):
            raise ValueError('mode must be "auto", "update" or "grad"')
        self.optimizer = optimizer
        self.client = client
        if monitor is None:
            monitor = GradientMonitor(client, model, optimizer=optimizer,
                                      grouping=grouping or ("parameter" if model is not None else "param_group"),
                                      sample_size=sample_size, every=every, param_every=param_every,
                                      max_overhead=max_overhead, max_interval=max_interval)
        self.monitor = monitor
        self.mode = ("grad" if _plain_sgd(optimizer) else "update") if mode == "auto" else mode
        self.steps = 0
        self.last_lambdas = {}
        self._plan = None  # (key, per group [name, parameters the optimizer holds, lambda tensor, lambda])

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none=False):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "steps": self.steps}

    def load_state_dict(self, sd):
        self.optimizer.load_state_dict(sd["optimizer"])
        self.steps = sd["steps"]

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.monitor.send(self.steps)
        lams = self.monitor.lambdas()
        self.last_lambdas = lams
        scaled = []  # (parameters, lambda as a 0-dim tensor: a cheaper multiplier than a float)
        for entry in self._groups():
            name, ps, lt, cur = entry
            lam = lams[name]
            if lam != 1.0 and ps:
                if cur != lam:
                    lt.fill_(lam)
                    entry[3] = lam
                scaled.append((ps, lt, lam))
        if self.mode == "grad":
            for ps, lt, _ in scaled:
                for p in ps:
                    g = p.grad
                    if g is not None:
                        (g.detach() if g.requires_grad else g).mul_(lt)
            self.optimizer.step()
        else:
            with torch.no_grad():
                saved = [(p, p.detach().clone(), lam) for ps, _, lam in scaled for p in ps if p.grad is not None]
                self.optimizer.step()
                for p, old, lam in saved:
                    p.copy_(old.lerp_(p, lam))  # old + lam * (new - old)
        self.steps += 1
        return loss

    def _groups(self):
        """Per monitored group: its name, those of its parameters the inner
        optimizer updates, a 0-dim tensor holding its lambda and that lambda
        as a float (to refill the tensor only when it changes); remade when
        the optimizer's parameter groups change."""
        pgs = self.optimizer.param_groups
        key = [len(pg["params"]) for pg in pgs]
        if self._plan is None or self._plan[0] != key:
            held = {id(p) for pg in pgs for p in pg["params"]}
            plan = []
            for g in self.monitor.groups:
                ps = [p for p in g.params if id(p) in held]
                # float32 for float32 gradients: a float64 multiplier takes
                # torch's slower type-promoting path (float64 ones keep it)
                dt = torch.float64 if ps and ps[0].dtype is torch.float64 else torch.float32
                plan.append([g.name, ps, torch.ones((), dtype=dt), 1.0])
            self._plan = (key, plan)
        return self._plan[1]

    def __repr__(self):
        return f"HTGA({self.optimizer!r}, mode={self.mode!r}, groups={self.monitor.names})"
