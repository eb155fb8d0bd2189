"""The evaluation script's short version (one seed, 30 steps, no tuning,
four tasks including the character-level LM, all four methods) against the real htgad, so that
experiments/htga_eval.py cannot rot."""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import support

NEEDED = ("torch", "numpy", "sklearn", "matplotlib")


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
            rows = {(r["task"], r["method"]) for r in res["rows"]}
            self.assertEqual(len(rows), 16)
            runs = res["runs"]
            self.assertTrue(all(r["steps"] > 0 for r in runs))
            # every monitored run reached htgad and got tail estimates back
            self.assertTrue(all(r["run"] in res["tails_runs"] for r in runs), res["tails_runs"])
            self.assertEqual(len(res["overhead"]), 3)
            for png in ("short_digits_accuracy.png", "short_linreg_sweep.png"):
                self.assertGreater(os.path.getsize(os.path.join(tmp, png)), 1000)
            lm = [r for r in res["rows"] if r["task"] == "charlm-mlp"]
            self.assertEqual({r["method"] for r in lm}, {"sgd", "nsgd", "clip", "htga"})
            for r in lm:  # cross-entropy per character, below a uniform guess over the characters
                self.assertTrue(0 < r["test"][0] < math.log(80), r)
                self.assertTrue(0 < r["test_acc"][0] <= 1, r)
            with open(os.path.join(tmp, "short_results.md")) as f:
                md = f.read()
            self.assertIn("| mlp-lowdata | htga |", md)
            self.assertIn("| charlm-mlp | htga |", md)


if __name__ == "__main__":
    unittest.main()
