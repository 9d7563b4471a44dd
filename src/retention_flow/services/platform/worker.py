"""The background worker: fires due timers and runs queued jobs.

Exactly once, also with several workers on one PostgreSQL:

* A worker *leases* due timers (``locked_by``/``locked_until``) in a short transaction,
  skipping rows other workers hold (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
  serialises writers, so one lease transaction runs at a time there).
* Firing is a normal case step, guarded by the case's lock version: if two workers ever
  reach one case, one commits and the other finds nothing due any more.
* A worker that dies leaves its lease to expire; the timer is then leased again and
  fired once, because the step that fires it also removes it. ``run_worker`` leases for
  ``settings.worker_lease_seconds`` and renews what it holds by heartbeat
  (``leases.py``), so a dead worker's timers and jobs are taken over within seconds.

Jobs follow the same lease pattern, with attempts and a back-off; a job's handler must be
idempotent (it may run again after a crash between its effect and its commit).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from retention_flow.core.errors import CaseNotActive, RetentionFlowError
from retention_flow.db.session import write_session
from retention_flow.db.tables import JOB, TIMER
from retention_flow.services.cases.lifecycle import fire_due_timers
from retention_flow.services.insight.heatmap_rollup import BATCH, roll_up_once
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.leases import Leases, heartbeat

log = logging.getLogger(__name__)

JobHandler = Callable[[AppContext, dict[str, Any]], None]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


#: the lease of a timer taken without a heartbeat (and the pause before a timer whose
#: step failed is tried again)
UNRENEWED_LEASE = timedelta(minutes=2)


def lease_due_timers(
    ctx: AppContext,
    worker: str,
    *,
    limit: int = 100,
    lease: timedelta = UNRENEWED_LEASE,
    leases: Leases | None = None,
) -> list[str]:
    """Lease up to ``limit`` due timers; returns the ids of the cases to step. With
    ``leases`` (renewed by a heartbeat) the lease is ``leases.lease`` and the timers are
    held there until their case has been stepped."""
    now = ctx.now()
    if leases is not None:
        lease = leases.lease
    free = or_(TIMER.c.locked_until.is_(None), TIMER.c.locked_until < now)
    query = (
        select(TIMER.c.id, TIMER.c.case_id)
        # strictly after: SpiffWorkflow fires a timer once its due time has passed
        .where(and_(TIMER.c.state == "pending", TIMER.c.due_at < now, free))
        .order_by(TIMER.c.due_at)
        .limit(limit)
    )
    with write_session(ctx.db) as session:
        if ctx.db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return []
        session.execute(
            update(TIMER)
            .where(TIMER.c.id.in_([r.id for r in rows]))
            .values(locked_by=worker, locked_until=now + lease, attempts=TIMER.c.attempts + 1)
        )
        session.commit()
    if leases is not None:
        leases.hold_timers((r.id, r.case_id) for r in rows)
    return list(dict.fromkeys(r.case_id for r in rows))


def fire_timers_once(
    ctx: AppContext, worker: str, *, limit: int = 100, leases: Leases | None = None
) -> int:
    """One pass: lease due timers and fire them case by case. Returns timers fired."""
    fired = 0
    for case_id in lease_due_timers(ctx, worker, limit=limit, leases=leases):
        try:
            fired += len(fire_due_timers(ctx, case_id))
        except CaseNotActive:
            _drop_timers(ctx, case_id)
        except RetentionFlowError as exc:  # leave it leased: retried when the lease ends
            log.warning("timer of case %s not fired: %s", case_id, exc.detail)
            _retry_later(ctx, case_id, worker)
        finally:
            if leases is not None:
                leases.release_case(case_id)
    return fired


def _retry_later(ctx: AppContext, case_id: str, worker: str) -> None:
    """A timer whose step failed waits ``UNRENEWED_LEASE`` before it is tried again
    (the heartbeat no longer renews it)."""
    with write_session(ctx.db) as session:
        session.execute(
            update(TIMER)
            .where(and_(TIMER.c.case_id == case_id, TIMER.c.locked_by == worker))
            .values(locked_until=ctx.now() + UNRENEWED_LEASE)
        )
        session.commit()


def _drop_timers(ctx: AppContext, case_id: str) -> None:
    """Timers of a case that is no longer active will never fire."""
    with write_session(ctx.db) as session:
        session.execute(
            update(TIMER)
            .where(and_(TIMER.c.case_id == case_id, TIMER.c.state == "pending"))
            .values(state="cancelled")
        )
        session.commit()


# --------------------------------------------------------------------------- jobs


def enqueue(
    ctx: AppContext,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    max_attempts: int = 5,
) -> str:
    job_id = str(uuid.uuid4())
    now = ctx.now()
    with write_session(ctx.db) as session:
        session.execute(
            insert(JOB).values(
                id=job_id,
                kind=kind,
                payload=payload,
                state="queued",
                run_at=run_at or now,
                attempts=0,
                max_attempts=max_attempts,
                created_at=now,
            )
        )
        session.commit()
    return job_id


def lease_jobs(
    ctx: AppContext,
    worker: str,
    *,
    limit: int = 10,
    lease: timedelta | None = None,
    leases: Leases | None = None,
) -> list[dict[str, Any]]:
    """Lease ready jobs (and jobs whose worker's lease ran out) for ``lease``
    (default ``settings.job_lease_seconds``; ``leases.lease`` with a heartbeat, which
    then renews them until each job has finished)."""
    now = ctx.now()
    lease = lease or timedelta(seconds=ctx.settings.job_lease_seconds)
    if leases is not None:
        lease = leases.lease
    ready = or_(
        and_(JOB.c.state == "queued", JOB.c.run_at <= now),
        and_(JOB.c.state == "running", JOB.c.locked_until < now),  # its worker died
    )
    query = select(JOB).where(ready).order_by(JOB.c.run_at).limit(limit)
    with write_session(ctx.db) as session:
        if ctx.db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = [dict(r) for r in session.execute(query).mappings()]
        if rows:
            session.execute(
                update(JOB)
                .where(JOB.c.id.in_([r["id"] for r in rows]))
                .values(
                    state="running",
                    locked_by=worker,
                    locked_until=now + lease,
                    attempts=JOB.c.attempts + 1,
                )
            )
            session.commit()
    if leases is not None:
        leases.hold_jobs(r["id"] for r in rows)
    return rows


def run_jobs_once(
    ctx: AppContext,
    worker: str,
    handlers: dict[str, JobHandler],
    *,
    limit: int = 10,
    leases: Leases | None = None,
) -> int:
    done = 0
    for job in lease_jobs(ctx, worker, limit=limit, leases=leases):
        handler = handlers.get(job["kind"])
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind '{job['kind']}'")
            handler(ctx, job["payload"])
        except Exception as exc:
            _job_failed(ctx, job, worker, exc)
            continue
        finally:
            if leases is not None:
                leases.release_job(job["id"])
        _finish_job(ctx, job["id"], worker, "done", None)
        done += 1
    return done


def _job_failed(ctx: AppContext, job: dict[str, Any], worker: str, exc: Exception) -> None:
    attempts = job["attempts"] + 1
    error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"[-4000:]
    if attempts >= job["max_attempts"]:
        _finish_job(ctx, job["id"], worker, "failed", error)
        return
    delay = timedelta(seconds=min(3600, 10 * 2 ** (attempts - 1)))
    with write_session(ctx.db) as session:
        session.execute(
            update(JOB)
            .where(and_(JOB.c.id == job["id"], JOB.c.locked_by == worker))
            .values(
                state="queued",
                locked_by=None,
                locked_until=None,
                last_error=error,
                run_at=ctx.now() + delay,
            )
        )
        session.commit()


def _finish_job(ctx: AppContext, job_id: str, worker: str, state: str, error: str | None) -> None:
    with write_session(ctx.db) as session:
        session.execute(
            update(JOB)
            .where(and_(JOB.c.id == job_id, JOB.c.locked_by == worker))
            .values(state=state, finished_at=ctx.now(), last_error=error, locked_until=None)
        )
        session.commit()


def default_job_handlers() -> dict[str, JobHandler]:
    from retention_flow.services.cases.incident_batches import BATCH_JOB, run_batch_job
    from retention_flow.services.cases.migrations import MIGRATION_JOB, run_batch
    from retention_flow.services.outreach.campaigns import run_campaign_batch
    from retention_flow.services.scans.dispatch import PAGE_JOB, scan_page_job
    from retention_flow.services.scans.exceptions import ASSIGN_JOB, assign_scan_page

    return {
        "campaign_batch": run_campaign_batch,
        PAGE_JOB: scan_page_job,
        ASSIGN_JOB: assign_scan_page,
        BATCH_JOB: run_batch_job,
        MIGRATION_JOB: run_batch,
    }


# --------------------------------------------------------------------------- loop


def idle_wait(ctx: AppContext, poll_seconds: float) -> float:
    """How long an idle worker sleeps: the poll interval, or less when a timer falls due
    sooner (one indexed lookup), so timers fire on time without a busy poll."""
    next_due = None
    now = ctx.now()
    free = or_(TIMER.c.locked_until.is_(None), TIMER.c.locked_until < now)
    with ctx.db.connect() as conn:  # timers another worker holds are not ours to wait for
        next_due = conn.execute(
            select(func.min(TIMER.c.due_at)).where(and_(TIMER.c.state == "pending", free))
        ).scalar_one_or_none()
    if next_due is None:
        return poll_seconds
    if next_due.tzinfo is None:
        next_due = next_due.replace(tzinfo=UTC)
    until = float((next_due - now).total_seconds()) + 0.001  # fires strictly after due
    return max(0.005, min(poll_seconds, until))


def run_worker(
    ctx: AppContext,
    *,
    handlers: dict[str, JobHandler] | None = None,
    poll_seconds: float = 1.0,
    stop: threading.Event | None = None,
    max_passes: int | None = None,
) -> None:
    """Poll until ``stop`` is set (or ``max_passes`` passes ran); with ``scan_inbox`` set,
    each pass also takes the settled files of the inbox folder; once a minute, scan pages
    left queued longer than ``scan_stale_minutes`` are dispatched again and expired
    idempotency keys are removed; every ``audit_checkpoint_seconds`` (and on the first
    pass) a signed checkpoint of the audit heads is appended to the checkpoint file; every
    ``heatmap_rollup_seconds`` (and on the first pass) a batch of new audit events goes
    into the heatmap's rollup (``heatmap_rollup.py``)."""
    from retention_flow.services.platform.idempotency import purge_expired
    from retention_flow.services.scans.dispatch import requeue_stale_pages
    from retention_flow.services.scans.inbox import Inbox

    worker = worker_name()
    stop = stop or threading.Event()
    passes = 0
    inbox = Inbox.from_settings(ctx)
    stale = timedelta(minutes=ctx.settings.scan_stale_minutes)
    next_sweep = next_checkpoint = next_rollup = ctx.now()
    log.info("worker %s started", worker)
    with heartbeat(ctx, worker) as leases:
        while not stop.is_set():
            jobs = handlers if handlers is not None else default_job_handlers()
            busy = fire_timers_once(ctx, worker, leases=leases)
            busy += run_jobs_once(ctx, worker, jobs, leases=leases)
            if inbox is not None:
                busy += len(inbox.poll())
            if ctx.now() >= next_sweep:  # scan pages whose processing was lost
                busy += requeue_stale_pages(ctx, stale)
                purge_expired(ctx)
                next_sweep = ctx.now() + timedelta(minutes=1)
            if ctx.settings.audit_checkpoint_seconds and ctx.now() >= next_checkpoint:
                _checkpoint(ctx)
                every = timedelta(seconds=ctx.settings.audit_checkpoint_seconds)
                next_checkpoint = ctx.now() + every
            if ctx.settings.heatmap_rollup_seconds and ctx.now() >= next_rollup:
                taken = _roll_up(ctx)  # a full batch: more are waiting, go on next pass
                wait = 0.0 if taken >= BATCH else ctx.settings.heatmap_rollup_seconds
                busy += taken
                next_rollup = ctx.now() + timedelta(seconds=wait)
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            if not busy:
                stop.wait(idle_wait(ctx, poll_seconds))
    log.info("worker %s stopped", worker)


def _roll_up(ctx: AppContext) -> int:
    """One batch of the heatmap rollup; a failure is logged and the worker goes on (the
    heatmap reads what is not rolled up yet from the events)."""

    try:
        return roll_up_once(ctx, wait=False)
    except (SQLAlchemyError, RetentionFlowError) as exc:
        log.error("heatmap rollup failed: %s", exc)
        return 0


def _checkpoint(ctx: AppContext) -> None:
    """A checkpoint that fails (disk full, keys missing) is logged; the worker goes on."""
    from retention_flow.services.audit.checkpoint import write_checkpoint

    try:
        written = write_checkpoint(ctx)
    except (OSError, RetentionFlowError) as exc:
        log.error("audit checkpoint failed: %s", exc)
        return
    log.info("audit checkpoint %s: %s heads", written.n, written.heads_written)
