"""SQLite WAL checkpoints off the step path.

In WAL mode SQLite copies the log back into the database file (a checkpoint, with two
fsyncs) inside whichever commit pushes the log past ``wal_autocheckpoint`` pages. A
step writes about 30 pages, so one step in every 30 or so paid 10-25 ms for everyone
else's pages, a third or more of the average commit. Here a thread of the process runs
a PASSIVE checkpoint every ``interval`` seconds on a connection of its own: it never
blocks a writer (the steps keep committing while it copies), and it syncs the log before
copying, so a commit reaches the disk within about ``interval`` plus one checkpoint
(before, only once a commit pushed the log past a thousand pages, however long that took:
with ``synchronous=NORMAL`` a commit is safe from a crash of the process at once, from a
power loss only once synced).
Commits still checkpoint themselves as a backstop once the log passes ``BACKSTOP_PAGES``
(a passive checkpoint never waits, so under a steady stream of commits the log is not
reset until a commit does it). ``synchronous`` stays as the engine sets it (NORMAL).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: ``wal_autocheckpoint`` while a checkpointer runs: commits checkpoint only past this
BACKSTOP_PAGES = 10_000


@dataclass(frozen=True)
class Checkpoint:
    """What ``PRAGMA wal_checkpoint(PASSIVE)`` answered: busy (another checkpoint ran),
    frames in the log, frames now copied into the database file."""

    busy: bool
    log_frames: int
    checkpointed: int


class Checkpointer:
    """One background thread checkpointing one SQLite file; ``ensure_running`` starts
    it (again after a fork or ``stop``), ``stop`` ends it and closes its connection."""

    def __init__(self, path: str, interval: float, busy_timeout_ms: int) -> None:
        self.path = path
        self.interval = interval
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: called by the thread after each round (observability, tests)
        self.on_round: Callable[[Checkpoint], None] | None = None
        self.on_error: Callable[[sqlite3.Error], None] | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def ensure_running(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._loop, args=(self._stop,), name="sqlite-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def run_once(self, conn: sqlite3.Connection | None = None) -> Checkpoint:
        """One PASSIVE checkpoint (on ``conn``, else on a connection opened for it)."""
        own = conn is None
        conn = conn or self._connect()
        try:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            if own:
                conn.close()
        return Checkpoint(bool(busy), int(frames), int(done))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _loop(self, stop: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not stop.wait(self.interval):
                try:
                    conn = conn or self._connect()
                    result = self.run_once(conn)
                except sqlite3.Error as exc:  # busy, file gone: the next round tries again
                    log.warning("sqlite checkpoint of %s failed: %s", self.path, exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    if self.on_error is not None:
                        self.on_error(exc)
                    continue
                log.debug(
                    "checkpoint of %s: %d of %d log frames in the database file%s",
                    self.path,
                    result.checkpointed,
                    result.log_frames,
                    " (another checkpoint was running)" if result.busy else "",
                )
                if self.on_round is not None:
                    self.on_round(result)
        finally:
            if conn is not None:
                conn.close()
