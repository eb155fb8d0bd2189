"""The ctypes binding (htga.Client) over the real libhtga: library lookup,
errors, array conversion, against a fake daemon (a pyzmq ROUTER that checks
the wire format of docs/protocol.md and pushes lambdas) and the real htgad."""

import os
import struct
import subprocess
import sys
import time
import unittest

import support  # noqa: F401  (puts client/python on sys.path)

import htga

HAVE_NUMPY = support.have_module("numpy")
HAVE_TORCH = support.have_module("torch")
HAVE_ZMQ = support.have_module("zmq")
if HAVE_NUMPY:
    import numpy as np

HDR = struct.Struct("<IBBBBHHIqQIIQ")  # the fixed 48-byte header part
MAGIC = 0x41475448


def lambda_msg(run, group, lam, alpha=1.5, block=0, step=0):
    head = HDR.pack(MAGIC, 1, 3, 1, 0, len(run), len(group), 0, step, 0, 1, 0, 0) + run + group
    body = struct.pack("<ddQqII", lam, alpha, block, step, 0, 0)
    return [head, body]


def ack_msg(run, token, seq, msgs, values, refused=0, stored=0, lost=0):
    head = HDR.pack(MAGIC, 1, 5, 1, 0, len(run), 0, 0, token, seq, 1, 0, 0) + run
    return [head, struct.pack("<QQQQQII", msgs, values, refused, stored, lost, 0, 0)]


def budget_msg(run, group, values, every):
    head = HDR.pack(MAGIC, 1, 6, 1, 0, len(run), len(group), 0, 0, 0, 1, 0, 0) + run + group
    return [head, struct.pack("<IIII", values, every, 1, 0)]


class FakeDaemon:
    """A ROUTER on a private ipc endpoint; records decoded messages."""

    def __init__(self, tmpdir):
        import zmq

        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.endpoint = f"ipc://{tmpdir}/fake.sock"
        self.sock.bind(self.endpoint)
        self.peers = set()

    def recv(self, timeout=5.0):
        """Next message as (kind, run, group, rank, step, seq, count, dropped, values)."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        ident, head = frames[0], frames[1]
        self.peers.add(ident)
        magic, ver, kind, dtype, flags, rl, gl, rank, step, seq, count, _, dropped = HDR.unpack_from(head)
        assert magic == MAGIC and ver == 1 and dtype == 1 and flags == 0
        assert len(head) == 48 + rl + gl
        run, group = head[48:48 + rl], head[48 + rl:]
        values = None
        if kind == 2:
            assert len(frames) == 3 and len(frames[2]) == 4 * count
            values = struct.unpack(f"<{count}f", frames[2])
        return kind, run, group, rank, step, seq, count, dropped, values

    def recv_samples(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if m is not None and m[0] == 2:
                return m
        return None

    def push(self, run, group, lam):
        for p in self.peers:
            self.sock.send_multipart([p] + lambda_msg(run, group, lam))

    def push_budget(self, run, group, values, every):
        for p in self.peers:
            self.sock.send_multipart([p] + budget_msg(run, group, values, every))

    def serve_barrier(self, timeout=5.0, missing=0):
        """Counts SAMPLES until a BARRIER (kind 4) comes and answers it as
        htgad would (reporting `missing` fewer messages); returns the
        number of SAMPLES received and the barrier's header fields."""
        deadline = time.monotonic() + timeout
        msgs = values = 0
        while time.monotonic() < deadline:
            if not self.sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
                break
            frames = self.sock.recv_multipart()
            ident, head = frames[0], frames[1]
            self.peers.add(ident)
            (_, _, kind, _, _, rl, _, _, step, seq, count, cluster, _) = HDR.unpack_from(head)
            if kind == 2:
                msgs, values = msgs + 1, values + count
            elif kind == 4:
                self.sock.send_multipart([ident] + ack_msg(head[48:48 + rl], step, seq, msgs - missing, values))
                return msgs, cluster
        return None

    def close(self):
        self.sock.close(0)
        self.ctx.term()


class TestLibrary(unittest.TestCase):
    def test_version_and_path(self):
        self.assertRegex(htga.version(), r"^\d+\.\d+\.\d+$")
        self.assertTrue(os.path.exists(htga.library_path()))

    def test_strerror_texts(self):
        self.assertIn("invalid", htga.strerror(htga.EINVAL))
        self.assertTrue(htga.strerror(12345))  # unknown codes still have text

    def test_bad_library_path_lists_what_was_tried(self):
        code = "import htga\ntry:\n    htga.version()\nexcept htga.HtgaLibraryError as e:\n    print(e)\n"
        env = dict(os.environ, HTGA_LIBRARY="/nonexistent/libhtga.so",
                   PYTHONPATH=os.path.join(support.ROOT, "client", "python"))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        self.assertIn("/nonexistent/libhtga.so", out.stdout)
        self.assertIn("no such file", out.stdout)
        self.assertIn("HTGA_LIBRARY", out.stdout)


class TestClientOffline(unittest.TestCase):
    """No daemon at all: sends are dropped and counted, never raise."""

    def setUp(self):
        self.c = htga.Client("tcp://127.0.0.1:9", "offline", connect_grace_ms=0)

    def tearDown(self):
        self.c.close()

    def test_errors_carry_strerror_text(self):
        with self.assertRaises(htga.HtgaError) as cm:
            htga.Client("not-an-endpoint", "r")
        self.assertEqual(cm.exception.code, htga.EZMQ)
        self.assertIn(htga.strerror(htga.EZMQ), str(cm.exception))
        with self.assertRaises(htga.HtgaError) as cm:
            htga.Client("tcp://127.0.0.1:9", "")
        self.assertEqual(cm.exception.code, htga.EINVAL)
        with self.assertRaises(htga.HtgaError) as cm:
            self.c.set_option(999, 1)
        self.assertEqual(cm.exception.code, htga.ENOTSUP)
        with self.assertRaises(htga.HtgaError) as cm:
            htga.Client("tcp://127.0.0.1:9", "r", max_samples=-5)
        self.assertEqual(cm.exception.code, htga.EINVAL)
        with self.assertRaises(htga.HtgaError) as cm:
            htga.Client("tcp://127.0.0.1:9", "r", sample_cluster=0)
        self.assertEqual(cm.exception.code, htga.EINVAL)
        with self.assertRaises(htga.HtgaError):
            self.c.send("bad\x01name", 0, [1.0])
        with self.assertRaises(TypeError):
            self.c.send(3, 0, [1.0])

    @unittest.skipUnless(HAVE_NUMPY, "numpy missing")
    def test_queued_while_away_dropped_when_it_cannot_fit(self):
        self.assertTrue(self.c.send("g", 0, np.ones(8, np.float32)), "waits in the queue")
        s = self.c.stats()
        self.assertEqual((s["sends"], s["queue_msgs"], s["drops_offline"]), (1, 1, 0))
        self.c.set_option(8, 65536)  # HTGA_OPT_QUEUE_BYTES: a 65536-value sample never fits
        self.assertFalse(self.c.send("g", 1, np.ones(70000, np.float32)))
        s = self.c.stats()
        self.assertEqual(s["drops_offline"], 1)
        self.assertEqual(s["offered"], s["msgs_sent"] + s["drops_queue"] + s["drops_offline"] +
                         s["skipped_budget"] + s["queue_msgs"])
        self.assertFalse(self.c.flush(10), "nothing leaves while the daemon is away")
        self.assertEqual(self.c.lambda_("g"), 1.0)
        self.assertIsNone(self.c.lambda_get("g"))
        self.assertIsNone(self.c.group_budget("g"))

    @unittest.skipUnless(HAVE_NUMPY, "numpy missing")
    def test_send_many_results_per_message(self):
        c = htga.Client("tcp://127.0.0.1:9", "offline", queue_bytes=65536)
        small, big = np.ones(8, np.float32), np.ones(70000, np.float32)
        self.assertEqual(c.send_many(0, [("a", small), ("b", big), ("c", small)]), [True, False, True])
        self.assertEqual(c.send_many(1, [("a", small), ("b", big)], codes=True), [htga.OK, htga.EDROPPED])
        self.assertEqual(c.stats()["drops_offline"], 2)
        c.close()

    def test_durable_flush_times_out_without_a_daemon(self):
        t0 = time.monotonic()
        with self.assertRaises(htga.HtgaError) as cm:
            self.c.flush(100, durable=True)
        self.assertEqual(cm.exception.code, htga.ETIMEDOUT)
        self.assertLess(time.monotonic() - t0, 5)

    def test_close_twice_and_context_manager(self):
        with htga.Client("tcp://127.0.0.1:9", "r") as c:
            self.assertFalse(c.closed)
        self.assertTrue(c.closed)
        c.close()
        with self.assertRaises(htga.HtgaError):
            c.lambda_("g")


@unittest.skipUnless(HAVE_ZMQ and HAVE_NUMPY, "python3-zmq or numpy missing")
class TestClientFakeDaemon(unittest.TestCase):
    def setUp(self):
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.fake = FakeDaemon(self.tmp.name)
        self.c = htga.Client(self.fake.endpoint, "run-a", rank=3, max_samples=16, seed=7)

    def tearDown(self):
        self.c.close()
        self.fake.close()
        self.tmp.cleanup()

    def test_endpoint_run_rank_from_environment(self):
        """A launcher's environment (HTGA_ENDPOINT, HTGA_RUN, RANK) fills in what
        the constructor is not given; explicit arguments win."""
        saved = {k: os.environ.get(k) for k in ("HTGA_ENDPOINT", "HTGA_RUN", "RANK")}
        try:
            for k in saved:
                os.environ.pop(k, None)
            with self.assertRaises(htga.HtgaError) as cm:
                htga.Client()
            self.assertIn("HTGA_ENDPOINT", str(cm.exception))
            os.environ.update(HTGA_ENDPOINT=self.fake.endpoint, HTGA_RUN="env-run", RANK="6")
            with htga.Client(connect_grace_ms=2000) as c:
                self.assertEqual((c.endpoint, c.run), (self.fake.endpoint, "env-run"))
                self.assertTrue(c.send("w", 1, np.ones(3, dtype=np.float32)))
                _, run, _, rank, step, *_ = self.fake.recv_samples()
                self.assertEqual((run, rank, step), (b"env-run", 6, 1))
            with htga.Client(run="mine", rank=2, connect_grace_ms=2000) as c:
                self.assertTrue(c.send("w", 2, np.ones(3, dtype=np.float32)))
                _, run, _, rank, step, *_ = self.fake.recv_samples()
                self.assertEqual((run, rank, step), (b"mine", 2, 2))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_send_numpy_exact_values(self):
        a = np.arange(10, dtype=np.float32) - 4.5
        self.assertTrue(self.c.send("w", 42, a))
        kind, run, group, rank, step, seq, count, dropped, values = self.fake.recv_samples()
        self.assertEqual((run, group, rank, step, count, dropped), (b"run-a", b"w", 3, 42, 10, 0))
        self.assertEqual(list(values), list(a))

    def test_conversions(self):
        f64 = np.linspace(-1, 1, 8)  # float64: converted
        strided = np.arange(20, dtype=np.float32)[::2]  # not contiguous: copied
        self.assertTrue(self.c.send("w", 1, f64))
        self.assertTrue(self.c.send("w", 2, strided))
        self.assertTrue(self.c.send("w", 3, [1, 2, 3]))
        got = [self.fake.recv_samples()[8] for _ in range(3)]
        np.testing.assert_allclose(got[0], f64.astype(np.float32))
        self.assertEqual(list(got[1]), list(strided))
        self.assertEqual(list(got[2]), [1.0, 2.0, 3.0])

    def test_subsampled_to_max_samples(self):
        a = np.arange(1000, dtype=np.float32)
        self.assertTrue(self.c.send("big", 0, a))
        values = self.fake.recv_samples()[8]
        self.assertEqual(len(values), 16)
        # stratified: one value from each of 16 equal strata, in order
        for i, v in enumerate(values):
            self.assertTrue(i * 1000 // 16 <= v < (i + 1) * 1000 // 16)

    def test_sample_cluster_sends_runs(self):
        with self.assertRaises(htga.HtgaError):
            self.c.set_option(7, 0)  # HTGA_OPT_SAMPLE_CLUSTER
        self.c.set_option(7, 4)
        self.assertTrue(self.c.send("big", 0, np.arange(1000, dtype=np.float32)))
        values = self.fake.recv_samples()[8]
        self.assertEqual(len(values), 16)
        # runs of 4 consecutive values, aligned to multiples of 4, in order;
        # the last run may wrap around its stratum, so only the first three
        for r in range(3):
            run = list(values[4 * r : 4 * r + 4])
            self.assertEqual(run[0] % 4, 0)
            self.assertEqual(run, [run[0] + k for k in range(4)])
        self.assertEqual(list(values), sorted(values))

    def test_send_many_one_message_per_group_in_order(self):
        a = np.arange(10, dtype=np.float32)
        b = np.arange(1000, dtype=np.float32)
        self.assertEqual(self.c.send_many(5, [("a", a), ("b", b), ("c", [7.0, 8.0])]), [True, True, True])
        got = [self.fake.recv_samples() for _ in range(3)]
        self.assertEqual([(m[2], m[4], m[5], m[6]) for m in got], [(b"a", 5, 0, 10), (b"b", 5, 1, 16), (b"c", 5, 2, 2)])
        self.assertEqual(list(got[0][8]), list(a))
        for i, v in enumerate(got[1][8]):  # subsampled by libhtga, as send() does
            self.assertTrue(i * 1000 // 16 <= v < (i + 1) * 1000 // 16)
        self.assertEqual(self.c.send_many(6, {}), [])
        with self.assertRaises(htga.HtgaError):
            self.c.send_many(6, [("ok", a), ("", a)])  # a bad name: nothing is sent
        self.assertTrue(self.c.flush(1000))
        s = self.c.stats()
        self.assertEqual((s["sends"], s["msgs_sent"]), (3, 3))

    @unittest.skipUnless(HAVE_TORCH, "torch missing")
    def test_torch_tensors(self):
        import torch

        t = torch.arange(6, dtype=torch.float32, requires_grad=True)
        self.assertTrue(self.c.send("t", 0, t))
        self.assertTrue(self.c.send("t", 1, torch.arange(6, dtype=torch.float64).reshape(2, 3).t()))
        self.assertEqual(list(self.fake.recv_samples()[8]), [0, 1, 2, 3, 4, 5])
        self.assertEqual(list(self.fake.recv_samples()[8]), [0, 3, 1, 4, 2, 5])

    def test_lambda_push(self):
        self.assertTrue(self.c.send("w", 0, np.ones(4, np.float32)))
        self.assertIsNotNone(self.fake.recv_samples())
        self.fake.push(b"run-a", b"w", 2.5)
        self.fake.push(b"other-run", b"w", 9.0)  # not ours: ignored
        self.assertTrue(support.wait_for(lambda: self.c.lambda_get("w") is not None))
        self.assertEqual(self.c.lambda_("w"), 2.5)
        self.assertEqual(self.c.lambda_("x"), 1.0)
        s = support.wait_for(lambda: (lambda s: s if s["bad_msgs_recv"] else None)(self.c.stats()))
        self.assertEqual(s["lambdas_recv"], 1)
        self.assertEqual(s["bad_msgs_recv"], 1)
        self.assertTrue(self.c.flush(1000))


    def _flush_in_thread(self, **kw):
        import threading

        box = {}

        def run():
            try:
                box["ack"] = self.c.flush(5000, durable=True, **kw)
            except htga.HtgaError as e:
                box["err"] = e

        t = threading.Thread(target=run)
        t.start()
        return t, box

    def test_durable_flush_returns_the_answer(self):
        for i in range(3):
            self.assertTrue(self.c.send("w", i, np.ones(4, np.float32)))
        t, box = self._flush_in_thread(close_blocks=True)
        msgs, flags = self.fake.serve_barrier()
        t.join(10)
        self.assertEqual((msgs, flags), (3, 1), "the samples come first; CLOSE is flag 1")
        ack = box["ack"]
        self.assertEqual((ack["msgs"], ack["msgs_sent"], ack["values"], ack["connection"]), (3, 3, 12, 1))
        self.assertTrue(ack["complete"])
        # an answer that is short of a message says so
        self.assertTrue(self.c.send("w", 3, np.ones(4, np.float32)))
        t, box = self._flush_in_thread()
        self.assertEqual(self.fake.serve_barrier(missing=1), (1, 0))
        t.join(10)
        self.assertFalse(box["ack"]["complete"])
        s = self.c.stats()
        self.assertEqual((s["barriers_sent"], s["acks_recv"], s["acks_unmatched"]), (2, 2, 0))

    def test_budget_sets_values_and_every(self):
        self.assertTrue(self.c.send("w", 0, np.ones(4, np.float32)))
        self.assertIsNotNone(self.fake.recv_samples())
        self.fake.push_budget(b"run-a", b"w", 8, 2)
        self.assertTrue(support.wait_for(lambda: self.c.group_budget("w") is not None))
        self.assertEqual(self.c.group_budget("w"), (8, 2))
        self.assertIsNone(self.c.group_budget("other"))
        a = np.arange(100, dtype=np.float32)
        codes = [self.c.send_many(step, [("w", a)], codes=True)[0] for step in range(4)]
        self.assertEqual(sorted(codes), [htga.OK, htga.OK, htga.SKIPPED, htga.SKIPPED])
        for _ in range(2):
            self.assertEqual(self.fake.recv_samples()[6], 8, "values per send follow the budget")
        s = self.c.stats()
        self.assertEqual((s["skipped_budget"], s["budgets_recv"]), (2, 1))
        self.assertEqual((s["budget_values_min"], s["budget_values_max"]), (8, 8))


@unittest.skipUnless(HAVE_NUMPY and support.HTGAD, "numpy or htgad (env HTGAD) missing")
class TestRealDaemon(unittest.TestCase):
    def test_pareto_tail_estimated_and_lambda_pushed(self):
        rng = np.random.default_rng(1)
        with support.Daemon("--policy", "linear:1", "--lambda-max", "10", block_samples=4096) as d, \
                htga.Client(d.endpoint, "pareto", max_samples=0, connect_grace_ms=3000) as c:
            for step in range(4):
                x = (rng.uniform(size=2048) ** (-1 / 1.5)).astype(np.float32)  # Pareto, alpha 1.5
                x *= rng.choice([-1.0, 1.0], size=x.size).astype(np.float32)
                self.assertTrue(c.send("g", step, x))
            self.assertTrue(c.flush(2000))
            # two blocks of 4096 close: two lambdas pushed
            self.assertTrue(support.wait_for(lambda: c.stats()["lambdas_recv"] >= 2, 10), d.logtext())
            lam = c.lambda_get("g")
            self.assertEqual(d.stop(), 0)
            rows = d.rows("SELECT block, alpha, lambda FROM estimates WHERE run='pareto' AND group_name='g'")
            self.assertEqual(len(rows), 2)
            for _, alpha, lam_db in rows:
                self.assertAlmostEqual(alpha, 1.5, delta=0.5)
                self.assertAlmostEqual(lam_db, alpha, places=6)  # linear:1, within the clamp
            self.assertAlmostEqual(lam, rows[-1][2], places=6)

    def test_durable_flush_waits_for_the_rows(self):
        """flush(durable=True) against the real htgad: when it returns, every
        block sent is a row a reader sees, and close_blocks stores the
        partial one too."""
        rng = np.random.default_rng(2)
        with support.Daemon("--window-steps", "0", block_samples=1024) as d, \
                htga.Client(d.endpoint, "durable", max_samples=0) as c:
            x = rng.standard_t(3, size=1024 * 3 + 512).astype(np.float32)
            for step in range(3):
                self.assertTrue(c.send("g", step, x[step * 1024:(step + 1) * 1024]))
            self.assertTrue(c.send("g", 3, x[3072:]))  # half a block: stays open
            ack = c.flush(10000, durable=True)
            self.assertTrue(ack["complete"], ack)
            self.assertEqual(ack["msgs"], 4)
            self.assertEqual(ack["values"], 3584)
            self.assertEqual(ack["blocks_stored"], 3)
            self.assertEqual(ack["blocks_lost"], 0)
            self.assertEqual(d.rows("SELECT count(*) FROM estimates WHERE run='durable'")[0][0], 3)
            ack = c.flush(10000, durable=True, close_blocks=True)
            self.assertEqual(ack["blocks_stored"], 4)
            self.assertEqual(d.rows("SELECT count(*), sum(n) FROM estimates WHERE run='durable'")[0],
                             (4, 3584))


if __name__ == "__main__":
    unittest.main()
