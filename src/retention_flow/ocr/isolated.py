"""Decode an uploaded file in a child process bounded in memory and time.

PDFium cannot be interrupted once it parses or draws a page, and some files ask it for
gigabytes (eight million drawing operators, Form XObjects drawing each other) or crash it
outright (a Form XObject that draws itself aborts the process). So every file is read by
a fresh child forked by the decoder server (:mod:`retention_flow.ocr.decode_server`, one
per process that decodes, started on first use): the child caps its address space at its
start size plus ``memory_bytes`` and sends each page back as a PNG as soon as it is drawn;
this side lets it spend at most ``page_seconds`` of CPU time on each page and
``file_seconds`` on the file, and kills the child when either passes.
The caller never holds more than the pages' PNGs, and whatever the child allocated goes
back to the system when it exits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from retention_flow.ocr.errors import OcrUnavailable, ScanTooLarge, UnreadableInput
from retention_flow.ocr.limits import PageLimits

MB = 1024 * 1024
#: how long a child may take to say it is running (the first job also starts the server)
START_SECONDS = 30.0
#: how often the child's CPU time is looked at while a page is being drawn
POLL_SECONDS = 0.05
#: wall-clock time a file may take, as a multiple of its CPU allowance (a backstop)
WALL_FACTOR = 10


@dataclass(frozen=True)
class Isolation:
    """How long and how much memory one file's decoding may take."""

    #: CPU seconds the child may spend on one page (decoding, drawing, encoding it)
    page_seconds: float = 1.0
    #: CPU seconds the child may spend on the whole file
    file_seconds: float = 30.0
    #: address space the child may add to what it starts with
    memory_bytes: int = 1024 * MB


@dataclass(frozen=True)
class DecodedPage:
    """One page as the child drew it: greyscale, PNG-encoded."""

    width: int
    height: int
    png: bytes


class _Server:
    """The decoder fork server and its control socket."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        src = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": src if not path else os.pathsep.join([src, path])}
        self.process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
            [sys.executable, "-m", "retention_flow.ocr.decode_server", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.control = mine

    def new_job(self) -> Connection:
        """A channel to a freshly forked child."""
        mine, theirs = socket.socketpair()
        try:
            socket.send_fds(self.control, [b"J"], [theirs.fileno()])
        finally:
            theirs.close()
        return Connection(mine.detach())


_server_lock = threading.Lock()
_server: _Server | None = None


def _new_job() -> Connection:
    global _server
    with _server_lock:
        for attempt in (1, 2):
            if _server is None or _server.process.poll() is not None:
                _server = _Server()
            try:
                return _server.new_job()
            except OSError as exc:  # the server died: start another once
                if attempt == 2:
                    raise OcrUnavailable(f"the scan decoder is not running: {exc}") from exc
                _server = None
    raise AssertionError("unreachable")


def decode_isolated(data: bytes, limits: PageLimits, isolation: Isolation) -> list[DecodedPage]:
    """The file's pages, decoded in a child process; :class:`ScanTooLarge` (naming the
    limit) or :class:`UnreadableInput` otherwise (``OcrUnavailable`` when no decoder
    could be started: not the file's fault)."""
    conn = _new_job()
    child: _Child | None = None
    try:
        try:
            if not conn.poll(START_SECONDS):
                raise OcrUnavailable("the scan decoder did not start")
            _kind, pid = conn.recv()
            child = _Child(pid)
            conn.send((data, limits, isolation.memory_bytes, isolation.file_seconds))
        except (EOFError, OSError) as exc:
            raise OcrUnavailable(
                f"the scan decoder stopped before reading the file: {exc}"
            ) from exc
        pages = _collect(conn, pid, isolation)
        child.finished = True
        return pages
    finally:
        conn.close()
        if child is not None:
            child.stop()


class _Child:
    """A decoder child, killed unless it finished: through a pidfd taken while it is
    certainly alive (waiting for its job), so a recycled pid is never signalled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.finished = False
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # kernels before 5.3
            self.pidfd = None

    def stop(self) -> None:
        try:
            if not self.finished:
                if self.pidfd is not None:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                else:
                    os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it ended on its own meanwhile
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)


def _collect(conn: Connection, pid: int, isolation: Isolation) -> list[DecodedPage]:
    """The child's pages as they come. A page may take ``page_seconds`` of the child's CPU
    time, the file ``file_seconds`` (not wall-clock time: on a busy machine a normal page
    waits for a core, a drawing bomb burns one); wall-clock time is capped at
    ``WALL_FACTOR`` times the file's CPU allowance, a backstop only."""
    pages: list[DecodedPage] = []
    wall_deadline = time.monotonic() + WALL_FACTOR * isolation.file_seconds
    page_cpu = _cpu_seconds(pid)
    while True:
        # the file's allowance is checked on every turn, not only while waiting: pages that
        # each arrive within one poll would otherwise never be checked at all
        _check_file_time(_cpu_seconds(pid), len(pages), isolation, wall_deadline)
        if not conn.poll(POLL_SECONDS):
            if _cpu_seconds(pid) - page_cpu > isolation.page_seconds:
                raise ScanTooLarge(
                    f"page {len(pages) + 1} took more than {isolation.page_seconds:g} s of "
                    "CPU time to decode and draw (too much drawing work)",
                    limit="page_seconds",
                )
            continue
        try:
            message: tuple[Any, ...] = conn.recv()
        except EOFError:
            raise ScanTooLarge(_died(len(pages) + 1, isolation), limit="memory") from None
        kind = message[0]
        if kind == "page":
            pages.append(DecodedPage(message[1], message[2], message[3]))
            page_cpu = _cpu_seconds(pid)
        elif kind == "done":
            # the child's own count: once it has exited, /proc no longer has it
            _check_file_time(message[1], len(pages), isolation, wall_deadline)
            return pages
        elif kind == "too_large":
            raise ScanTooLarge(message[1], limit=message[2])
        else:
            raise UnreadableInput(message[1])


def _check_file_time(cpu: float, pages: int, isolation: Isolation, wall_deadline: float) -> None:
    if cpu > isolation.file_seconds or time.monotonic() > wall_deadline:
        raise ScanTooLarge(
            f"reading the file took more than {isolation.file_seconds:g} s of CPU "
            f"time (stopped after {pages} pages)",
            limit="file_seconds",
        )


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _died(page_no: int, isolation: Isolation) -> str:
    where = f" on page {page_no}" if page_no else ""
    return (
        f"the decoder stopped{where}: the file needs more than "
        f"{isolation.memory_bytes // MB} MB of memory to decode, or it crashed the decoder"
    )
