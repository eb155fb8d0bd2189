"""htga.torch: parameter grouping, on-device stratified sampling, the HTGA
update rule (against a fake client with fixed lambdas), the fallback when
the daemon is away, and a few real training steps against the real htgad."""

import math
import types
import unittest
from unittest import mock

import support

HAVE_TORCH = support.have_module("torch")
if HAVE_TORCH:
    import torch
    import torch.nn as nn

    import htga
    import htga.torch as ht

    torch.set_num_threads(1)


class FakeClient:
    """Records sends; lambdas from a dict; online or not."""

    def __init__(self, lambdas=None, online=True):
        self.lambdas = dict(lambdas or {})
        self.online = online
        self.sent = []

    def send(self, group, step, array):
        self.sent.append((group, step, array.clone()))
        return self.online

    def lambda_(self, group):
        return self.lambdas.get(group, 1.0)


def moved_clock(send_s):
    """A stand-in for the monitor's time module whose perf_counter() only
    moves when the test moves it (clock.t += seconds), and a FakeClient
    whose every send takes send_s on that clock: budget tests then do not
    depend on how fast (or loaded, or sanitized) the machine is."""
    clock = types.SimpleNamespace(t=0.0)
    clock.perf_counter = lambda: clock.t

    class TimedClient(FakeClient):
        def send(self, group, step, array):
            clock.t += send_s
            return super().send(group, step, array)

    return clock, TimedClient()


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


@unittest.skipUnless(HAVE_TORCH, "torch missing")
class TestGrouping(unittest.TestCase):
    def test_parameter_module_param_group_callable(self):
        net = small_net()
        opt = torch.optim.SGD([{"params": net[0].parameters(), "name": "first"},
                               {"params": net[2].parameters()}], lr=0.1)
        c = FakeClient()
        self.assertEqual(ht.GradientMonitor(c, net).names, ["0.weight", "0.bias", "2.weight", "2.bias"])
        self.assertEqual(ht.GradientMonitor(c, net, grouping="module").names, ["0", "2"])
        self.assertEqual(ht.GradientMonitor(c, net, optimizer=opt, grouping="param_group").names,
                         ["first", "group1"])
        m = ht.GradientMonitor(c, net, grouping=lambda n, p: "w" if n.endswith("weight") else "b", prefix="g/")
        self.assertEqual(m.names, ["g/w", "g/b"])
        self.assertEqual(m.group_of[net[2].bias], "g/b")
        with self.assertRaises(ValueError):
            ht.GradientMonitor(c, net, grouping="layer")


@unittest.skipUnless(HAVE_TORCH, "torch missing")
class TestSampling(unittest.TestCase):
    def test_small_group_sent_whole(self):
        net = small_net()
        c = FakeClient()
        m = ht.GradientMonitor(c, net, grouping="module", sample_size=4096)
        net(torch.randn(4, 8)).sum().backward()
        self.assertEqual(m.send(0), 2)
        (g0, s0, a0), (g1, _, a1) = c.sent
        self.assertEqual((g0, s0, a0.numel(), a1.numel()), ("0", 0, 8 * 16 + 16, 16 * 3 + 3))
        self.assertTrue(torch.equal(a0, torch.cat([net[0].weight.grad.reshape(-1), net[0].bias.grad])))

    def test_stratified_sample_of_a_group(self):
        a = nn.Parameter(torch.zeros(1000))
        b = nn.Parameter(torch.zeros(3000))
        a.grad = torch.arange(1000, dtype=torch.float32)
        b.grad = torch.arange(3000, dtype=torch.float32) + 1000
        c = FakeClient()
        m = ht.GradientMonitor(c, params=[a, b], grouping=lambda n, p: "ab", sample_size=100, generator_seed=3)
        m.send(0)
        (_, _, s), = c.sent
        self.assertEqual(s.numel(), 100)
        self.assertEqual(int((s < 1000).sum()), 25)  # shares proportional to sizes
        edges = [i * 1000 // 25 for i in range(26)] + [1000 + i * 3000 // 75 for i in range(1, 76)]
        for i, v in enumerate(s.tolist()):
            self.assertTrue(edges[i] <= v < edges[i + 1], (i, v))

    def test_sample_is_unbiased(self):
        p = nn.Parameter(torch.zeros(10000))
        p.grad = torch.randn(10000) ** 3
        c = FakeClient()
        m = ht.GradientMonitor(c, params=[p], sample_size=500, generator_seed=1, max_overhead=None)
        for step in range(200):
            m.send(step)
        means = torch.stack([s.mean() for _, _, s in c.sent])
        self.assertAlmostEqual(float(means.mean()), float(p.grad.mean()), delta=4 * float(means.std()) / 200 ** 0.5 + 1e-3)

    def test_every_and_param_tails(self):
        net = small_net()
        c = FakeClient()
        m = ht.GradientMonitor(c, net, grouping="module", every=2, param_every=3, max_overhead=None)
        net(torch.randn(4, 8)).sum().backward()
        for step in range(4):
            m.send(step)
        self.assertEqual([(g, s) for g, s, _ in c.sent],
                         [("0", 0), ("2", 0), ("param/0", 0), ("param/2", 0), ("0", 2), ("2", 2),
                          ("param/0", 3), ("param/2", 3)])

    def test_overhead_budget_widens_the_interval(self):
        import time

        class SlowClient(FakeClient):
            def send(self, group, step, array):
                time.sleep(0.002)  # a send costing 4x the training step below
                return super().send(group, step, array)

        p = nn.Parameter(torch.zeros(10))
        p.grad = torch.ones(10)
        c = SlowClient()
        m = ht.GradientMonitor(c, params=[p], max_overhead=0.05)
        for step in range(200):
            time.sleep(0.0005)  # "training"
            m.send(step)
        # budget 5% of a >= 0.5 ms step: a 2 ms send fits once per >= 40 steps
        # (less on a loaded machine, where the sleeps stretch)
        self.assertGreaterEqual(m.interval, 10)
        self.assertLess(len(c.sent), 30)
        self.assertEqual(c.sent[0][1], 0)
        with self.assertRaises(ValueError):
            ht.GradientMonitor(c, params=[p], max_overhead=0)

    def test_default_budget_thins_sends_on_a_cheap_step(self):
        """The default monitor (max_overhead=0.01, no argument) sends a
        fraction of the steps when a send is dear next to the step, says how
        many it sent, and max_overhead=None sends every step. Fails if the
        default budget is ignored."""
        import time

        class SlowClient(FakeClient):
            def send(self, group, step, array):
                time.sleep(0.0005)  # a send costing as much as the training step below
                return super().send(group, step, array)

        p = nn.Parameter(torch.zeros(10))
        p.grad = torch.ones(10)
        c = SlowClient()
        m = ht.GradientMonitor(c, params=[p])
        self.assertEqual(m.max_overhead, ht.DEFAULT_MAX_OVERHEAD)
        for step in range(300):
            time.sleep(0.0005)  # "training"
            m.send(step)
        # budget 1% of a >= 0.5 ms step, a send counted twice: >= 1 ms per
        # send, so at most one step in 20 or so (a first send, then doubling)
        self.assertLess(len(c.sent), 40)
        self.assertEqual(m.steps_sent, len(c.sent))
        self.assertEqual(m.stats()["steps_seen"], 300)
        self.assertEqual(m.stats()["steps_sent"], len(c.sent))
        self.assertGreaterEqual(m.interval, 8)
        every = ht.GradientMonitor(FakeClient(), params=[p], max_overhead=None)
        for step in range(20):
            every.send(step)
        self.assertEqual((every.steps_seen, every.steps_sent), (20, 20))

    def test_default_budget_sends_every_step_of_a_long_step(self):
        """A step that is long next to a send: every step is sent. On a
        clock the test moves (50 ms of "training", 0.1 ms per send), so a
        loaded or sanitized machine cannot make the real sends look dear."""
        clock, c = moved_clock(send_s=0.0001)
        p = nn.Parameter(torch.zeros(10))
        p.grad = torch.ones(10)
        with mock.patch.object(ht, "time", clock):
            m = ht.GradientMonitor(c, params=[p])
            for step in range(30):
                clock.t += 0.05
                m.send(step)
        self.assertEqual((m.steps_seen, m.steps_sent), (30, 30))
        self.assertEqual(m.interval, 1)

    def test_budget_follows_calls_when_steps_go_back(self):
        """Step numbers that restart (a checkpoint reloaded, a batch index
        per epoch) do not stop the budgeted sending: it is scheduled on the
        calls. On a clock the test moves, a send costs 10% of a step."""
        clock, c = moved_clock(send_s=0.0001)
        p = nn.Parameter(torch.zeros(10))
        p.grad = torch.ones(10)
        with mock.patch.object(ht, "time", clock):
            m = ht.GradientMonitor(c, params=[p])
            for step in range(1000, 1100):
                clock.t += 0.001
                m.send(step)
            before = m.steps_sent
            for step in range(100):  # the step numbers start again
                clock.t += 0.001
                m.send(step)
        self.assertGreater(before, 2)
        self.assertGreater(m.steps_sent - before, 2, "nothing sent after the steps went back")
        self.assertEqual(m.steps_seen, 200)

    def test_overhead_budget_survives_one_stall(self):
        import time

        class StallOnce(FakeClient):
            def send(self, group, step, array):
                if len(self.sent) == 3:
                    time.sleep(0.05)  # one send preempted for 100 training steps
                return super().send(group, step, array)

        p = nn.Parameter(torch.zeros(10))
        p.grad = torch.ones(10)
        c = StallOnce()
        m = ht.GradientMonitor(c, params=[p], max_overhead=0.05)
        for step in range(300):
            time.sleep(0.0005)
            m.send(step)
        # the stall raised the interval for a while, never for the rest of the run
        self.assertGreater(len(c.sent), 6)
        self.assertGreaterEqual(c.sent[-1][1], 250, [s for _, s, _ in c.sent])

    # The one skip run.py allows (ALLOWED_SKIPS): no GPU on these machines.
    @unittest.skipUnless(HAVE_TORCH and torch.cuda.is_available(), "no CUDA device")
    def test_cuda_gradient_sampled_on_device(self):
        p = nn.Parameter(torch.zeros(100000, device="cuda"))
        p.grad = torch.randn(100000, device="cuda")
        c = FakeClient()
        m = ht.GradientMonitor(c, params=[p], sample_size=64)
        self.assertEqual(m.sample(m.groups[0], [p.grad]).device.type, "cuda")
        m.send(0)
        self.assertEqual(c.sent[0][2].device.type, "cpu")
        self.assertEqual(c.sent[0][2].numel(), 64)


@unittest.skipUnless(HAVE_TORCH and support.have_module("zmq"), "torch or python3-zmq missing")
class TestLibhtgaPath(unittest.TestCase):
    """With a real htga.Client, CPU float32 gradients go to libhtga in place:
    one message per group and step, subsampled by libhtga to sample_size."""

    def test_messages_on_the_wire(self):
        import tempfile

        from test_binding import FakeDaemon

        with tempfile.TemporaryDirectory() as tmp:
            fake = FakeDaemon(tmp)
            try:
                with htga.Client(fake.endpoint, "r", connect_grace_ms=2000) as c:
                    big = nn.Parameter(torch.zeros(10000))
                    w, b = nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(4))
                    big.grad = torch.arange(10000, dtype=torch.float32)
                    w.grad, b.grad = torch.ones(3, 4), torch.full((4,), 2.0)
                    m = ht.GradientMonitor(c, params=[big, w, b], sample_size=100,
                                           grouping=lambda n, p: "big" if p is big else "small")
                    self.assertEqual(c.max_samples, 100)
                    self.assertEqual(m.send(7), 2)
                    got = {}
                    for _ in range(2):
                        kind, run, group, rank, step, seq, count, dropped, values = fake.recv_samples()
                        got[group] = (step, values)
                    self.assertEqual(got[b"small"], (7, tuple([1.0] * 12 + [2.0] * 4)))
                    step, values = got[b"big"]
                    self.assertEqual(len(values), 100)
                    for i, v in enumerate(values):  # libhtga's strata
                        self.assertTrue(i * 100 <= v < (i + 1) * 100)
            finally:
                fake.close()

    def test_one_libhtga_call_per_step(self):
        """Groups read in place or from their buffer go out in one
        htga_send_many() call per step; a missing gradient sends the step
        through the per-group path instead (the others still go)."""
        import tempfile

        from test_binding import FakeDaemon

        with tempfile.TemporaryDirectory() as tmp:
            fake = FakeDaemon(tmp)
            try:
                with htga.Client(fake.endpoint, "r", connect_grace_ms=2000) as c:
                    net = small_net()
                    m = ht.GradientMonitor(c, net, sample_size=64, max_overhead=None)
                    calls = []
                    real = c._send_many_fn
                    c._send_many_fn = lambda *a: calls.append(a[1]) or real(*a)
                    net(torch.randn(4, 8)).sum().backward()
                    self.assertEqual(m.send(0), 4)
                    self.assertEqual(m.send(1), 4)
                    self.assertEqual(calls, [0, 1])
                    got = sorted((fake.recv_samples()[2:7:2]) for _ in range(8))
                    self.assertEqual(got, sorted([(n.encode(), s, min(64, p.numel()))
                                                  for s in (0, 1) for n, p in net.named_parameters()]))
                    net[2].bias.grad = None
                    self.assertEqual(m.send(2), 3)
                    self.assertEqual(calls, [0, 1])
                    self.assertEqual(sorted(fake.recv_samples()[2] for _ in range(3)),
                                     [b"0.bias", b"0.weight", b"2.weight"])
            finally:
                fake.close()

    def test_direct_path_fallbacks_and_parameter_values(self):
        """The per-group plan made at the first send: a gradient that is
        missing in a copied group, a non-contiguous or float64 gradient, and
        parameter values (param_every) all reach the wire with the right
        values and names; a closed client raises."""
        import tempfile

        from test_binding import FakeDaemon

        with tempfile.TemporaryDirectory() as tmp:
            fake = FakeDaemon(tmp)
            try:
                c = htga.Client(fake.endpoint, "r", connect_grace_ms=2000)
                one = nn.Parameter(torch.zeros(2, 3))
                w, b = nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(4))
                m = ht.GradientMonitor(c, params=[one, w, b], sample_size=100, param_every=2, max_overhead=None,
                                       grouping=lambda n, p: "one" if p is one else "wb")

                def sent(k):
                    got = {}
                    for _ in range(k):
                        msg = fake.recv_samples()
                        self.assertIsNotNone(msg)
                        got[msg[2]] = (msg[4], msg[8])
                    return got

                one.grad = torch.arange(6, dtype=torch.float32).reshape(3, 2).t()  # not contiguous
                w.grad, b.grad = torch.ones(3, 4), None
                self.assertEqual(m.send(1), 2)
                self.assertEqual(sent(2), {b"one": (1, (0.0, 2.0, 4.0, 1.0, 3.0, 5.0)),
                                           b"wb": (1, tuple([1.0] * 12))})
                one.data = torch.full((2, 3), 7.0, dtype=torch.float64)  # a dtype change after the plan
                one.grad = torch.full((2, 3), 0.5, dtype=torch.float64)
                b.grad = torch.full((4,), 2.0)
                with torch.no_grad():
                    w.fill_(-1.0)
                    b.fill_(3.0)
                self.assertEqual(m.send(2), 4)  # gradients and parameter values
                self.assertEqual(sent(4), {b"one": (2, tuple([0.5] * 6)), b"wb": (2, tuple([1.0] * 12 + [2.0] * 4)),
                                           b"param/one": (2, tuple([7.0] * 6)),
                                           b"param/wb": (2, tuple([-1.0] * 12 + [3.0] * 4))})
                c.close()
                with self.assertRaises(RuntimeError):
                    m.send(3)
            finally:
                fake.close()


@unittest.skipUnless(HAVE_TORCH, "torch missing")
class TestHTGAUpdate(unittest.TestCase):
    def run_step(self, make_opt, lambdas, online=True, mode="auto"):
        """Two steps of HTGA; each is checked against the inner optimizer run
        on a copy (same weights, grads and state): new = old + lambda * update."""
        net, ref = small_net(), small_net()
        x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
        ref_opt = make_opt(ref.parameters())
        c = FakeClient(lambdas, online)
        opt = ht.HTGA(make_opt(net.parameters()), c, model=net, mode=mode)
        for _ in range(2):  # two steps: momentum state matters
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            ref.load_state_dict(net.state_dict())
            ref_opt.load_state_dict(opt.optimizer.state_dict())
            for p, q in zip(net.parameters(), ref.parameters()):
                q.grad = p.grad.clone()
            ref_opt.step()
            old = {n: p.detach().clone() for n, p in net.named_parameters()}
            ref_upd = {n: q.detach() - old[n] for n, q in ref.named_parameters()}
            opt.step()
            for n, p in net.named_parameters():
                lam = lambdas.get(n, 1.0) if online else 1.0
                torch.testing.assert_close(p.detach() - old[n], lam * ref_upd[n], rtol=1e-4, atol=1e-6)
        return opt, c

    def test_plain_sgd_scales_by_lambda(self):
        opt, c = self.run_step(lambda p: torch.optim.SGD(p, lr=0.1), {"0.weight": 2.0, "2.bias": 0.5})
        self.assertEqual(opt.mode, "grad")
        self.assertEqual(opt.last_lambdas["0.weight"], 2.0)
        self.assertEqual(len(c.sent), 8)

    def test_update_mode_with_momentum(self):
        opt, _ = self.run_step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), {"0.weight": 3.0}, mode="update")
        self.assertEqual(opt.mode, "update")

    def test_adam_is_update_mode(self):
        opt, _ = self.run_step(lambda p: torch.optim.Adam(p, lr=0.01), {"2.weight": 0.25})
        self.assertEqual(opt.mode, "update")

    def test_daemon_away_means_plain_steps(self):
        opt, _ = self.run_step(lambda p: torch.optim.SGD(p, lr=0.1), {"0.weight": 5.0}, online=False)
        self.assertFalse(opt.monitor.online)
        self.assertEqual(set(opt.last_lambdas.values()), {1.0})

    def test_param_group_added_later_is_scaled(self):
        net = small_net()
        c = FakeClient({"0.weight": 2.0, "2.weight": 3.0})
        opt = ht.HTGA(torch.optim.SGD(net[0].parameters(), lr=0.1), c, model=net)
        x = torch.randn(4, 8)
        for added in (False, True):
            before = {n: p.detach().clone() for n, p in net.named_parameters()}
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            grads = {n: p.grad.clone() for n, p in net.named_parameters()}
            opt.step()
            for n, p in net.named_parameters():
                held = n.startswith("0.") or added
                expect = before[n] - 0.1 * c.lambdas.get(n, 1.0) * grads[n] if held else before[n]
                torch.testing.assert_close(p.detach(), expect, rtol=1e-5, atol=1e-7)
            if not added:
                opt.optimizer.add_param_group({"params": net[2].parameters()})

    def test_closure_and_state_dict(self):
        net = small_net()
        opt = ht.HTGA(torch.optim.SGD(net.parameters(), lr=0.1), FakeClient(), model=net)
        x = torch.randn(4, 8)

        def closure():
            opt.zero_grad()
            loss = net(x).pow(2).mean()
            loss.backward()
            return loss

        self.assertIsInstance(opt.step(closure), torch.Tensor)
        sd = opt.state_dict()
        self.assertEqual(sd["steps"], 1)
        opt.load_state_dict(sd)


@unittest.skipUnless(HAVE_TORCH and support.HTGAD, "torch or htgad (env HTGAD) missing")
class TestRealDaemon(unittest.TestCase):
    def test_training_steps_receive_and_apply_lambdas(self):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        x, y = torch.randn(256, 64), torch.randint(0, 10, (256,))
        with support.Daemon("--policy", "linear:0.5", "--lambda-min", "0.2", "--lambda-max", "5",
                            block_samples=1024) as d, \
                htga.Client(d.endpoint, "train", connect_grace_ms=3000) as c:
            opt = ht.HTGA(torch.optim.SGD(net.parameters(), lr=0.05), c, model=net, grouping="module", max_overhead=None,
                          param_every=5)
            losses = []
            for step in range(30):
                i = torch.randint(0, 256, (32,))
                opt.zero_grad()
                loss = nn.functional.cross_entropy(net(x[i]), y[i])
                loss.backward()
                opt.step()
                losses.append(loss.item())
            self.assertTrue(c.flush(2000))
            got = support.wait_for(lambda: all(c.lambda_get(g) is not None for g in ("0", "2")), 10)
            self.assertTrue(got, d.logtext())
            self.assertTrue(opt.monitor.online)
            self.assertEqual(c.stats()["drops_offline"], 0)
            # a lambda applied during training differs from 1 (policy 0.5*alpha)
            self.assertNotEqual(opt.monitor.lambdas()["0"], 1.0)
            self.assertLess(sum(losses[-5:]), sum(losses[:5]))
            self.assertEqual(d.stop(), 0)
            groups = {g for g, in d.rows("SELECT DISTINCT group_name FROM estimates WHERE run='train'")}
            self.assertEqual(groups, {"0", "2", "param/0", "param/2"})
            # daemon gone: the client says so, the wrapper falls back to plain steps
            self.assertTrue(support.wait_for(lambda: not c.connected(), 10))
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[:32]), y[:32]).backward()
            opt.step()
            self.assertFalse(opt.monitor.online)
            self.assertEqual(set(opt.last_lambdas.values()), {1.0})

    def test_readme_example_every_group_gets_a_lambda_within_the_bound(self):
        """The README's example on a default htgad (65536-value blocks) with
        the default overhead budget: each module's first block closes within
        max_interval * (ceil(1024 / n) + 1) steps (docs/daemon.md, "Flow
        control"), and its lambda comes back to the trainer."""
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
        sizes = {"0": 64 * 48 + 48, "2": 48 * 10 + 10}
        x, y = torch.randn(512, 64), torch.randint(0, 10, (512,))
        with support.Daemon(block_samples=65536) as d, \
                htga.Client(d.endpoint, "readme", connect_grace_ms=3000) as c:
            opt = ht.HTGA(torch.optim.SGD(net.parameters(), lr=0.1), c, model=net, grouping="module")
            for step in range(400):
                i = torch.randint(0, 512, (32,))
                opt.zero_grad()
                nn.functional.cross_entropy(net(x[i]), y[i]).backward()
                opt.step()
            self.assertTrue(c.flush(2000))
            got = support.wait_for(lambda: all(c.lambda_get(g) is not None for g in sizes), 10)
            self.assertTrue(got, f"a module never got a lambda: {opt.monitor.stats()}\n{d.logtext()}")
            self.assertLessEqual(opt.monitor.stats()["interval"], ht.DEFAULT_MAX_INTERVAL)
            for g, n in sizes.items():
                rows = d.rows("SELECT min(step_last) FROM estimates WHERE run='readme' AND group_name=?", g)
                bound = ht.DEFAULT_MAX_INTERVAL * (math.ceil(1024 / n) + 1)
                self.assertIsNotNone(rows[0][0], f"group {g}: no block")
                self.assertLessEqual(rows[0][0], bound, f"group {g}: first block ends at step {rows[0][0]}")


if __name__ == "__main__":
    unittest.main()
