"""Bad input in one batch: every file that is not a scan we can read is answered on its
own with a clear reason, the rest of the batch goes on, and such a file leaves no page
behind. (Files over a scan limit refuse the whole upload: test_hostile_uploads.py.)"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF
from PIL import Image
from sqlalchemy import func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import SCAN_PAGE
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import intake as scans
from tests.scans.conftest import BACK, START, form_png

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _pdf(pages: int, password: str | None = None) -> bytes:
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())


def _wrong_form() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.text(20, 30, "Dear customer, thank you for your order. This is an invoice.")
    return bytes(pdf.output())


def test_a_batch_of_bad_files_is_answered_file_by_file(
    ctx: AppContext,
    client: TestClient,
    auth: Callable[[str, str], dict[str, str]],
    mail_case: CaseView,
) -> None:
    good = form_png(mail_case)
    second = {**START, "case_number": "RC-2026-000790-1", "customer_id": "C-300513"}
    other = cases.get_case(ctx, cases.start_case(ctx, BACK, "mail_response", second).id)
    upright = Image.open(io.BytesIO(form_png(other))).convert("L")
    upside_down = _png(upright.rotate(180))
    batch = {
        "not_an_image.txt": b"hello, this is text",
        "zero.png": b"",
        "truncated.png": good[: len(good) // 3],
        "encrypted.pdf": _pdf(1, password="secret"),
        "corrupt.pdf": _pdf(2)[:300],
        "good.png": good,
        "wrong_form.pdf": _wrong_form(),
        "blank.png": _png(Image.new("L", (1240, 1754), 255)),
        "upside_down.png": upside_down,
    }
    files = [("files", (name, data, "application/octet-stream")) for name, data in batch.items()]
    response = client.post("/api/scans", headers=auth("bea", "back_office"), files=files)
    assert response.status_code == 200, response.text
    got = {s["filename"]: s for s in response.json()["data"]}
    assert list(got) == list(batch)

    refused = {
        "not_an_image.txt": "not an image",
        "zero.png": "empty",
        "truncated.png": "truncated",
        "encrypted.pdf": "encrypted",
        "corrupt.pdf": "not a readable PDF",
    }
    for name, reason in refused.items():
        scan = got[name]
        assert scan["status"] == "unreadable" and reason in scan["error"], (name, scan["error"])
        assert scan["page_count"] == 0 and scan["pages"] == []
    assert got["good.png"]["pages"][0]["status"] == "processed"
    assert cases.get_case(ctx, mail_case.id).outcome == "retained"
    for name in ("wrong_form.pdf", "blank.png"):
        [page] = got[name]["pages"]
        assert page["status"] == "exception" and page["reasons"] and page["exception_case_id"]
    [flipped] = got["upside_down.png"]["pages"]
    assert flipped["status"] in ("processed", "verification"), flipped["reasons"]
    assert flipped["case_id"] == other.id
    crop_url = f"/api/scans/{got['upside_down.png']['id']}/pages/1/fields/case_number/crop"
    crop = client.get(crop_url, headers=auth("aud", "auditor"))
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/png"
    [box] = [f["box"] for f in flipped["fields"] if f["name"] == "case_number"]
    x0, y0, x1, y1 = box
    m = scans.CROP_MARGIN_PX
    expected = upright.crop((max(0, x0 - m), max(0, y0 - m), x1 + m, y1 + m))
    assert Image.open(io.BytesIO(crop.content)).tobytes() == expected.tobytes()  # turned upright
    with read_session(ctx.db) as session:  # a page row per readable page, none for the rest
        pages = session.execute(select(func.count()).select_from(SCAN_PAGE)).scalar_one()
    assert pages == 4
