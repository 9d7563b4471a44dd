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

import logging
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Literal

from PIL import Image
from sqlalchemy import and_, select, update

from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import JOB, SCAN, SCAN_PAGE
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans.ocr_jobs import process_page

Mode = Literal["inline", "worker", "celery"]
CELERY_TASK = "retention_flow.scan_page"
PAGE_JOB = "scan_page"
#: a broker that does not answer within about a second leaves the pages to the sweep
SEND_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

log = logging.getLogger(__name__)

_celery: dict[str, Any] = {}
_celery_lock = threading.Lock()


def mode(ctx: AppContext) -> Mode:
    if ctx.settings.celery_broker_url:
        return "celery"
    return "worker" if ctx.settings.scan_async else "inline"


def dispatch(
    ctx: AppContext,
    scan_id: str,
    page_nos: Sequence[int],
    *,
    resumed: bool = False,
    images: Sequence[Image.Image] | None = None,
) -> None:
    """Have these queued pages read (see the module docstring for where); ``images``, the
    pages in memory, spare the in-process runner decoding the stored copies."""
    how = mode(ctx)
    if how == "celery":
        client = celery_client(ctx.settings.celery_broker_url or "")
        try:
            for page_no in page_nos:
                client.send_task(
                    CELERY_TASK,
                    args=[scan_id, page_no],
                    queue=ctx.settings.celery_queue,
                    retry_policy=SEND_RETRY,
                )
        except Exception as exc:  # broker down: the pages stay queued for the sweep
            log.warning("pages of scan %s not sent to the broker: %s", scan_id, exc)
    elif how == "worker":
        if resumed:
            _requeue_jobs(ctx, scan_id, page_nos)
    else:
        run_inline(ctx, scan_id, page_nos, images)


def requeue_stale_pages(ctx: AppContext, older_than: timedelta, *, limit: int = 50) -> int:
    """Dispatch again the pages left ``queued`` longer than ``older_than`` (their process
    crashed, or the broker was down when they were sent). Returns the pages dispatched."""
    cutoff = ctx.now() - older_than
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(SCAN_PAGE.c.scan_id, SCAN_PAGE.c.page_no)
            .join(SCAN, SCAN.c.id == SCAN_PAGE.c.scan_id)
            .where(
                and_(
                    SCAN_PAGE.c.status == "queued",
                    SCAN_PAGE.c.created_at < cutoff,
                    SCAN.c.status == "reading",
                )
            )
            .order_by(SCAN_PAGE.c.created_at)
            .limit(limit)
        ).all()
    by_scan: dict[str, list[int]] = {}
    for row in rows:
        by_scan.setdefault(str(row.scan_id), []).append(int(row.page_no))
    for scan_id, page_nos in by_scan.items():
        dispatch(ctx, scan_id, page_nos, resumed=True)
    return len(rows)


def run_inline(
    ctx: AppContext,
    scan_id: str,
    page_nos: Sequence[int],
    images: Sequence[Image.Image] | None = None,
) -> list[str]:
    memory: Sequence[Image.Image | None] = images or [None] * len(page_nos)
    pages = list(zip(page_nos, memory, strict=True))
    threads = max(1, min(ctx.settings.scan_threads, len(pages)))
    if threads == 1:
        return [process_page(ctx, scan_id, no, image) for no, image in pages]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ocr") as pool:
        return list(pool.map(lambda page: process_page(ctx, scan_id, *page), pages))


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
