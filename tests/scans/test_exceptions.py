"""The back-office exception queue: a page that cannot be routed becomes a task in the
back_office queue with its image; resolving it assigns (to a case, as verification) or
discards the page, audited; nothing is dropped."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import exceptions as scan_exceptions
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks
from tests.scans.conftest import BACK, blank_png, form_png

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]
UNKNOWN = "RC-2026-999999-9"


def _unknown_case_form(mail_case: CaseView) -> bytes:
    """A well-printed form whose case number no case carries."""
    return form_png({"data": {**mail_case.data, "case_number": UNKNOWN}})


def _events(ctx: AppContext, case_id: str) -> list[str]:
    with read_session(ctx.db) as session:
        query = select(AUDIT_EVENT.c.type).where(AUDIT_EVENT.c.case_id == case_id)
        return list(session.execute(query).scalars())


def test_unknown_case_number_is_queued_and_assigned_over_http(
    ctx: AppContext,
    client: TestClient,
    auth: Callable[[str, str], dict[str, str]],
    mail_case: CaseView,
) -> None:
    back = auth("bea", "back_office")
    files = [("files", ("unknown.png", _unknown_case_form(mail_case), "image/png"))]
    [scan] = client.post("/api/scans", headers=back, files=files).json()["data"]
    [page] = scan["pages"]
    assert scan["status"] == "read"
    assert page["status"] == "exception" and page["exception_case_id"], page
    assert page["resolution"] is None and page["reasons"]

    queue = client.get("/api/tasks", headers=back, params={"role": "back_office"}).json()
    [task] = [t for t in queue["data"] if t["case_id"] == page["exception_case_id"]]
    assert task["element_id"] == "resolve_scan_exception"
    detail = client.get(f"/api/tasks/{task['id']}", headers=back).json()
    assert detail["context"]["image_url"] == page["image_url"]
    assert detail["context"]["reasons"] == page["reasons"]
    image = client.get(page["image_url"], headers=auth("aud", "auditor"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size[0] > 1000

    url = f"/api/scans/{scan['id']}/pages/1/resolve"
    wrong = client.post(url, headers=back, json={"decision": "assign", "case_number": UNKNOWN})
    assert wrong.status_code == 404, wrong.text  # no open case carries it: nothing changed
    number = mail_case.data["case_number"]
    done = client.post(url, headers=back, json={"decision": "assign", "case_number": number})
    assert done.status_code == 200, done.text
    [after] = done.json()["pages"]
    assert (after["status"], after["resolution"], after["case_id"]) == (
        "verification",
        "assigned",
        mail_case.id,
    )
    assert after["resolved_by"] == "bea"
    target = cases.get_case(ctx, mail_case.id)
    assert [t.element_id for t in target.open_tasks] == ["verify_response_form"]
    assert target.data["response_form"]["uncertain"] is True
    exception_case = cases.get_case(ctx, page["exception_case_id"])
    assert (exception_case.status, exception_case.outcome) == ("completed", "assigned")
    assert "scan_page_assigned" in _events(ctx, page["exception_case_id"])
    assert (
        client.post(url, headers=back, json={"decision": "discard", "reason": "again"}).status_code
        == 409
    )
    # the queued job finds nothing left to do
    assert worker.run_jobs_once(ctx, "w", worker.default_job_handlers()) == 0


def test_blank_page_is_discarded_with_a_reason(ctx: AppContext) -> None:
    scan = scans.ingest(ctx, BACK, "blank.png", blank_png((2480, 3508))).model_dump()
    [page] = scan["pages"]
    assert page["status"] == "exception" and page["exception_case_id"]
    scan_exceptions.resolve(ctx, BACK, scan["id"], 1, decision="discard", reason="blank page")
    [page] = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    assert (page["status"], page["resolution"], page["resolved_by"]) == (
        "exception",
        "discarded",
        BACK.username,
    )
    assert cases.get_case(ctx, page["exception_case_id"]).outcome == "discarded"
    assert "scan_page_discarded" in _events(ctx, page["exception_case_id"])


def test_assignment_that_does_not_correlate_opens_a_new_exception(
    ctx: AppContext, mail_case: CaseView
) -> None:
    # completed through the ordinary task route: the worker's job delivers the page
    scan = scans.ingest(ctx, BACK, "unknown.png", _unknown_case_form(mail_case)).model_dump()
    [page] = scan["pages"]
    first = page["exception_case_id"]
    [task] = cases.get_case(ctx, first).open_tasks
    tasks.complete(ctx, BACK, task.id, {"decision": "assign", "case_number": "RC-1-2"})
    [page] = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    assert page["resolution"] == "assigning"
    assert worker.run_jobs_once(ctx, "w", worker.default_job_handlers()) == 1
    [page] = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    assert page["status"] == "exception" and page["resolution"] is None
    assert page["exception_case_id"] not in (None, first)
    assert "assigned to RC-1-2" in page["reasons"][-1]
    assert cases.get_case(ctx, page["exception_case_id"]).open_tasks
    assert worker.run_jobs_once(ctx, "w", worker.default_job_handlers()) == 0
