"""The evaluation script's short version (--short: few steps, 3 paired
seeds, a 3-point grid tuned on one seed with one extension, four tasks
including the character-level MLP and the transformer, seven methods, two
ranks, a tiny overhead measurement) against the real htgad, so that
experiments/htga_eval.py cannot rot."""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import support

NEEDED = ("torch", "numpy", "sklearn", "matplotlib", "scipy")
TASKS = {"mlp-lowdata", "linreg-nu1.5", "charlm-mlp", "charlm-tf"}
METHODS = {"sgd", "msgd", "nsgd", "mnsgd", "clip", "htga-lin1", "htga-pow2-ema-m"}


@unittest.skipUnless(all(map(support.have_module, NEEDED)) and support.HTGAD,
                     f"{NEEDED} or htgad (env HTGAD) missing")
class TestShortEvaluation(unittest.TestCase):
    def test_short_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(support.ROOT, "experiments", "htga_eval.py")
            out = subprocess.run([sys.executable, script, "--short", "--out", tmp, "--doc", "",
                                  "--htgad", support.HTGAD], capture_output=True, text=True, timeout=540)
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
            self.assertTrue(d["same_lambda_sequence"])
            self.assertLess(d["mean_block_span"], d["expected_span_one"])
            self.assertEqual(max(r["max_param_diff"] for r in d["ranks"]), 0.0)
            self.assertEqual(set(res["overhead"]["variants"]),
                             {"sgd", "monitor", "htga", "default-monitor", "default-htga"})
            for png in ("short_paired_diffs.png", "short_tails_over_training.png"):
                self.assertGreater(os.path.getsize(os.path.join(tmp, png)), 1000)
            with open(os.path.join(tmp, "short_results.md")) as f:
                md = f.read()
            self.assertIn("| htga-lin1 |", md)
            self.assertIn("### Wins, ties and losses", md)
            self.assertIn("sharing one htgad run", md)


if __name__ == "__main__":
    unittest.main()
