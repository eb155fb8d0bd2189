"""The evaluation script's short version (--short: few steps, 3 paired
seeds, a 3-point grid tuned on one seed with one extension, four tasks
including the character-level MLP and the transformer, seven methods, two
ranks, a tiny overhead measurement) against the real htgad, so that
experiments/htga_eval.py cannot rot; its resume from the state directory;
and its sharpness measure against a Hessian known in closed form."""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import support

NEEDED = ("torch", "numpy", "sklearn", "matplotlib", "scipy")
sys.path.insert(0, os.path.join(support.ROOT, "experiments"))
TASKS = {"mlp-lowdata", "linreg-nu1.5", "charlm-mlp", "charlm-tf"}
METHODS = {"sgd", "msgd", "nsgd", "mnsgd", "clip", "htga-lin1", "htga-pow2-ema-m"}


def QuadraticForm(diag):
    """A module whose output is 0.5 w' diag(d) w whatever its input: its
    Hessian is diag(d)."""
    import torch

    class _Quad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones_like(diag))

        def forward(self, x):
            return 0.5 * (diag * self.w * self.w).sum()

    return _Quad()


@unittest.skipUnless(support.have_module("torch") and support.have_module("numpy"), "torch or numpy missing")
class TestSharpness(unittest.TestCase):
    def test_power_iteration_finds_the_top_eigenvalue(self):
        """Least squares: the Hessian of mean((Xw - y)^2) is 2 X'X / n, its
        top eigenvalue known exactly; a well separated spectrum converges
        within the iteration limit, to the tolerance."""
        import numpy as np
        import torch

        import htga_eval

        rng = np.random.default_rng(3)
        x = rng.normal(size=(200, 6)) * np.array([3.0, 1.5, 1.0, 0.7, 0.5, 0.2])
        model = torch.nn.Linear(6, 1, bias=False).double()
        data = (torch.from_numpy(x), torch.from_numpy(rng.normal(size=(200, 1))))
        lam, iters, converged, _ = htga_eval.top_hessian_eig(model, torch.nn.functional.mse_loss, data,
                                                             torch.Generator().manual_seed(0), iters=100, tol=1e-9)
        want = np.linalg.eigvalsh(2 * x.T @ x / len(x))[-1]
        self.assertTrue(converged)
        self.assertLess(iters, 100)
        self.assertAlmostEqual(lam / want, 1.0, delta=1e-6)
        lam, iters, converged, shifted = htga_eval.top_hessian_eig(model, torch.nn.functional.mse_loss, data,
                                                                   torch.Generator().manual_seed(0))
        self.assertFalse(shifted)
        # a Hessian whose largest eigenvalue in magnitude is negative,
        # diag(-5, 2, 1, 0.5): the shifted second pass finds the top one, 2
        quad = QuadraticForm(torch.tensor([-5.0, 2.0, 1.0, 0.5], dtype=torch.float64))
        top, iters, converged, shifted = htga_eval.top_hessian_eig(quad, lambda out, y: out, (None, None),
                                                                   torch.Generator().manual_seed(0), iters=200,
                                                                   tol=1e-10)
        self.assertTrue(shifted and converged)
        self.assertAlmostEqual(top, 2.0, delta=1e-6)
        # the weight-noise proxy is the loss's rise under noise, positive at
        # the least-squares minimum (a convex loss), and the weights come back
        w, *_ = np.linalg.lstsq(x, data[1].numpy(), rcond=None)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(w.T))
        before = model.weight.detach().clone()
        rise = htga_eval.noise_sharpness(model, torch.nn.functional.mse_loss, data, torch.Generator().manual_seed(1))
        self.assertGreater(rise, 0.0)
        self.assertTrue(torch.equal(model.weight, before))


@unittest.skipUnless(all(map(support.have_module, NEEDED)) and support.HTGAD,
                     f"{NEEDED} or htgad (env HTGAD) missing")
class TestShortEvaluation(unittest.TestCase):
    def test_short_run(self):
        import htga_eval

        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(support.ROOT, "experiments", "htga_eval.py")
            cmd = [sys.executable, script, "--short", "--out", tmp, "--doc", "", "--htgad", support.HTGAD]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=540)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            with open(os.path.join(tmp, "short_results.json")) as f:
                res = json.load(f)
            self.assertEqual(res["errors"], 0)
            rows = {(r["task"], r["method"]): r for r in res["rows"]}
            self.assertEqual(set(rows), {(t, m) for t in TASKS for m in METHODS})
            runs = res["runs"]
            evals = [r for r in runs if r["phase"] == "eval"]
            self.assertEqual(len(evals), 3 * len(rows))
            self.assertTrue(all(r["steps"] > 0 for r in runs))
            # every evaluation run reached htgad and got estimates back
            self.assertTrue(all(r["run"] in res["tails_runs"] for r in evals), res["tails_runs"])
            for r in res["rows"]:
                self.assertIsNotNone(r["alpha"][0], r)
                self.assertIsNotNone(r["kurt"][0], r)
                self.assertIsNotNone(r["logvar"][0], r)
                if not r["diverged"]:
                    self.assertTrue(math.isfinite(r["hess"][0]), r)
                    self.assertTrue(math.isfinite(r["noise"]), r)
            for r in evals:  # sharpness: power iteration within its limit, the noise proxy beside it
                if not r["diverged"]:
                    self.assertTrue(1 <= r["hess_iters"] <= 10 and isinstance(r["hess_conv"], bool), r)
            # HTGA's lambda follows its policy: linear:1 gives alpha (> 1 here),
            # power:2 gives alpha^-2 (< 1)
            self.assertGreater(rows[("charlm-mlp", "htga-lin1")]["lam"][0], 1.0)
            self.assertLess(rows[("charlm-mlp", "htga-pow2-ema-m")]["lam"][0], 1.0)
            for t in ("charlm-mlp", "charlm-tf"):  # cross-entropy per character; the best below a uniform guess
                tests = [rows[(t, m)]["test"][0] for m in METHODS]
                self.assertTrue(all(0 < x and math.isfinite(x) for x in tests), tests)
                self.assertLess(min(tests), math.log(80))
            # a paired comparison per task, HTGA method and baseline
            self.assertEqual(len(res["comparisons"]), len(TASKS) * 2 * 5)
            self.assertTrue(all(c["v"] in "WTL" for c in res["comparisons"]))
            # the baselines are deterministic: repeated runs of one seed agree exactly
            for s in res["spreads"]:
                if not s["method"].startswith("htga"):
                    self.assertEqual(s["rep"][1], 0.0, s)
            d = res["dist"]
            self.assertEqual(d["samples_stored"], d["samples_sent"])
            # the ranks draw their lambdas from one sequence (a rank polling once a
            # step can miss a value when two arrive between its polls)
            self.assertTrue(htga_eval.lambda_sequences(d["ranks"])[0])
            self.assertLess(d["mean_block_span"], d["expected_span_one"])
            self.assertEqual(max(r["max_param_diff"] for r in d["ranks"]), 0.0)
            ov = res["overhead"]["variants"]
            self.assertEqual(set(ov), {"sgd", "monitor", "htga", "default-monitor", "default-htga"})
            for k, v in ov.items():  # timed in turns in one process: a ratio to SGD inside its interval
                self.assertGreater(v["ms"], 0, k)
                self.assertLessEqual(v["ci"][0], v["ratio"], k)
                self.assertLessEqual(v["ratio"], v["ci"][1], k)
            self.assertEqual(ov["sgd"]["ratio"], 0.0)
            for k in ("sgd", "monitor", "htga"):  # peak RSS, each alone in its own process
                self.assertGreater(ov[k]["rss_mb"], 10, k)
            for png in ("short_paired_diffs.png", "short_tails_over_training.png"):
                self.assertGreater(os.path.getsize(os.path.join(tmp, png)), 1000)
            with open(os.path.join(tmp, "short_results.md")) as f:
                md = f.read()
            self.assertIn("| htga-lin1 |", md)
            self.assertIn("### Wins, ties and losses", md)
            self.assertIn("sharing one htgad run", md)
            self.assertNotIn("Incomplete", md)
            # resuming a finished run runs nothing again and reports the same
            again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
            self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
            with open(os.path.join(tmp, "state", "sessions.json")) as f:
                self.assertEqual([x["runs"] for x in json.load(f)], [res["nruns"], 0])
            with open(os.path.join(tmp, "short_results.json")) as f:
                res2 = json.load(f)
            self.assertEqual(res2["comparisons"], res["comparisons"])


if __name__ == "__main__":
    unittest.main()
