"""End to end over HTTP: the form printed for a live mail-channel case, filled in by the
customer, scanned a little crooked and noisy, uploaded — the case completes with the
ticked offer and nobody touches it; an unclear form goes to verification instead."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from retention_flow.db.session import read_session
from retention_flow.db.tables import CONTRACT_CHANGE
from retention_flow.ocr.pages import rasterise_pdf
from retention_flow.ocr.synthetic import degrade, fill
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.outreach import response_forms as forms
from retention_flow.services.platform.context import AppContext
from tests.scans.conftest import BACK, START

pytestmark = [pytest.mark.tesseract, pytest.mark.usefixtures("ocr_engine")]


def _scanned(ctx: AppContext, case_id: str, ticks: tuple[int, ...], seed: int) -> Image.Image:
    """The case's printed form, filled in, then scanned: rotated and noisy."""
    _document, pdf = forms.case_form(ctx, case_id)
    [printed] = rasterise_pdf(pdf, dpi=300, max_pages=1)
    rng = random.Random(seed)
    filled = fill(
        printed, forms.template(), ticks=ticks, date_text="07.01.2026", signed=True, rng=rng
    )
    rotated, _dpi = degrade(filled, "rotate", rng)
    noisy, _dpi = degrade(rotated, "noise", rng)
    return noisy


def _as(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_printed_form_comes_back_and_the_case_completes_straight_through(
    ctx: AppContext, client: TestClient, auth: Callable[[str, str], dict[str, str]]
) -> None:
    case = cases.start_case(ctx, BACK, "mail_response", START)
    offers = cases.get_case(ctx, case.id).data["eligible_offers"]
    scan = _scanned(ctx, case.id, ticks=(2,), seed=11)
    blank = Image.new("L", scan.size, 255)
    batch = _as(scan, "PDF", save_all=True, append_images=[blank], resolution=300)
    back = auth("bea", "back_office")
    response = client.post(
        "/api/scans", headers=back, files=[("files", ("batch.pdf", batch, "application/pdf"))]
    )
    assert response.status_code == 200, response.text
    [stored] = response.json()["data"]
    form, empty = stored["pages"]
    assert form["status"] == "processed", form["reasons"]
    assert form["case_id"] == case.id and form["template_id"] == "retention_offer_v1"
    assert empty["status"] == "exception" and empty["exception_case_id"]  # nothing dropped
    assert empty["template_id"] is None  # a blank page matches no template
    after = cases.get_case(ctx, case.id)
    assert (after.status, after.outcome) == ("completed", "retained")
    assert after.data["offer_code"] == offers[2]
    with read_session(ctx.db) as session:
        booked = session.execute(
            select(CONTRACT_CHANGE.c.offer_code).where(CONTRACT_CHANGE.c.case_id == case.id)
        ).scalars()
        assert list(booked) == [offers[2]]


def test_unclear_form_is_verified_by_the_back_office(
    ctx: AppContext, client: TestClient, auth: Callable[[str, str], dict[str, str]]
) -> None:
    case = cases.start_case(ctx, BACK, "mail_response", START)
    offers = cases.get_case(ctx, case.id).data["eligible_offers"]
    scan = _scanned(ctx, case.id, ticks=(0, 1), seed=5)  # two offers ticked
    back = auth("bea", "back_office")
    files = [("files", ("unclear.jpg", _as(scan, "JPEG", quality=85), "image/jpeg"))]
    [stored] = client.post("/api/scans", headers=back, files=files).json()["data"]
    [page] = stored["pages"]
    assert page["status"] == "verification" and page["case_id"] == case.id
    queue = client.get("/api/tasks", headers=back, params={"role": "back_office"}).json()
    [task] = [t for t in queue["data"] if t["case_id"] == case.id]
    detail = client.get(f"/api/tasks/{task['id']}", headers=back).json()
    assert detail["element_id"] == "verify_response_form"
    read = detail["context"]["response_form"]
    assert (read["scan_id"], read["page_no"], read["uncertain"]) == (stored["id"], 1, True)
    assert client.get(page["image_url"], headers=back).status_code == 200
    unsure = [f for f in page["fields"] if f["status"] != "ok"]
    assert unsure  # each uncertain field has its crop beside the value read
    for field in unsure:
        crop = client.get(f"{page['image_url'][:-6]}/fields/{field['name']}/crop", headers=back)
        assert crop.status_code == 200 and crop.content.startswith(b"\x89PNG")
    done = client.post(
        f"/api/tasks/{task['id']}/complete",
        headers=back,
        json={"data": {"chosen_offer": offers[1], "signed": True}},
    )
    assert done.status_code == 200, done.text
    after = cases.get_case(ctx, case.id)
    assert (after.outcome, after.data["offer_code"]) == ("retained", offers[1])


def test_a_phone_photo_of_the_printed_form_with_its_code_completes_the_case(
    ctx: AppContext, client: TestClient, auth: Callable[[str, str], dict[str, str]]
) -> None:
    """Printed with its QR code, photographed (tilt, uneven light, blur, noise, JPEG),
    uploaded as a JPEG over the API: identified, read, and the case moves on."""
    from retention_flow.ocr.damage import damage

    case = cases.start_case(ctx, BACK, "mail_response", START)
    offers = cases.get_case(ctx, case.id).data["eligible_offers"]
    _document, pdf = forms.case_form(ctx, case.id)
    [printed] = rasterise_pdf(pdf, dpi=300, max_pages=1)
    rng = random.Random(5)
    filled = fill(
        printed, forms.template(), ticks=(1,), date_text="07.01.2026", signed=True, rng=rng
    )
    photo, _dpi = damage(filled, "phone", 2, rng)
    response = client.post(
        "/api/scans",
        headers=auth("bea", "back_office"),
        files=[("files", ("photo.jpg", _as(photo, "JPEG", quality=60), "image/jpeg"))],
    )
    assert response.status_code == 200, response.text
    [stored] = response.json()["data"]
    [page] = stored["pages"]
    assert page["status"] == "processed", page["reasons"]
    assert page["case_id"] == case.id
    after = cases.get_case(ctx, case.id)
    assert (after.status, after.outcome) == ("completed", "retained")
    assert after.data["offer_code"] == offers[1]
