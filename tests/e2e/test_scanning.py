"""Back-office scanning in a real browser: upload a filled-in response form, see where its
page went, and resolve the verification task with the crop beside the value."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.outreach import response_forms as forms
from tests.scans.conftest import BACK, START, form_png

pytestmark = [pytest.mark.browser, pytest.mark.tesseract]

SECOND = {**START, "customer_id": "C-300513", "case_number": "RC-2026-000790-7"}


def test_back_office_uploads_a_scan_and_resolves_its_verification(
    page: Any, login_as: Any, live_server: Any, ocr_engine: None, tmp_path: Path
) -> None:
    ctx = live_server.ctx
    case = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", START).id)
    other = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", SECOND).id)
    scan = tmp_path / "two-ticks.png"
    scan.write_bytes(form_png(case, ticks=(0, 2)))  # two offers ticked: a person decides
    clear = tmp_path / "batch.pdf"  # page 1: one offer ticked, booked; page 2: blank
    form = Image.open(io.BytesIO(form_png(other, ticks=(1,)))).convert("RGB")
    blank = Image.new("RGB", form.size, "white")
    form.save(clear, "PDF", save_all=True, append_images=[blank], resolution=150)

    login_as(page, "backoffice1")
    page.goto("/scans")
    page.set_input_files("#scan-files", [str(scan), str(clear)])
    page.keyboard.press("u")  # upload (the file input is not a text field)
    page.locator(".scan-result[data-scan-id]").nth(1).wait_for(timeout=60_000)
    batch = page.locator(".scan-result[data-scan-id]", has_text="batch.pdf")
    assert "Booked automatically" in batch.locator("tr[data-page='1']").inner_text()
    assert "Exception" in batch.locator("tr[data-page='2']").inner_text()
    assert cases.get_case(ctx, other.id).outcome == "retained"
    result = page.locator(".scan-result[data-scan-id]", has_text="two-ticks.png")
    row = result.locator("tr[data-page='1']")
    assert "To verify" in row.inner_text() and "2 offers ticked" in row.inner_text()
    assert case.data["case_number"] in row.inner_text()

    row.get_by_role("link", name="Verify now").click()
    page.get_by_role("heading", name="Scanned form").wait_for()
    beside = page.locator(".with-crop", has=page.get_by_label("Ticked offer"))
    width = beside.locator("img.crop").evaluate(
        "img => img.complete ? img.naturalWidth"
        " : new Promise(done => {"
        " img.onload = () => done(img.naturalWidth); img.onerror = () => done(0); })"
    )
    assert width > 0  # the crop of the ticked boxes, loaded beside the value
    assert "2 offers ticked" in beside.inner_text()
    labels = " · ".join(forms.offer_title(o) for o in case.data["eligible_offers"])
    assert f"Boxes from the top: {labels}" in beside.inner_text()
    assert page.get_by_role("radio", name="Yes", exact=True).is_checked()  # signed, as read
    chosen = case.data["eligible_offers"][0]
    page.get_by_label("Ticked offer").select_option(chosen)
    verify_url = page.url
    page.keyboard.press("Control+Enter")  # done: on to the next task, or the queue
    page.wait_for_url(lambda url: url != verify_url)

    done = cases.get_case(ctx, case.id)
    assert done.status == "completed" and done.data["chosen_offer"] == chosen
