"""The leases a live worker holds, renewed by a heartbeat.

A worker leases due timers and ready jobs for ``settings.worker_lease_seconds`` (10 s by
default) and a heartbeat thread renews exactly the leases it still works on every third
of that time. A worker that dies (kill -9, power loss) stops renewing, so the timers and
jobs it held are free again at most one lease after its last heartbeat and another
worker takes them over on its next pass -- seconds, not the minutes a lease long enough
for the slowest batch would cost. A lease that could not be renewed in time (a worker
stalled longer than its lease) is harmless for timers, whose firing is a case step
guarded by the case's lock version, and runs an idempotent job handler twice at worst.

Work the worker gave up on (a timer whose step failed) is *released* from the heartbeat,
so its lease runs out and it is retried later, instead of being held forever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import and_, update

from retention_flow.db.session import write_session
from retention_flow.db.tables import JOB, TIMER
from retention_flow.services.platform.context import AppContext

log = logging.getLogger(__name__)


class Leases:
    """The timer and job ids one worker holds; ``renew`` extends their leases."""

    def __init__(self, ctx: AppContext, worker: str, seconds: float | None = None) -> None:
        self.ctx = ctx
        self.worker = worker
        self.seconds = seconds if seconds is not None else ctx.settings.worker_lease_seconds
        self._lock = threading.Lock()
        self._timers: dict[str, set[str]] = {}  # case id -> timer ids
        self._jobs: set[str] = set()

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def hold_timers(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Hold (timer id, case id) pairs just leased."""
        with self._lock:
            for timer_id, case_id in pairs:
                self._timers.setdefault(case_id, set()).add(timer_id)

    def release_case(self, case_id: str) -> None:
        with self._lock:
            self._timers.pop(case_id, None)

    def hold_jobs(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            self._jobs.update(job_ids)

    def release_job(self, job_id: str) -> None:
        with self._lock:
            self._jobs.discard(job_id)

    def held(self) -> tuple[list[str], list[str]]:
        with self._lock:
            timers = [t for ids in self._timers.values() for t in ids]
            return timers, sorted(self._jobs)

    def renew(self) -> int:
        """Extend the leases still held (and still this worker's); returns rows renewed."""
        timers, jobs = self.held()
        if not timers and not jobs:
            return 0
        until = self.ctx.now() + self.lease
        renewed = 0
        with write_session(self.ctx.db) as session:
            if timers:
                renewed += session.execute(  # type: ignore[attr-defined]
                    update(TIMER)
                    .where(and_(TIMER.c.id.in_(timers), TIMER.c.locked_by == self.worker))
                    .values(locked_until=until)
                ).rowcount
            if jobs:
                renewed += session.execute(  # type: ignore[attr-defined]
                    update(JOB)
                    .where(
                        and_(
                            JOB.c.id.in_(jobs),
                            JOB.c.locked_by == self.worker,
                            JOB.c.state == "running",
                        )
                    )
                    .values(locked_until=until)
                ).rowcount
            session.commit()
        return renewed


class Heartbeat:
    """A daemon thread renewing ``leases`` every third of the lease (real time)."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.interval = max(0.05, leases.seconds / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{leases.worker}", daemon=True
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.leases.renew()
            except Exception:  # the database went away: try again next beat
                log.exception("lease heartbeat of %s failed", self.leases.worker)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@contextmanager
def heartbeat(ctx: AppContext, worker: str) -> Iterator[Leases]:
    """Leases for ``worker`` renewed by a heartbeat for the duration of the block."""
    leases = Leases(ctx, worker)
    beat = Heartbeat(leases)
    beat.start()
    try:
        yield leases
    finally:
        beat.stop()
