#!/usr/bin/python3
"""Runs every code block of README.md and docs/*.md marked runnable, so the
docs cannot rot.

A block is runnable when the line before its fence is

    <!-- runnable -->                      (run it)
    <!-- runnable file=examples/embed.c --> (run it; it must equal that file)

All blocks run in document order (README.md, then docs/*.md by name)
against one test htgad on free loopback ports with a temporary database; in
each block the README's addresses, tcp://127.0.0.1:5555 and 127.0.0.1:8080,
become that htgad's. Before each block the daemon is let settle (its queues
empty, every closed block stored), so a block may read what an earlier one
sent.

- c: `cc -Wall -Wextra -Werror BLOCK.c $(pkg-config --cflags --libs htga) -lm`
  against the build tree (its htga-uninstalled.pc), then run;
- python: Debian's /usr/bin/python3 with the checkout's package and the
  build's libhtga;
- sh: bash -euo pipefail in a scratch directory that holds grads.npy and
  grads.f32 (Student-t(3) samples), with the build's htga and htgad first
  on PATH.

Usage: run_blocks.py SOURCE_ROOT BUILD_ROOT
"""

import glob
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

MARK = re.compile(r"^<!-- runnable(?: file=(\S+))? -->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path):
    """(line, lang, code, file) of each runnable block of the Markdown file."""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if not m:
            i += 1
            continue
        f = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not f or not f.group(1):
            raise SystemExit(f"{path}:{i + 1}: a runnable mark must be followed by a fence with a language")
        j = i + 2
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{i + 2}: unterminated block")
        out.append((i + 2, f.group(1), "\n".join(lines[i + 2:j]) + "\n", m.group(1)))
        i = j + 1
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def settled(http):
    """htgad's queues are empty and every block it estimated is stored."""
    s = get_json(f"http://{http}/api/v1/stats")
    q = s.get("queue_depth", {})
    return (q.get("estimator", 0) == 0 and q.get("writer", 0) == 0
            and s["blocks_estimated"] <= s["rows_written"])


def scratch_files(d):
    """grads.npy (float32, 1-d) and grads.f32 of Student-t(3) values."""
    import random

    r = random.Random(3)
    vals = []
    for _ in range(200_000):
        z = r.gauss(0, 1)
        vals.append(z / (r.gammavariate(1.5, 2.0) / 3) ** 0.5)
    raw = struct.pack(f"<{len(vals)}f", *vals)
    open(os.path.join(d, "grads.f32"), "wb").write(raw)
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % len(vals)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    open(os.path.join(d, "grads.npy"), "wb").write(
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + raw)


def run_block(lang, code, tmp, env, n):
    # an ASan build's libhtga needs its runtime preloaded into the programs
    # that load it uninstrumented (python, the C blocks' programs), and only
    # there: curl under a preloaded ASan runtime hangs
    penv = dict(env)
    if env.get("HTGA_ASAN_PRELOAD"):
        penv["LD_PRELOAD"] = env["HTGA_ASAN_PRELOAD"]
    if lang == "c":
        src, exe = os.path.join(tmp, f"block{n}.c"), os.path.join(tmp, f"block{n}")
        open(src, "w").write(code)
        built = subprocess.run(["bash", "-c", f"cc -Wall -Wextra -Werror -o {exe} {src}"
                                " $(pkg-config --cflags --libs htga) -lm"], env=env, cwd=tmp,
                               capture_output=True, text=True, timeout=120)
        if built.returncode != 0:
            return built  # the compiler's diagnostics are the failure's output
        return subprocess.run([exe], env=penv, cwd=tmp, capture_output=True, text=True,
                              timeout=120)
    if lang == "python":
        return subprocess.run(["/usr/bin/python3", "-c", code], env=penv, cwd=tmp,
                              capture_output=True, text=True, timeout=300)
    if lang in ("sh", "bash"):
        return subprocess.run(["bash", "-euo", "pipefail", "-c", code], env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=120)
    raise SystemExit(f"no runner for language '{lang}'")


def main():
    root, build = (os.path.abspath(a) for a in sys.argv[1:3])
    files = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    todo = [(f, *b) for f in files for b in blocks(f)]
    if not todo:
        raise SystemExit("no runnable block found: that is a failure")
    with tempfile.TemporaryDirectory(prefix="htga-docs-") as tmp:
        zport, hport = free_port(), free_port()
        endpoint, http = f"tcp://127.0.0.1:{zport}", f"127.0.0.1:{hport}"
        log = open(os.path.join(tmp, "htgad.log"), "w")
        d = subprocess.Popen([os.path.join(build, "daemon", "htgad"), "--db", os.path.join(tmp, "t.db"),
                              "--listen", endpoint, "--http", http, "--block-samples", "4096",
                              "--web-root", os.path.join(root, "web")], stderr=log)
        failed = 0
        try:
            wait_for(lambda: get_json(f"http://{http}/api/v1/health")["status"] == "ok", 20, "htgad")
            scratch_files(tmp)
            env = dict(os.environ)
            env.update(
                PKG_CONFIG_PATH=os.path.join(build, "meson-uninstalled"),
                LD_LIBRARY_PATH=os.path.join(build, "client"),
                HTGA_LIBRARY=os.path.join(build, "client", "libhtga.so"),
                PYTHONPATH=os.path.join(root, "client", "python"),
                PATH=os.pathsep.join([os.path.join(build, "cli"), os.path.join(build, "daemon"),
                                      env.get("PATH", "")]),
            )
            for n, (path, line, lang, code, same_as) in enumerate(todo):
                where = f"{os.path.relpath(path, root)}:{line} ({lang})"
                if same_as and open(os.path.join(root, same_as)).read() != code:
                    print(f"FAIL {where}: differs from {same_as}")
                    failed += 1
                    continue
                wait_for(lambda: settled(http), 20, "htgad to store what it was sent")
                code = code.replace("tcp://127.0.0.1:5555", endpoint).replace("127.0.0.1:8080", http)
                t0 = time.monotonic()
                r = run_block(lang, code, tmp, env, n)
                dt = time.monotonic() - t0
                if r.returncode != 0:
                    failed += 1
                    print(f"FAIL {where}: exit {r.returncode} after {dt:.1f} s\n--- code\n{code}"
                          f"--- stdout\n{r.stdout[-3000:]}--- stderr\n{r.stderr[-3000:]}")
                else:
                    first = (r.stdout.strip().splitlines() or [""])[0][:100]
                    print(f"ok   {where} in {dt:.1f} s: {first}")
        finally:
            d.terminate()
            d.wait(timeout=30)
            log.close()
            if failed:
                print("--- htgad log\n" + open(os.path.join(tmp, "htgad.log")).read()[-3000:])
    print(f"{len(todo) - failed} of {len(todo)} runnable blocks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
