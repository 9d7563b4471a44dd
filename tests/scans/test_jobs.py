"""OCR pages as jobs: answered at once and read by the worker (``scan_async``), resumed
after a crash by uploading the same file again, routed once however often delivered."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, JOB
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import dispatch as scan_dispatch
from retention_flow.services.scans import intake as scans
from retention_flow.services.scans.ocr_jobs import process_page
from tests.scans.conftest import BACK, form_png, messages_to

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]


def test_async_upload_is_read_by_the_worker(
    ctx: AppContext, mail_case: CaseView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "scan_async", True)
    scan = scans.ingest(ctx, BACK, "form.png", form_png(mail_case)).model_dump()
    assert scan["status"] == "reading" and [p["status"] for p in scan["pages"]] == ["queued"]
    assert cases.get_case(ctx, mail_case.id).status == "active"
    handlers = worker.default_job_handlers()
    assert worker.run_jobs_once(ctx, "w1", handlers) == 1
    after = scans.get_scan(ctx, scan["id"]).model_dump()
    assert after["status"] == "read" and after["pages"][0]["status"] == "processed"
    assert cases.get_case(ctx, mail_case.id).outcome == "retained"
    assert worker.run_jobs_once(ctx, "w1", handlers) == 0
    with read_session(ctx.db) as session:
        states = session.execute(select(JOB.c.state).where(JOB.c.kind == "scan_page")).scalars()
        assert list(states) == ["done"]


def test_a_crash_before_the_pages_were_read_is_resumed_by_uploading_again(
    ctx: AppContext, mail_case: CaseView, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = form_png(mail_case)

    def crash(*_args: Any) -> list[str]:
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(scan_dispatch, "run_inline", crash)
        with pytest.raises(RuntimeError):
            scans.ingest(ctx, BACK, "form.png", data).model_dump()
    [stuck] = [scans.get_scan(ctx, s).model_dump() for s in _scan_ids(ctx)]
    assert stuck["status"] == "reading" and stuck["pages"][0]["status"] == "queued"
    again = scans.ingest(ctx, BACK, "form.png", data).model_dump()
    assert again["id"] == stuck["id"] and again["status"] == "read"
    assert again["pages"][0]["status"] == "processed"
    assert messages_to(ctx, mail_case.id) == 1


def test_a_page_delivered_twice_or_concurrently_is_routed_once(
    ctx: AppContext, mail_case: CaseView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "scan_async", True)
    scan = scans.ingest(ctx, BACK, "form.png", form_png(mail_case)).model_dump()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(process_page(ctx, scan["id"], 1)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["processed"] * 3
    assert process_page(ctx, scan["id"], 1) == "processed"
    assert messages_to(ctx, mail_case.id) == 1
    with read_session(ctx.db) as session:  # no stray exception case was opened
        processes = session.execute(select(CASE.c.process_id)).scalars()
        assert sorted(processes) == ["mail_response"]


def _scan_ids(ctx: AppContext) -> list[str]:
    from retention_flow.db.tables import SCAN

    with read_session(ctx.db) as session:
        return [str(s) for s in session.execute(select(SCAN.c.id)).scalars()]


def test_pages_left_queued_are_swept_up_by_the_worker(
    ctx: AppContext, clock: FrozenClock, mail_case: CaseView, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the broker is down when the pages are sent: the upload is still answered, queued
    monkeypatch.setattr(ctx.settings, "celery_broker_url", "redis://127.0.0.1:1/0")
    scan = scans.ingest(ctx, BACK, "form.png", form_png(mail_case)).model_dump()
    assert scan["status"] == "reading" and scan["pages"][0]["status"] == "queued"
    monkeypatch.setattr(ctx.settings, "celery_broker_url", None)  # back to in-process
    assert scan_dispatch.requeue_stale_pages(ctx, timedelta(minutes=10)) == 0  # too young
    clock.advance(timedelta(minutes=11))
    assert scan_dispatch.requeue_stale_pages(ctx, timedelta(minutes=10)) == 1
    assert scans.get_scan(ctx, scan["id"]).model_dump()["pages"][0]["status"] == "processed"
    assert scan_dispatch.requeue_stale_pages(ctx, timedelta(minutes=10)) == 0
    assert messages_to(ctx, mail_case.id) == 1
