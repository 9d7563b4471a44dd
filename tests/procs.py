"""Helpers for tests that run the product's own processes (``retention-flow up``,
workers): free ports, deadline polls, the child environment, the supervisor's events."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(what: str, check: Callable[[], Any], deadline: float) -> float:
    """Poll ``check`` until it is truthy; the seconds it took (fails past ``deadline``)."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > deadline:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - began


def child_env(db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "RETENTION_FLOW_DATABASE_URL": db_url,
        "RETENTION_FLOW_WORKER_POLL_SECONDS": "0.2",
        **extra,
    }


class Events:
    """The supervisor's JSON lines, read in a thread as they come."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if line.startswith("{"):
                self.seen.append(json.loads(line))

    def wait(self, kind: str, after: int = 0, deadline: float = 120) -> dict[str, Any]:
        """The first event of ``kind`` past the first ``after`` events."""
        until(f"the supervisor's '{kind}'", lambda: self.find(kind, after), deadline)
        found = self.find(kind, after)
        assert found is not None
        return found

    def find(self, kind: str, after: int = 0) -> dict[str, Any] | None:
        return next((e for e in self.seen[after:] if e["event"] == kind), None)

    def pid(self, role: str, index: int) -> int:
        return int(
            [
                e
                for e in self.seen
                if e["event"] == "started" and (e["role"], e["index"]) == (role, index)
            ][-1]["pid"]
        )


@contextmanager
def deployment(
    db_url: str, cwd: Path, *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], Events, int]]:
    """``retention-flow up ARGS`` on a free port: (process, its events, port); SIGTERM at
    the end (the supervisor stops its children). The children's output is in up.log."""
    port = free_port()
    log = cwd / "up.log"
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "retention_flow.cli", "up", "--port", str(port), *args],
        cwd=cwd,
        env=child_env(db_url, **env),
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
        text=True,
    )
    try:
        assert process.stdout is not None
        events = Events(process.stdout)
        events.wait("up")
        yield process, events, port
    except BaseException:
        print(log.read_text()[-6000:])  # shown with the failure
        raise
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
