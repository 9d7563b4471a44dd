"""The back office's pages about pages that were not booked, through the browser's routes
(login, CSRF, upload form): plain reasons on the scanning page, the scan detail and the
exception task (never the stored internals), an "Exception" badge wherever the file is
listed, and the exception task titled by what happened, with what the page says about the
customer and the offer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from retention_flow.api.app import create_app
from retention_flow.db.session import write_session
from retention_flow.db.tables import SCAN_PAGE
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView, TaskView
from retention_flow.services.outreach import response_forms as forms
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans import intake as scans
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER
from tests.scans.conftest import BACK, PASSWORD, blank_png, form_png
from tests.web.conftest import PageClient

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]
UNKNOWN = "RC-2026-999999-9"
CLERK = Actor("clerk", frozenset({"back_office"}))
#: what the stored reasons hold and a clerk must not see
RAW = re.compile(r"case_number:|\{'|feature matching|no template fits|not correlated|_offer_v")


@pytest.fixture
def clerk(ctx: AppContext) -> Iterator[PageClient]:
    users.add_user(ctx, "clerk", PASSWORD, ["back_office"], None)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        page = PageClient(client)
        assert page.login("clerk").status_code == 303
        yield page


def _text(html: str) -> str:
    """The page's visible words (tags dropped, whitespace folded)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _exception_task(ctx: AppContext, scan: dict[str, Any]) -> TaskView:
    [page] = scans.get_scan(ctx, scan["id"]).model_dump()["pages"]
    [task] = cases.get_case(ctx, page["exception_case_id"]).open_tasks
    return task


def test_an_upload_shows_exceptions_in_plain_words_and_with_their_badge(
    ctx: AppContext, clerk: PageClient, mail_case: CaseView
) -> None:
    unknown = form_png({"data": {**mail_case.data, "case_number": UNKNOWN}})
    files = [
        ("files", ("unknown.png", unknown, "image/png")),
        ("files", ("blank.png", blank_png(), "image/png")),
    ]
    answer = clerk.post("/scans", files=files)
    assert answer.status_code == 200
    shown = _text(answer.text)
    assert f"Case number: no case has the number {UNKNOWN}." in shown
    assert "The page is blank." in shown
    assert "Ticked offer: box 1" in shown  # a position, read without its case
    assert not RAW.search(shown), RAW.search(shown)
    # per file and per page, and the two files among the recent uploads
    assert answer.text.count('badge sla-overdue">Exception') == 6
    assert 'sla-ok">Read' not in answer.text

    listing = clerk.get("/scans").text  # recent uploads: the pages' badge, not "read"
    recent = listing[listing.index("Recent uploads") :]
    assert recent.count('sla-overdue">Exception') == 2 and 'sla-ok">Read' not in recent

    queue = _text(clerk.get("/queue?role=back_office").text)
    assert f"Scanned page not booked: no case has the number {UNKNOWN} unknown.png, page 1" in (
        queue
    )
    assert "Scanned page not booked: the page is blank blank.png, page 1" in queue
    assert "Resolve scan exception" not in queue


def test_the_exception_task_says_what_happened_and_what_the_page_shows(
    ctx: AppContext, clerk: PageClient, mail_case: CaseView
) -> None:
    unknown = scans.ingest(
        ctx, BACK, "unknown.png", form_png({"data": {**mail_case.data, "case_number": UNKNOWN}})
    ).model_dump()
    task = _exception_task(ctx, unknown)
    html = clerk.get(f"/tasks/{task.id}").text
    shown = _text(html)
    assert f"<h1>Scanned page not booked: no case has the number {UNKNOWN}" in html
    assert f"No case has the number read from the page ({UNKNOWN}): find the case below." in shown
    assert "Ticked on the page: box 1" in shown and "Signed: Yes · dated 2026-01-05" in shown
    assert "No eligible offers recorded" not in shown
    assert "Other case data" not in shown  # the exception case's own data is in the cards
    assert not RAW.search(shown), RAW.search(shown)

    # a form for a case that has ended: the page names it, so its customer and offers show
    data = forms.printed_offers(ctx, mail_case.id) or mail_case.data["eligible_offers"]
    case_control.cancel_case(ctx, BACK, mail_case.id, "customer moved")
    late = scans.ingest(ctx, BACK, "late.png", form_png(mail_case, ticks=(1,))).model_dump()
    shown = _text(clerk.get(f"/tasks/{_exception_task(ctx, late).id}").text)
    number = mail_case.data["case_number"]
    assert f"Scanned page not booked: no open case has the case number {number}" in shown
    assert f"The page names case {number}" in shown
    assert mail_case.data["customer_name"] in shown
    assert f"Ticked on the page: {forms.offer_title(data[1])}" in shown
    assert not RAW.search(shown), RAW.search(shown)


def test_reasons_stored_in_an_older_wording_are_shown_plain(
    ctx: AppContext, clerk: PageClient
) -> None:
    scan = scans.ingest(ctx, BACK, "old.png", blank_png()).model_dump()
    old = [
        "not correlated: no open case matches {'case_number': 'RC-2026-000790-7'}",
        "feature matching: 8 consistent matches (10% of 78); at least 60 and 30% are needed",
    ]
    with write_session(ctx.db) as session:
        session.execute(
            update(SCAN_PAGE).where(SCAN_PAGE.c.scan_id == scan["id"]).values(reasons=old)
        )
        session.commit()
    shown = _text(clerk.get(f"/scans/{scan['id']}").text)
    assert "No open case has the case number RC-2026-000790-7." in shown
    assert "This is not one of our response forms" in shown
    assert not RAW.search(shown), RAW.search(shown)
    assert tasks.list_queue(ctx, CLERK)  # the page is still the clerk's to resolve


def test_a_scanned_form_offers_the_choices_printed_on_it(
    ctx: AppContext, clerk: PageClient, mail_case: CaseView
) -> None:
    printed = forms.printed_offers(ctx, mail_case.id)
    assert printed == mail_case.data["eligible_offers"]  # its letter's, box 1 first
    # the case's offers change after the letter went out: the form still shows the old
    other = ["NEW_DEVICE", "DISCOUNT_20"]
    case_control.patch_case_data(ctx, OWNER, mail_case.id, {"eligible_offers": other}, "fix")
    scans.ingest(
        ctx, BACK, "two.png", form_png(mail_case, ticks=(0, 2))
    ).model_dump()  # two: a person
    [task] = [t for t in tasks.list_queue(ctx, CLERK) if t.case_id == mail_case.id]
    html = clerk.get(f"/tasks/{task.id}").text
    select = html[html.index('name="chosen_offer"') :]
    select = select[: select.index("</select>")]
    choices = re.findall(r'<option value="([A-Z0-9_]+)"', select)
    assert choices == printed  # not the case's new offers
    boxes = " · ".join(forms.offer_title(o) for o in printed)
    assert f"Boxes from the top: {boxes}" in _text(html)
    assert f"Printed on the form: {boxes}" in _text(html)
