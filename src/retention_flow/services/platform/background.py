"""The worker inside the serving process: ``retention-flow serve`` fires timers and runs
jobs without a separate ``retention-flow worker``.

One daemon thread per serving process runs ``worker.run_worker``; the app's lifespan
starts it and stops it at shutdown (the loop sees the stop event between passes and
while idle). Several serving processes, and separate workers besides, stay safe: timers
and jobs are leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and firing a timer is a
case step guarded by the case's lock version. A pass that fails (the database went
away) is logged and the loop starts again after a pause.
"""

from __future__ import annotations

import logging
import threading

from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.worker import run_worker

log = logging.getLogger(__name__)

#: pause after a failed pass, in multiples of the poll interval
RESTART_POLLS = 5


def run_resilient(ctx: AppContext, poll_seconds: float, stop: threading.Event) -> None:
    """``run_worker`` until ``stop`` is set, starting it again after a pass that failed
    (the database restarting, say) instead of ending: ``serve``'s thread and the
    ``retention-flow worker`` command both run this."""
    while not stop.is_set():
        try:
            run_worker(ctx, poll_seconds=poll_seconds, stop=stop)
        except Exception:
            log.exception("the worker failed; starting again")
            stop.wait(poll_seconds * RESTART_POLLS)


class BackgroundWorker:
    def __init__(self, ctx: AppContext, poll_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds or ctx.settings.worker_poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="retention-flow-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        run_resilient(self.ctx, self.poll_seconds, self._stop)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop and wait for the pass in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the in-process worker did not stop within %.0f s", timeout)
            self._thread = None
