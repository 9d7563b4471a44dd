"""Who reads a scan's pages: this process, the worker, or Celery workers.

* ``inline`` (default): a thread pool of ``scan_threads`` in the uploading process reads
  the pages before the upload is answered (the answer shows where each page ended).
* ``worker`` (``scan_async``): the pages' job rows, written with the scan, are run by
  ``retention-flow worker``; the upload is answered at once with the pages ``queued``.
* ``celery`` (``celery_broker_url`` set): each page is sent to a Celery worker
  (``retention-flow worker --celery``) as task ``retention_flow.scan_page``.

Every runner calls the same idempotent ``scan_pages.process_page``: a page is routed once
however often its job is delivered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, select, update

from ..db.session import write_session
from ..db.tables import JOB
from .context import AppContext
from .scan_pages import process_page

Mode = Literal["inline", "worker", "celery"]
CELERY_TASK = "retention_flow.scan_page"
PAGE_JOB = "scan_page"

_celery: dict[str, Any] = {}
_celery_lock = threading.Lock()


def mode(ctx: AppContext) -> Mode:
    if ctx.settings.celery_broker_url:
        return "celery"
    return "worker" if ctx.settings.scan_async else "inline"


def dispatch(
    ctx: AppContext, scan_id: str, page_nos: Sequence[int], *, resumed: bool = False
) -> None:
    """Have these queued pages read (see the module docstring for where)."""
    how = mode(ctx)
    if how == "celery":
        client = celery_client(ctx.settings.celery_broker_url or "")
        for page_no in page_nos:
            client.send_task(CELERY_TASK, args=[scan_id, page_no], queue=ctx.settings.celery_queue)
    elif how == "worker":
        if resumed:
            _requeue_jobs(ctx, scan_id, page_nos)
    else:
        run_inline(ctx, scan_id, page_nos)


def run_inline(ctx: AppContext, scan_id: str, page_nos: Sequence[int]) -> list[str]:
    threads = max(1, min(ctx.settings.scan_threads, len(page_nos)))
    if threads == 1:
        return [process_page(ctx, scan_id, no) for no in page_nos]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ocr") as pool:
        return list(pool.map(lambda no: process_page(ctx, scan_id, no), page_nos))


def _requeue_jobs(ctx: AppContext, scan_id: str, page_nos: Sequence[int]) -> None:
    """A resumed scan in worker mode: its pages' jobs run again (or are written now)."""
    now = ctx.now()
    with write_session(ctx.db) as session:
        for page_no in page_nos:
            row = page_job(scan_id, page_no, now, ctx.settings.scan_job_attempts)
            state = session.execute(
                select(JOB.c.state).where(JOB.c.id == row["id"])
            ).scalar_one_or_none()
            if state is None:
                session.execute(JOB.insert().values(**row))
            elif state in ("done", "failed"):
                session.execute(
                    update(JOB)
                    .where(and_(JOB.c.id == row["id"], JOB.c.state == state))
                    .values(state="queued", run_at=now, attempts=0, locked_until=None)
                )
        session.commit()


def page_job(scan_id: str, page_no: int, now: datetime, attempts: int) -> dict[str, Any]:
    """A worker job row for one page (the id is fixed per page: one job, not two)."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"scan-page:{scan_id}:{page_no}")),
        "kind": PAGE_JOB,
        "payload": {"scan_id": scan_id, "page_no": page_no},
        "state": "queued",
        "run_at": now,
        "attempts": 0,
        "max_attempts": attempts,
        "created_at": now,
    }


def celery_client(broker_url: str) -> Any:
    """A Celery app used only to send page tasks (one per broker URL and process)."""
    with _celery_lock:
        client = _celery.get(broker_url)
        if client is None:
            from celery import Celery

            client = Celery("retention_flow", broker=broker_url)
            _celery[broker_url] = client
        return client


def scan_page_job(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Worker job ``scan_page``: read and route one page (idempotent)."""
    process_page(ctx, str(payload["scan_id"]), int(payload["page_no"]))
