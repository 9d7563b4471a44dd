"""Celery workers for scanned pages (``RETENTION_FLOW_CELERY_BROKER_URL``, Redis).

Start one per machine with ``retention-flow worker --celery`` (options: ``--concurrency``,
``--pool``). Each task is ``retention_flow.scan_page(scan_id, page_no)`` and runs the same
idempotent ``process_page`` as the embedded runner, against the shared database: the task
is acknowledged late (after it ran), so a worker lost mid-page has the page re-delivered,
and the re-delivery finds the page routed (or routes it, once). A database conflict is
retried with a back-off.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError

from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans.dispatch import CELERY_TASK
from retention_flow.services.scans.ocr_jobs import ocr_worker_env, process_page

from .core.config import Settings, get_settings
from .core.errors import CaseConflict

_contexts: dict[int, AppContext] = {}
_lock = threading.Lock()


def _context() -> AppContext:
    """One context per worker process (a forked child builds its own engine)."""
    from retention_flow.services.platform.bootstrap import build_context

    with _lock:
        found = _contexts.get(os.getpid())
        if found is None:
            found = build_context()
            _contexts[os.getpid()] = found
        return found


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if not settings.celery_broker_url:
        raise SystemExit("set RETENTION_FLOW_CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    app = Celery("retention_flow", broker=settings.celery_broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.celery_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name=CELERY_TASK, bind=True, max_retries=8)
    def scan_page(self: Any, scan_id: str, page_no: int) -> str:
        try:
            return process_page(_context(), scan_id, int(page_no))
        except (CaseConflict, OperationalError) as exc:  # busy database: try again later
            raise self.retry(exc=exc, countdown=min(30, 2**self.request.retries)) from exc

    return app


def run(concurrency: int = 1, pool: str = "prefork", settings: Settings | None = None) -> None:
    """Serve page tasks until stopped (Ctrl-C / SIGTERM)."""
    ocr_worker_env()
    settings = settings or get_settings()
    app = make_app(settings)
    app.worker_main(
        [
            "worker",
            f"--queues={settings.celery_queue}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
