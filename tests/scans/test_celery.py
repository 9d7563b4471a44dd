"""Scale-out: with a Celery broker set, pages go to a real Celery worker (a subprocess)
through the real Redis; a page delivered three times lands in the database once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import dispatch as scan_dispatch
from retention_flow.services.scans import intake as scans
from tests.scans.conftest import BACK, START, blank_png, form_png, messages_to

pytestmark = [pytest.mark.redis, pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]


def test_pages_go_to_celery_workers_and_land_once(
    ctx: AppContext,
    clock: FrozenClock,
    db_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # the worker runs on the real clock: the case must be young there (see test_cli.py)
    clock.set(datetime.now(UTC))
    mail_case = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", START).id)
    queue = f"ocr-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(ctx.settings, "celery_broker_url", redis_url)
    monkeypatch.setattr(ctx.settings, "celery_queue", queue)
    # queued before any worker runs: the form's page, twice more (re-delivery), then a
    # blank page; one solo worker takes them in order, so once the blank page is routed
    # every delivery of the form's page has run
    form = scans.ingest(ctx, BACK, "form.png", form_png(mail_case)).model_dump()
    assert form["status"] == "reading" and form["pages"][0]["status"] == "queued"
    client = scan_dispatch.celery_client(redis_url)
    for _ in range(2):
        client.send_task(scan_dispatch.CELERY_TASK, args=[form["id"], 1], queue=queue)
    blank = scans.ingest(ctx, BACK, "blank.png", blank_png()).model_dump()

    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": db_url,
        "RETENTION_FLOW_CELERY_BROKER_URL": redis_url,
        "RETENTION_FLOW_CELERY_QUEUE": queue,
    }
    log = (tmp_path / "celery.log").open("w")
    command = [sys.executable, "-m", "retention_flow.cli", "worker", "--celery", "--pool", "solo"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 120
        while scans.get_scan(ctx, blank["id"]).model_dump()["status"] != "read":
            assert proc.poll() is None, (tmp_path / "celery.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "celery.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    after = scans.get_scan(ctx, form["id"]).model_dump()
    assert after["status"] == "read" and after["pages"][0]["status"] == "processed"
    assert messages_to(ctx, mail_case.id) == 1
    assert cases.get_case(ctx, mail_case.id).outcome == "retained"
    [blank_page] = scans.get_scan(ctx, blank["id"]).model_dump()["pages"]
    assert blank_page["status"] == "exception" and blank_page["exception_case_id"]
