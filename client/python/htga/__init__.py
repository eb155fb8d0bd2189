"""htga: Python binding of libhtga, the client of the htgad daemon.

A trainer streams samples of its gradients to htgad, which estimates their
tail index block by block and pushes back a per-group gradient scale lambda.
This module is a thin ctypes layer over the C library (there is no second
implementation of the wire protocol here); the PyTorch helpers live in
``htga.torch``.

    import htga
    with htga.Client("tcp://127.0.0.1:5555", "my-run") as c:
        c.send("layer1.weight", step, grad)   # numpy array or torch tensor
        lam = c.lambda_("layer1.weight")      # 1.0 until the daemon answers

The library is loaded from, in order: the path in the environment variable
HTGA_LIBRARY (then nothing else), else the installed libhtga
(ctypes.util.find_library), else the meson build tree of the source checkout
this file sits in (<root>/build*/client/libhtga.so). When none loads,
HtgaLibraryError lists every path tried and why it failed.
"""

import ctypes
import ctypes.util
import glob
import os
import threading

__all__ = [
    "Client",
    "HtgaError",
    "HtgaLibraryError",
    "library_path",
    "version",
    "strerror",
    "OK",
    "SKIPPED",
    "EINVAL",
    "ENOMEM",
    "EZMQ",
    "EDROPPED",
    "ENOTFOUND",
    "ETIMEDOUT",
    "ENOTSUP",
    "EBUSY",
    "ERESET",
]

# Result codes of htga.h (negative: errors).
OK = 0
SKIPPED = 1
EINVAL = -1
ENOMEM = -2
EZMQ = -3
EDROPPED = -4
ENOTFOUND = -5
ETIMEDOUT = -6
ENOTSUP = -7
EBUSY = -8
ERESET = -9

# Options of htga.h (htga_option).
_OPT_MAX_SAMPLES = 1
_OPT_RANK = 2
_OPT_QUEUE_DEPTH = 3
_OPT_SEED = 4
_OPT_CONNECT_GRACE_MS = 5
_OPT_HELLO_INTERVAL_MS = 6
_OPT_SAMPLE_CLUSTER = 7
_OPT_QUEUE_BYTES = 8
_OPT_FOLLOW_BUDGET = 9
_BARRIER_CLOSE = 1
_OPT_CURVE_SERVER_KEY = 10
_OPT_CURVE_PUBLIC_KEY = 11
_OPT_CURVE_SECRET_KEY = 12
_OPT_CURVE_KEY_FILE = 13

_ABI_MAJOR = 0  # HTGA_VERSION_MAJOR this binding was written against


class HtgaError(Exception):
    """A libhtga call failed. ``code`` is the negative htga error code and the
    message carries htga_strerror()'s text."""

    def __init__(self, code, text, what=""):
        self.code = code
        self.text = text
        super().__init__(f"{what}: {text} (code {code})" if what else f"{text} (code {code})")


class HtgaLibraryError(OSError):
    """libhtga could not be loaded; ``tried`` lists (path, reason) pairs."""

    def __init__(self, tried):
        self.tried = tried
        lines = "\n".join(f"  {p}: {why}" for p, why in tried) or "  (nothing)"
        super().__init__(
            "libhtga not found. Tried, in order:\n" + lines + "\n"
            "Set HTGA_LIBRARY to the path of libhtga.so, install htga "
            "(meson install), or build it (meson compile -C build)."
        )


class _Stats(ctypes.Structure):
    _fields_ = [
        ("sends", ctypes.c_uint64),
        ("msgs_sent", ctypes.c_uint64),
        ("samples_sent", ctypes.c_uint64),
        ("bytes_sent", ctypes.c_uint64),
        ("drops_queue", ctypes.c_uint64),
        ("drops_offline", ctypes.c_uint64),
        ("lambdas_recv", ctypes.c_uint64),
        ("bad_msgs_recv", ctypes.c_uint64),
        # libhtga 0.4 (an older library leaves them 0: only its size is copied)
        ("offered", ctypes.c_uint64),
        ("skipped_budget", ctypes.c_uint64),
        ("drops_evicted", ctypes.c_uint64),
        ("queue_msgs", ctypes.c_uint64),
        ("queue_bytes", ctypes.c_uint64),
        ("queue_bytes_max", ctypes.c_uint64),
        ("budgets_recv", ctypes.c_uint64),
        ("acks_recv", ctypes.c_uint64),
        ("acks_unmatched", ctypes.c_uint64),
        ("barriers_sent", ctypes.c_uint64),
        ("connections", ctypes.c_uint64),
        ("budget_values_min", ctypes.c_uint64),
        ("budget_values_max", ctypes.c_uint64),
        ("refused", ctypes.c_uint64),
        ("auth_failures", ctypes.c_uint64),
    ]


class _Ack(ctypes.Structure):
    _fields_ = [
        ("msgs", ctypes.c_uint64),
        ("values", ctypes.c_uint64),
        ("values_refused", ctypes.c_uint64),
        ("blocks_stored", ctypes.c_uint64),
        ("blocks_lost", ctypes.c_uint64),
        ("status", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("msgs_sent", ctypes.c_uint64),
        ("values_sent", ctypes.c_uint64),
        ("connection", ctypes.c_uint64),
    ]


def _build_tree_candidates():
    """libhtga.so in the meson build directories of the checkout this package
    sits in (client/python/htga/__init__.py -> repository root)."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    if not os.path.isfile(os.path.join(root, "client", "htga.h")):
        return []
    found = sorted(glob.glob(os.path.join(root, "*", "client", "libhtga.so")))
    # a directory named "build" first, then the others alphabetically
    found.sort(key=lambda p: os.path.basename(os.path.dirname(os.path.dirname(p))) != "build")
    return found or [os.path.join(root, "build", "client", "libhtga.so")]


def _candidates():
    env = os.environ.get("HTGA_LIBRARY")
    if env:
        # an explicit choice is never silently replaced by another library
        return [("HTGA_LIBRARY", env)]
    out = []
    name = ctypes.util.find_library("htga")
    out.append(("installed", name))
    for p in _build_tree_candidates():
        out.append(("build tree", p))
    return out


def _declare(lib):
    c_htga_p = ctypes.c_void_p
    lib.htga_version.restype = ctypes.c_char_p
    lib.htga_version.argtypes = []
    lib.htga_version_number.restype = ctypes.c_int
    lib.htga_version_number.argtypes = []
    lib.htga_strerror.restype = ctypes.c_char_p
    lib.htga_strerror.argtypes = [ctypes.c_int]
    lib.htga_create.restype = ctypes.c_int
    lib.htga_create.argtypes = [ctypes.POINTER(c_htga_p), ctypes.c_char_p, ctypes.c_char_p]
    lib.htga_destroy.restype = None
    lib.htga_destroy.argtypes = [ctypes.POINTER(c_htga_p)]
    lib.htga_set_int.restype = ctypes.c_int
    lib.htga_set_int.argtypes = [c_htga_p, ctypes.c_int, ctypes.c_int64]
    if hasattr(lib, "htga_set_str"):  # libhtga before 0.3 lacks it (no CURVE)
        lib.htga_set_str.restype = ctypes.c_int
        lib.htga_set_str.argtypes = [c_htga_p, ctypes.c_int, ctypes.c_char_p]
    lib.htga_send.restype = ctypes.c_int
    lib.htga_send.argtypes = [c_htga_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t]
    if hasattr(lib, "htga_send_many"):  # libhtga before 0.2.0 lacks it
        lib.htga_send_many.restype = ctypes.c_int
        lib.htga_send_many.argtypes = [c_htga_p, ctypes.c_int64, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
                                       ctypes.POINTER(ctypes.c_int)]
    lib.htga_lambda.restype = ctypes.c_double
    lib.htga_lambda.argtypes = [c_htga_p, ctypes.c_char_p]
    lib.htga_lambda_get.restype = ctypes.c_int
    lib.htga_lambda_get.argtypes = [c_htga_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]
    lib.htga_flush.restype = ctypes.c_int
    lib.htga_flush.argtypes = [c_htga_p, ctypes.c_int]
    lib.htga_stats_get.restype = ctypes.c_int
    lib.htga_stats_get.argtypes = [c_htga_p, ctypes.POINTER(_Stats), ctypes.c_size_t]
    if hasattr(lib, "htga_barrier"):  # libhtga before 0.4 lacks these
        lib.htga_connected.restype = ctypes.c_int
        lib.htga_connected.argtypes = [c_htga_p]
        lib.htga_barrier.restype = ctypes.c_int
        lib.htga_barrier.argtypes = [c_htga_p, ctypes.c_uint, ctypes.c_int, ctypes.POINTER(_Ack), ctypes.c_size_t]
        lib.htga_group_budget.restype = ctypes.c_int
        lib.htga_group_budget.argtypes = [c_htga_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32),
                                          ctypes.POINTER(ctypes.c_uint32)]


_lib = None
_lib_path = None
_lib_lock = threading.Lock()


def _load():
    """Loads libhtga once, in the documented order; raises HtgaLibraryError."""
    global _lib, _lib_path
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for origin, path in _candidates():
            if not path:
                tried.append((f"<{origin}>", "find_library('htga') found nothing"))
                continue
            label = f"{path} ({origin})"
            if origin != "installed" and not os.path.exists(path):
                tried.append((label, "no such file"))
                continue
            try:
                lib = ctypes.CDLL(path)
                _declare(lib)
            except (OSError, AttributeError) as e:
                tried.append((label, str(e)))
                continue
            major = lib.htga_version_number() // 1000000
            if major != _ABI_MAJOR:
                tried.append((label, f"version {lib.htga_version().decode()} (this binding needs {_ABI_MAJOR}.x)"))
                continue
            _lib, _lib_path = lib, path
            return lib
        raise HtgaLibraryError(tried)


def library_path():
    """The path libhtga was loaded from (loading it if needed)."""
    _load()
    return _lib_path


def version():
    """libhtga's version string, e.g. "0.4.0"."""
    return _load().htga_version().decode()


def strerror(code):
    """htga_strerror(code): static text for an error code."""
    return _load().htga_strerror(int(code)).decode("utf-8", "replace")


def _from_env(value, var, what):
    """`value`, or the environment variable `var` when value is None or empty."""
    if value is None or value == "" or value == b"":
        value = os.environ.get(var, "")
        if not value:
            raise HtgaError(EINVAL, f"no {what} given and {var} is not set", "htga_create")
    return value


def _name(s, what):
    if isinstance(s, str):
        return s.encode("utf-8")
    if isinstance(s, bytes):
        return s
    raise TypeError(f"{what} must be str or bytes, not {type(s).__name__}")


def _as_float32_buffer(array):
    """Returns (keepalive, address, count) of a float32 C-contiguous view of
    `array`. numpy float32 C-contiguous arrays and CPU float32 contiguous torch
    tensors are passed without a copy; anything else is converted once."""
    mod = type(array).__module__
    if mod.startswith("torch") and hasattr(array, "data_ptr"):
        import torch

        t = array
        if t.requires_grad:
            t = t.detach()
        if t.dtype is not torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
            t = t.to(device="cpu", dtype=torch.float32).contiguous()
        return t, t.data_ptr(), t.numel()
    import numpy as np

    a = np.asarray(array)
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)
    return a, a.ctypes.data, a.size


class Client:
    """One connection to htgad for run `run` (a libhtga handle).

    The constructor returns at once; the connection is made in the
    background and remade after a daemon restart. Nothing here blocks on the
    network. Options left at None keep libhtga's defaults (max_samples 65536
    values per send, queue_bytes 64 MiB of queued samples, queue_depth 0: no
    cap on the message count, follow_budget True: the daemon's budgets set
    values per send and every Nth step, sample_cluster 1: one value per
    stratum; L > 1 samples runs of L consecutive values, cheaper on large
    gradients but with less information per value, which htgad reports as
    a wider interval for alpha, see htga.h; connect_grace_ms is accepted
    and has no effect since libhtga 0.4).
    CURVE (htgad run with --curve-secret-key, docs/security.md):
    curve_server_key is htgad's public key, curve_key_file this client's
    `htga keygen` file (or curve_public_key and curve_secret_key); the
    environment's HTGA_CURVE_SERVER_KEY and HTGA_CURVE_KEY_FILE do the same.
    Use as a context manager, or call close().

    Configuration by environment, as a launcher sets it: an endpoint or run
    left at None comes from HTGA_ENDPOINT or HTGA_RUN, and a rank left at
    None from RANK (as torchrun sets it; libhtga reads it), else 0. So
    ``htga.Client()`` under ``HTGA_ENDPOINT=... HTGA_RUN=... torchrun`` needs
    no other argument.
    """

    def __init__(
        self,
        endpoint=None,
        run=None,
        rank=None,
        max_samples=None,
        queue_depth=None,
        seed=None,
        connect_grace_ms=None,
        hello_interval_ms=None,
        sample_cluster=None,
        queue_bytes=None,
        follow_budget=None,
        curve_server_key=None,
        curve_key_file=None,
        curve_public_key=None,
        curve_secret_key=None,
    ):
        self._lib = _load()
        self._send_fn = self._lib.htga_send
        self._send_many_fn = getattr(self._lib, "htga_send_many", None)
        self._lambda_fn = self._lib.htga_lambda
        self.max_samples = 65536 if max_samples is None else int(max_samples)
        self._h = ctypes.c_void_p()
        endpoint = _from_env(endpoint, "HTGA_ENDPOINT", "endpoint")
        run = _from_env(run, "HTGA_RUN", "run")
        self.endpoint = endpoint
        self.run = run
        rc = self._lib.htga_create(ctypes.byref(self._h), _name(endpoint, "endpoint"), _name(run, "run"))
        self._check(rc, "htga_create")
        try:
            for opt, v in (
                (_OPT_RANK, rank),
                (_OPT_MAX_SAMPLES, max_samples),
                (_OPT_QUEUE_DEPTH, queue_depth),
                (_OPT_SEED, seed),
                (_OPT_CONNECT_GRACE_MS, connect_grace_ms),
                (_OPT_HELLO_INTERVAL_MS, hello_interval_ms),
                (_OPT_SAMPLE_CLUSTER, sample_cluster),
                (_OPT_QUEUE_BYTES, queue_bytes),
                (_OPT_FOLLOW_BUDGET, None if follow_budget is None else int(bool(follow_budget))),
            ):
                if v is not None:
                    self.set_option(opt, v)
            # the key pair first: the server key turns CURVE on (and reconnects)
            for opt, v in (
                (_OPT_CURVE_KEY_FILE, curve_key_file),
                (_OPT_CURVE_PUBLIC_KEY, curve_public_key),
                (_OPT_CURVE_SECRET_KEY, curve_secret_key),
                (_OPT_CURVE_SERVER_KEY, curve_server_key),
            ):
                if v is not None:
                    self.set_text_option(opt, v)
        except Exception:
            self.close()
            raise

    def _check(self, rc, what):
        if rc != OK:
            raise HtgaError(rc, self._lib.htga_strerror(rc).decode("utf-8", "replace"), what)

    def _handle(self):
        if not self._h:
            raise HtgaError(EINVAL, "the client is closed", "htga")
        return self._h

    def set_text_option(self, opt, value):
        """htga_set_str() (the CURVE keys and key file); raises HtgaError on a
        malformed key, an unreadable file or a libhtga without CURVE."""
        fn = getattr(self._lib, "htga_set_str", None)
        if fn is None:
            raise HtgaError(ENOTSUP, "this libhtga has no htga_set_str (CURVE)", "htga_set_str")
        self._check(fn(self._handle(), int(opt), _name(value, "option value")), "htga_set_str")

    def set_option(self, opt, value):
        """htga_set_int(); raises HtgaError on a bad value or unknown option."""
        self._check(self._lib.htga_set_int(self._handle(), int(opt), int(value)), "htga_set_int")
        if opt == _OPT_MAX_SAMPLES:
            self.max_samples = int(value)

    def send(self, group, step, array):
        """Sends a sample of the gradient `array` (numpy array, torch tensor,
        or anything numpy.asarray takes) of group `group` at training step
        `step`. Returns True when queued (it leaves as soon as the daemon
        takes it; while the daemon is away it waits in libhtga's queue) or
        skipped because the daemon's budget asks for this group only every
        Nth step (not a loss: stats()["skipped_budget"]); False when dropped
        because it did not fit in the queue (counted in stats(); never an
        exception: the trainer goes on). Raises HtgaError for bad arguments.
        A float32 contiguous CPU array is read in place, without a copy;
        libhtga subsamples it to max_samples values (or the budget's)."""
        keep, addr, n = _as_float32_buffer(array)
        if n == 0:
            raise HtgaError(EINVAL, strerror(EINVAL), "htga_send: empty array")
        rc = self._lib.htga_send(self._handle(), _name(group, "group"), int(step), addr, n)
        del keep
        if rc == EDROPPED:
            return False
        if rc != SKIPPED:
            self._check(rc, "htga_send")
        return True

    def send_many(self, step, items, codes=False):
        """Sends several groups' gradients of step `step` in one libhtga call
        (htga_send_many(): one message per group, in order, each sampled,
        queued, shed and counted as by send(); the I/O thread is woken once).
        `items` is a list of (group, array) pairs or a dict {group: array}.
        Returns one result per group, true when the call returns: a boolean
        as send() returns it (True queued or skipped by the budget, False
        dropped), or with codes=True the htga code (OK queued, SKIPPED,
        EDROPPED, ENOMEM). Raises HtgaError for bad arguments (then nothing is
        sent). Falls back to one send() per group on a libhtga without
        htga_send_many (then codes are OK or EDROPPED)."""
        pairs = list(items.items() if isinstance(items, dict) else items)
        if not pairs:
            return []
        if self._send_many_fn is None:
            ok = [self.send(g, step, a) for g, a in pairs]
            return [OK if v else EDROPPED for v in ok] if codes else ok
        k = len(pairs)
        keep, names = [], (ctypes.c_char_p * k)()
        ptrs, ns, rcs = (ctypes.c_void_p * k)(), (ctypes.c_size_t * k)(), (ctypes.c_int * k)()
        for i, (g, a) in enumerate(pairs):
            buf, addr, n = _as_float32_buffer(a)
            if n == 0:
                raise HtgaError(EINVAL, strerror(EINVAL), f"htga_send_many: empty array for group {g!r}")
            b = _name(g, "group")
            keep.append((buf, b))
            names[i], ptrs[i], ns[i] = b, addr, n
        rc = self._send_many_fn(self._handle(), int(step), k, names, ptrs, ns, rcs)
        del keep
        if rc < 0:
            self._check(rc, "htga_send_many")
        for r in rcs:
            if r not in (OK, SKIPPED, EDROPPED):
                self._check(r, "htga_send_many")
        if codes:
            return list(rcs)
        return [r != EDROPPED for r in rcs]

    def _raw_send(self, group_bytes, step, address, count):
        """htga_send() on memory the caller keeps alive: float32[count] at
        `address`; returns the htga code. For htga.torch's per-step path."""
        if not self._h:
            return EINVAL
        return self._send_fn(self._h, group_bytes, step, address, count)

    def _raw_lambda(self, group_bytes):
        return self._lambda_fn(self._h, group_bytes) if self._h else 1.0

    def lambda_(self, group):
        """The latest lambda the daemon pushed for `group`, 1.0 until one arrives."""
        return self._lib.htga_lambda(self._handle(), _name(group, "group"))

    def lambda_get(self, group):
        """The latest lambda for `group`, or None when none has arrived yet."""
        v = ctypes.c_double(1.0)
        rc = self._lib.htga_lambda_get(self._handle(), _name(group, "group"), ctypes.byref(v))
        if rc == ENOTFOUND:
            return None
        self._check(rc, "htga_lambda_get")
        return v.value

    def flush(self, timeout_ms=1000, durable=False, close_blocks=False):
        """Waits up to timeout_ms for queued messages to leave; True when all
        did, False at the deadline.

        durable=True waits for more, with htga_barrier(): until htgad has
        estimated and stored everything this client sent before the call
        (close_blocks=True also closes the run's open blocks first, so a
        partial block is stored). It returns the answer as a dict: the
        daemon's msgs, values, values_refused, blocks_stored, blocks_lost,
        status; the client's msgs_sent, values_sent, connection; and
        complete, True when msgs == msgs_sent and nothing was refused. It
        raises HtgaError with code ETIMEDOUT when no answer came in time (an
        htgad before 0.4 never answers) or ERESET when the connection was
        lost before the answer."""
        if durable:
            if getattr(self._lib, "htga_barrier", None) is None:
                raise HtgaError(ENOTSUP, "libhtga before 0.4 has no barrier", "htga_barrier")
            ack = _Ack()
            flags = _BARRIER_CLOSE if close_blocks else 0
            rc = self._lib.htga_barrier(self._handle(), flags, int(timeout_ms), ctypes.byref(ack), ctypes.sizeof(ack))
            self._check(rc, "htga_barrier")
            out = {name: getattr(ack, name) for name, _ in _Ack._fields_ if name != "flags"}
            out["complete"] = ack.msgs == ack.msgs_sent and ack.values_refused == 0
            return out
        rc = self._lib.htga_flush(self._handle(), int(timeout_ms))
        if rc == ETIMEDOUT:
            return False
        self._check(rc, "htga_flush")
        return True

    def connected(self):
        """True while a connection to htgad is up (htga_connected()). Sends
        do not fail while it is down, they wait in libhtga's queue."""
        fn = getattr(self._lib, "htga_connected", None)
        return True if fn is None else bool(fn(self._handle()))

    def group_budget(self, group):
        """The budget htgad set for `group` (its own, or the run-wide one) as
        (values_per_send, every), or None while none has arrived."""
        fn = getattr(self._lib, "htga_group_budget", None)
        if fn is None:
            return None
        v, e = ctypes.c_uint32(0), ctypes.c_uint32(1)
        rc = fn(self._handle(), _name(group, "group"), ctypes.byref(v), ctypes.byref(e))
        if rc == ENOTFOUND:
            return None
        self._check(rc, "htga_group_budget")
        return (v.value, e.value)

    def stats(self):
        """The handle's counters as a dict: sends, msgs_sent, samples_sent,
        bytes_sent, drops_queue, drops_offline, lambdas_recv, bad_msgs_recv,
        and since libhtga 0.4 offered, skipped_budget, drops_evicted,
        queue_msgs, queue_bytes, queue_bytes_max, budgets_recv, acks_recv,
        acks_unmatched, barriers_sent, connections, budget_values_min,
        budget_values_max (htga.h says what each counts). offered ==
        msgs_sent + drops_queue + drops_offline + skipped_budget +
        queue_msgs at any time."""
        s = _Stats()
        self._check(self._lib.htga_stats_get(self._handle(), ctypes.byref(s), ctypes.sizeof(s)), "htga_stats_get")
        return {name: getattr(s, name) for name, _ in _Stats._fields_}

    @property
    def closed(self):
        return not self._h

    def close(self):
        """Releases the handle (queued messages get at most 100 ms to leave;
        call flush() first to wait longer). Safe to call twice."""
        h = getattr(self, "_h", None)
        if h:
            self._lib.htga_destroy(ctypes.byref(h))
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<htga.Client run={self.run!r} endpoint={self.endpoint!r} {state}>"
