"""Worker processes that run diagram scripts, so no script can freeze or exhaust the server.

Each worker is a child Python process (``script_worker``) with an address-space limit
(``RLIMIT_AS``) and a CPU limit. A request (script, task data, options) goes down its stdin
as a pickle; the answer comes back on its stdout. The serving thread waits on the pipe with
the GIL released; when the worker has not answered by the budget plus a grace period it is
killed (``SIGKILL``) and replaced in the background, and the script fails with
``ScriptBudgetExceeded``. A worker that hit its memory limit, died or sent something
malformed is replaced as well.

The answer is decoded with an unpickler that builds only plain data and a few ``datetime``
types, never arbitrary classes: a script that escaped the sandbox inside a worker still
cannot run code in the server through its answer. Its size is bounded by the worker's own
check of the task data (``max_data_bytes``) and again here, before decoding.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import io
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from retention_flow.core.errors import ScriptBudgetExceeded, ScriptError, ScriptRefused

HEADER = struct.Struct(">Q")
READY = b"R"
SPAWN_TIMEOUT = 30.0
WORKER_NICENESS = 10
"""Workers yield the CPU to the serving process: a spinning script must not starve it."""
_BOOT = (
    "import os, sys; os.nice(int(sys.argv[3])); sys.path.insert(0, sys.argv[1]); "
    "from retention_flow.engine.script_worker import main; main()"
)
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])

_SCRIPT_ERRORS: dict[str, type[ScriptError]] = {
    cls.__name__: cls for cls in (ScriptError, ScriptRefused, ScriptBudgetExceeded)
}
_PLAIN_ERRORS: dict[str, type[BaseException]] = {
    name: cls
    for name, cls in vars(builtins).items()
    if isinstance(cls, type) and issubclass(cls, Exception) and not name.startswith("_")
}
_ALLOWED_GLOBALS = {
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "range"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("zoneinfo", "ZoneInfo"),
}


class _DataUnpickler(pickle.Unpickler):
    """Builds plain data only: scalars, containers and a few ``datetime`` types."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a script worker answered with a {module}.{name}")


def decode_answer(payload: bytes) -> Any:
    return _DataUnpickler(io.BytesIO(payload)).load()


def _worker_environment() -> dict[str, str]:
    """Workers get no secrets: not the settings (secret key, database URL), nothing else."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ}


class _WorkerGone(Exception):
    """The worker died or broke the protocol; it is replaced."""


class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", _BOOT, _SOURCE_ROOT, str(memory_bytes), str(WORKER_NICENESS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_worker_environment(),
            close_fds=True,
            start_new_session=True,
        )
        if self.process.stdin is None or self.process.stdout is None:
            raise _WorkerGone("script worker has no pipes")
        self.stdin = self.process.stdin.fileno()
        self.stdout = self.process.stdout.fileno()
        deadline = time.monotonic() + SPAWN_TIMEOUT
        if self._read(1, deadline) != READY:
            self.kill()
            raise _WorkerGone("script worker did not start")

    def ask(self, request: bytes, timeout: float, max_answer: int) -> bytes | None:
        """Send ``request``; the answer, or None when the worker did not answer in time."""
        message = HEADER.pack(len(request)) + request
        view = memoryview(message)
        try:
            while view:
                written = os.write(self.stdin, view)
                view = view[written:]
        except OSError as err:
            raise _WorkerGone(f"script worker is gone ({err})") from None
        deadline = time.monotonic() + timeout
        header = self._read(HEADER.size, deadline)
        if header is None:
            return None
        (size,) = HEADER.unpack(header)
        if size > max_answer:
            raise _WorkerGone(f"script worker answered {size:,} bytes")
        return self._read(size, deadline)

    def _read(self, size: int, deadline: float) -> bytes | None:
        chunks: list[bytes] = []
        missing = size
        while missing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.stdout], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.stdout, min(missing, 1 << 20))
            if not chunk:
                raise _WorkerGone(f"script worker died ({self._exit_status()})")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _exit_status(self) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "still running"
        return f"signal {-code}" if code < 0 else f"exit status {code}"

    def kill(self) -> None:
        """Kill and reap in the background (waiting would hold up the request)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process.wait()


class ScriptPool:
    """``size`` worker processes shared by a process's threads (see the module docstring).

    Workers start on first use (a command that runs no script starts none) or with
    ``start()``, which the API calls at startup.
    """

    def __init__(self, size: int, memory_bytes: int, grace_seconds: float) -> None:
        self.size = size
        self.memory_bytes = memory_bytes
        self.grace_seconds = grace_seconds
        self.max_answer = 64 * 1024 * 1024
        self.pid = os.getpid()
        self._idle: list[_Worker] = []
        self._count = 0  # workers alive or starting
        self._cond = threading.Condition()
        self._closed = False
        self.kills = 0

    def start(self) -> None:
        """Start the missing workers in the background (else they start on first use)."""
        with self._cond:
            while self._count < self.size and not self._closed:
                self._start_replacement()

    def warm_up(self, timeout: float = SPAWN_TIMEOUT) -> None:
        """Wait until every worker has started (tests and benchmarks time scripts, not starts)."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._idle) < self.size and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())

    def run(self, request: tuple[Any, ...]) -> Any:
        """Run a ``script_worker`` request; its value, or the script's error raised here."""
        options = request[-1]
        budget = float(options["budget_seconds"])
        self.max_answer = max(self.max_answer, 4 * int(options["max_data_bytes"]) + 65536)
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        for attempt in range(2):
            worker = self._take()
            try:
                answer = worker.ask(payload, budget + self.grace_seconds, self.max_answer)
            except _WorkerGone as err:
                self._discard(worker)
                if attempt == 0 and "gone" in str(err):
                    continue  # it died while idle: try a fresh one once
                raise ScriptError(f"the script's worker process failed: {err}") from None
            if answer is None:
                self._discard(worker)
                self.kills += 1
                raise ScriptBudgetExceeded(
                    f"script ran longer than {budget} s (stopped inside one operation "
                    f"after {budget + self.grace_seconds:.2f} s; its worker process was killed)"
                )
            return self._finish(worker, answer)
        raise AssertionError("unreachable")

    def _finish(self, worker: _Worker, answer: bytes) -> Any:
        try:
            status, value, *rest = decode_answer(answer)
        except Exception as err:
            self._discard(worker)
            raise ScriptError(f"the script's worker process answered badly: {err}") from None
        recycle = status == "error" and rest == [True]
        if recycle:
            self._discard(worker)
        else:
            self._give_back(worker)
        if status == "ok":
            return value
        raise rebuild_error(value, self.memory_bytes)

    # -- the workers ---------------------------------------------------------------------

    def _take(self) -> _Worker:
        deadline = time.monotonic() + SPAWN_TIMEOUT
        with self._cond:
            while not self._idle:
                if self._closed:
                    raise ScriptError("the script workers are shut down")
                if self._count < self.size:
                    self._start_replacement()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ScriptError("no script worker process became free")
                self._cond.wait(remaining)
            return self._idle.pop()

    def _give_back(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._cond:
            self._count -= 1
            if not self._closed:
                self._start_replacement()

    def _start_replacement(self) -> None:
        """Start one worker in the background (call with the lock held or in ``__init__``)."""
        self._count += 1
        threading.Thread(target=self._spawn, daemon=True, name="script-worker-start").start()

    def _spawn(self) -> None:
        try:
            worker = _Worker(self.memory_bytes)
        except Exception:
            with self._cond:
                self._count -= 1
                self._cond.notify_all()
            return
        self._give_back(worker)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.kill()


def rebuild_error(value: tuple[Any, ...], memory_bytes: int) -> BaseException:
    """The exception a worker reported, as the class it was (script errors and builtins)."""
    name, args, detail, errors, line = value
    error: BaseException
    if name in _SCRIPT_ERRORS:
        error = _SCRIPT_ERRORS[name](detail, errors=errors)
    elif name == "MemoryError":
        error = ScriptBudgetExceeded(
            f"script needed more than the {memory_bytes // (1024 * 1024)} MB of memory "
            "a script may use"
        )
    elif name in _PLAIN_ERRORS:
        try:
            error = _PLAIN_ERRORS[name](*args)
        except Exception:
            error = ScriptError(f"{name}: {detail}")
    else:
        error = ScriptError(f"{name}: {detail}")
    error.script_line = line  # type: ignore[attr-defined]
    return error


_shared: dict[tuple[int, int, float], ScriptPool] = {}
_shared_lock = threading.Lock()


def shared_pool(size: int, memory_mb: int, grace_seconds: float) -> ScriptPool:
    """The process's pool for these limits (a forked child gets its own)."""
    key = (size, memory_mb, grace_seconds)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool.pid != os.getpid():
            pool = _shared[key] = ScriptPool(size, memory_mb * 1024 * 1024, grace_seconds)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_shared.values()):
        if pool.pid == os.getpid():
            pool.close()
