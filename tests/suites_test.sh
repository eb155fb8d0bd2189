#!/usr/bin/env bash
# Every test is in exactly one of the suites 'fast' and 'slow' (tests/meson.build),
# so `meson test --suite fast` plus `--suite slow` is the whole suite.
set -euo pipefail
meson introspect --tests "$1" | /usr/bin/python3 -c '
import json, sys
tests = json.load(sys.stdin)
suites = lambda t: {s.split(":")[-1] for s in t["suite"]}
bad = [t["name"] for t in tests if ("fast" in suites(t)) == ("slow" in suites(t))]
if not tests:
    sys.exit("no tests listed")
if bad:
    sys.exit("not in exactly one of fast/slow: " + ", ".join(bad))
print(len(tests), "tests, each in fast or slow")
'
