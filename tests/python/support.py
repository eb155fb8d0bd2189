"""Shared helpers of the Python tests: where the built libhtga and htgad are
(from meson's env: HTGA_LIBRARY, HTGAD), a real htgad on a private ipc://
endpoint with its own database, and polling with a deadline."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

HTGAD = os.environ.get("HTGAD", "")


def have_module(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def wait_for(cond, timeout=10.0, every=0.02):
    """Polls cond() until it is truthy or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(every)


class Daemon:
    """A real htgad in a temporary directory, listening on ipc://; stopped by
    SIGTERM (which flushes its database) in stop() or on context exit."""

    def __init__(self, *flags, block_samples=1024):
        if not HTGAD or not os.access(HTGAD, os.X_OK):
            raise RuntimeError(f"htgad not found (HTGAD={HTGAD!r})")
        self.dir = tempfile.mkdtemp(prefix="htga-pytest-")
        self.endpoint = "ipc://" + os.path.join(self.dir, "htgad.sock")
        self.db = os.path.join(self.dir, "htga.db")
        self.log = open(os.path.join(self.dir, "htgad.log"), "w+")
        args = [HTGAD, "--db", self.db, "--listen", self.endpoint, "--http", "off",
                "--block-samples", str(block_samples), *flags]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        ok = wait_for(lambda: os.path.exists(self.endpoint[6:]) or self.proc.poll() is not None, 10)
        if not ok or self.proc.poll() is not None:
            raise RuntimeError("htgad did not start:\n" + self.logtext())

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def rows(self, sql, *args):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
