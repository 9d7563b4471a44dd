"""Scan intake end to end: a printed form for a live mail-response case, filled in and
scanned, is read and correlated; re-uploads are idempotent; bad files are answered."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import SCAN, SCAN_PAGE
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import intake as scans
from tests.scans.conftest import BACK, form_png, messages_to

pytestmark = pytest.mark.usefixtures("ocr_engine")


@pytest.mark.tesseract
def test_clear_form_completes_the_case_once(ctx: AppContext, mail_case: CaseView) -> None:
    offers = mail_case.data["eligible_offers"]
    data = form_png(mail_case, ticks=(1,))
    scan = scans.ingest(ctx, BACK, "form.png", data).model_dump()
    assert scan["status"] == "read" and scan["page_count"] == 1
    [page] = scan["pages"]
    assert page["status"] == "processed", page["reasons"]
    assert page["case_number"] == mail_case.data["case_number"]
    assert page["case_id"] == mail_case.id
    case = cases.get_case(ctx, mail_case.id)
    assert case.status == "completed" and case.outcome == "retained"
    assert case.data["offer_code"] == offers[1]
    assert messages_to(ctx, mail_case.id) == 1

    again = scans.ingest(ctx, BACK, "renamed.png", data).model_dump()
    assert again["id"] == scan["id"] and again["pages"] == scan["pages"]
    assert messages_to(ctx, mail_case.id) == 1
    with read_session(ctx.db) as session:
        assert session.execute(select(func.count()).select_from(SCAN)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(SCAN_PAGE)).scalar_one() == 1


@pytest.mark.tesseract
def test_unsure_form_goes_to_verification(ctx: AppContext, mail_case: CaseView) -> None:
    # two offers ticked: not "exactly one" → the back office verifies
    scan = scans.ingest(ctx, BACK, "two.png", form_png(mail_case, ticks=(0, 2))).model_dump()
    [page] = scan["pages"]
    assert page["status"] == "verification" and page["reasons"]
    case = cases.get_case(ctx, mail_case.id)
    assert [t.element_id for t in case.open_tasks] == ["verify_response_form"]
    assert case.data["response_form"]["uncertain"] is True


@pytest.mark.tesseract
def test_form_for_a_case_not_waiting_is_an_exception(ctx: AppContext, mail_case: CaseView) -> None:
    data = form_png(mail_case)
    case_control.cancel_case(ctx, BACK, mail_case.id, "customer moved")
    scan = scans.ingest(ctx, BACK, "late.png", data).model_dump()
    [page] = scan["pages"]
    assert page["status"] == "exception"
    took = [r for r in page["reasons"] if r.startswith("the case did not take the form")]
    assert took, page["reasons"]


@pytest.mark.parametrize(
    "data", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"]
)
def test_bad_files_are_answered_with_a_reason(ctx: AppContext, data: bytes) -> None:
    scan = scans.ingest(ctx, BACK, "bad.bin", data).model_dump()
    assert scan["status"] == "unreadable" and scan["page_count"] == 0 and scan["pages"] == []
    assert scan["error"]
    assert scans.ingest(ctx, BACK, "bad.bin", data).model_dump()["id"] == scan["id"]


def test_unknown_scan_is_not_found(ctx: AppContext) -> None:
    from retention_flow.core.errors import NotFound

    with pytest.raises(NotFound):
        scans.get_scan(ctx, "nope").model_dump()
