"""``retention-flow up``: one machine's deployment shape as child processes.

N serving processes (``serve --no-worker``) share one port with ``SO_REUSEPORT`` (the
kernel spreads connections over them), M ``retention-flow worker`` processes fire timers
and run jobs, and K ``retention-flow worker --celery`` processes read scanned pages from
the Redis broker. The supervisor applies the migrations once before anything starts (so
N processes do not race to migrate), starts every child, starts a child again when it
exits (kill -9, crash) after a short pause, and on SIGTERM/SIGINT stops them all
(SIGTERM, then SIGKILL after a grace period).

Each start is printed as one JSON line on stdout
(``{"event": "started", "role": "api", "index": 0, "pid": 1234}``), and the line
``{"event": "up", ...}`` once every child has started, so scripts (the fault bench, the
tests) can find the processes.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: pause before a child that exited is started again (seconds), and the cap of the back-off
RESTART_PAUSE = 0.5
RESTART_PAUSE_MAX = 10.0


@dataclass
class Child:
    role: str
    index: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Shape:
    """How many processes of each kind, and where the API listens."""

    api: int = 2
    workers: int = 1
    ocr_workers: int = 0
    ocr_concurrency: int = 1
    host: str = "127.0.0.1"
    port: int = 8000

    def children(self) -> list[Child]:
        cli = [sys.executable, "-m", "retention_flow.cli"]
        serve = [*cli, "serve", "--reuse-port", "--host", self.host, "--port", str(self.port)]
        # with no separate worker, the serving processes run the worker thread themselves
        serve.append("--no-worker" if self.workers else "--worker")
        out = [Child("api", i, serve) for i in range(self.api)]
        out += [Child("worker", i, [*cli, "worker"]) for i in range(self.workers)]
        ocr = [*cli, "worker", "--celery", "--concurrency", str(self.ocr_concurrency)]
        out += [Child("ocr", i, ocr) for i in range(self.ocr_workers)]
        return out


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "at": round(time.time(), 3), **fields}), flush=True)


class Supervisor:
    def __init__(self, children: list[Child], *, grace: float = 20.0) -> None:
        self.children = children
        self.grace = grace
        self.stopping = threading.Event()

    def _start(self, child: Child) -> None:
        # the children's output goes to stderr: stdout carries only the JSON events
        child.process = subprocess.Popen(child.argv, stdout=sys.stderr)  # noqa: S603
        child.started_at = time.monotonic()
        emit(
            "started",
            role=child.role,
            index=child.index,
            pid=child.process.pid,
            restarts=child.restarts,
        )

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)
        emit("up", pids={f"{c.role}{c.index}": c.process.pid for c in self.children if c.process})

    def check(self) -> None:
        """Start again every child that exited (after its pause)."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is None or process.poll() is None:
                continue
            if child.next_start == 0.0:
                # a child that ran a while restarts at once; one that keeps dying backs off
                quick = now - child.started_at < RESTART_PAUSE_MAX
                pause = min(RESTART_PAUSE_MAX, RESTART_PAUSE * 2 ** min(child.restarts, 5))
                child.next_start = now + (pause if quick else RESTART_PAUSE)
                emit(
                    "exited",
                    role=child.role,
                    index=child.index,
                    pid=process.pid,
                    code=process.returncode,
                )
            if now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self._start(child)

    def run(self, poll: float = 0.1) -> None:
        self.start_all()
        while not self.stopping.wait(poll):
            self.check()
        self.stop_all()

    def stop_all(self) -> None:
        live = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        emit("down")

    def handle_signals(self) -> None:
        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening address several processes bind at once (Linux spreads connections
    over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
