"""Helpers for tests that run the product's own processes (``retention-flow up``,
workers): free ports, deadline polls, the child environment, the supervisor's events."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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


def next_event(stream: IO[str], kind: str) -> dict[str, Any]:
    """Read the supervisor's JSON lines up to the next one of ``kind``."""
    for line in stream:
        if line.startswith("{"):
            event = json.loads(line)
            if event["event"] == kind:
                return dict(event)
    raise AssertionError(f"the supervisor ended before '{kind}'")


@contextmanager
def deployment(
    db_url: str, cwd: Path, *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], int]]:
    """``retention-flow up ARGS`` on a free port: (process, its "up" event, port); SIGTERM
    at the end (the supervisor stops its children)."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "retention_flow.cli", "up", "--port", str(port), *args],
        cwd=cwd,
        env=child_env(db_url, **env),
        stdout=subprocess.PIPE,
        stderr=(cwd / "up.log").open("ab"),
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process, next_event(process.stdout, "up"), port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
