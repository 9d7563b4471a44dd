"""Hostile uploads through POST /api/scans: each file over a scan limit is refused (413
``scan_limit_exceeded``) with its own reason and the setting that bounds it (time by the
decoder child's CPU seconds per page: bench/hostile_uploads.py measures wall-clock time),
without the serving process decoding anything (a decoder child does), and nothing of the
upload is stored. The files are made at test time (tests/scans/hostile_files.py)."""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import SCAN, SCAN_PAGE
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.scans import decode as scan_decode
from tests.scans import hostile_files as hostile
from tests.scans.conftest import PASSWORD, blank_png, form_png
from tests.web.conftest import PageClient

Auth = Callable[[str, str], dict[str, str]]

#: file → (the limit it breaks, words of its reason)
EXPECTED: dict[str, tuple[str, str]] = {
    "operator_bomb.pdf": ("SCAN_PAGE_SECONDS", "page 1 took more than 1 s of CPU time"),
    "huge_image.pdf": ("SCAN_MAX_IMAGE_PIXELS", "embeds a 46000x46000 image"),
    "ccitt_fax.pdf": ("SCAN_MAX_IMAGE_PIXELS", "embeds a 46000x46000 image"),
    "jbig2.pdf": ("SCAN_MAX_IMAGE_PIXELS", "embeds a 46000x46000 image"),
    "nested_forms.pdf": ("SCAN_PAGE_SECONDS", "page 1 took more than 1 s of CPU time"),
    "many_pages.pdf": ("SCAN_MAX_PAGES", "the PDF has 5000 pages; at most 50"),
    "pages_59mpx.tif": ("SCAN_MAX_REQUEST_PIXELS", "pages come to more than 450000000"),
    "png_bomb.png": ("SCAN_MAX_PAGE_PIXELS", "decompression bomb"),
    "deflate_bomb.png": ("SCAN_MAX_PAGE_PIXELS", "9000x9000 pixels, more than 60000000"),
    "jpeg_bomb.jpg": ("SCAN_MAX_PAGE_PIXELS", "decompression bomb"),
}
EXTRA: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "recursive_form.pdf": (hostile.recursive_form_pdf, "SCAN_PAGE_SECONDS", "of CPU time"),
    "deep_forms.pdf": (
        lambda: hostile.nested_forms_pdf(depth=10),
        "SCAN_MAX_PAGE_OBJECTS",
        "nests Form XObjects more than 8 deep",
    ),
    "huge_strip.tif": (
        lambda: hostile.tiff_claiming(60_000, 60_000),
        "SCAN_MAX_PAGE_PIXELS",
        "decompression bomb",
    ),
    "wide_page.pdf": (
        lambda: hostile.image_pdf(40, 40).replace(
            b"/MediaBox [0 0 595 842]", b"/MediaBox [0 0 14400 14400]"
        ),
        "SCAN_MAX_PAGE_PIXELS",
        "PDF page 1 is 5080x5080 mm",
    ),
}
HOSTILE = {
    **{name: (build, *EXPECTED[name]) for name, build in hostile.HOSTILE.items()},
    **EXTRA,
}


def _counts(ctx: AppContext) -> tuple[int, int]:
    with read_session(ctx.db) as session:
        scans = session.execute(select(func.count()).select_from(SCAN)).scalar_one()
        pages = session.execute(select(func.count()).select_from(SCAN_PAGE)).scalar_one()
    return int(scans), int(pages)


def _post(client: TestClient, headers: dict[str, str], files: dict[str, bytes]) -> Any:
    body = [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
    return client.post("/api/scans", headers=headers, files=body)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_refused_naming_its_limit(
    ctx: AppContext, client: TestClient, auth: Auth, name: str
) -> None:
    build, limit, words = HOSTILE[name]
    data = build()
    assert len(data) < 1_000_000  # small on disk: the cost is in what it declares
    headers = auth("bea", "back_office")
    before_rss = _max_rss_mb()
    response = _post(client, headers, {name: data})
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["code"] == "scan_limit_exceeded"
    [refused] = body["errors"]
    assert refused["field"] == "files[0]" and refused["file"] == name
    assert refused["limit"] == f"RETENTION_FLOW_{limit}"
    assert words in refused["message"], refused["message"]
    assert _max_rss_mb() - before_rss < 100  # decoded in a child, not here
    assert _counts(ctx) == (0, 0)


def test_a_corrupt_file_is_an_unreadable_scan_not_a_refusal(
    ctx: AppContext, client: TestClient, auth: Auth
) -> None:
    response = _post(
        client,
        auth("bea", "back_office"),
        {"corrupt.pdf": hostile.truncated(hostile.many_pages_pdf(3))},
    )
    assert response.status_code == 200, response.text
    [scan] = response.json()["data"]
    assert scan["status"] == "unreadable" and "not a readable PDF" in scan["error"]
    assert _counts(ctx) == (1, 0)


@pytest.mark.tesseract
@pytest.mark.usefixtures("ocr_engine")
def test_one_file_over_a_limit_refuses_the_whole_upload(
    ctx: AppContext, client: TestClient, auth: Auth, mail_case: CaseView
) -> None:
    headers = auth("bea", "back_office")
    good = form_png(mail_case)
    files = {
        "good.png": good,
        "huge_image.pdf": hostile.huge_image_pdf(),
        "blank.png": blank_png(),
        "png_bomb.png": hostile.png_claiming(100_000, 100_000),
    }
    response = _post(client, headers, files)
    assert response.status_code == 413, response.text
    body = response.json()
    assert [e["file"] for e in body["errors"]] == ["huge_image.pdf", "png_bomb.png"]
    assert [e["field"] for e in body["errors"]] == ["files[1]", "files[3]"]
    assert "nothing of this upload was stored" in body["detail"]
    assert _counts(ctx) == (0, 0)  # not the good files either: nothing half-stored

    again = _post(client, headers, {"good.png": good, "blank.png": blank_png()})
    assert again.status_code == 200, again.text
    assert [s["status"] for s in again.json()["data"]] == ["read", "read"]
    assert again.json()["data"][0]["pages"][0]["status"] == "processed"
    assert _counts(ctx) == (2, 2)


def test_pages_and_pixels_are_a_budget_of_the_whole_request(
    ctx: AppContext, client: TestClient, auth: Auth
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"scan_max_pages": 4, "scan_async": True})
    headers = auth("bea", "back_office")
    three = hostile.many_pages_pdf(3)
    response = _post(client, headers, {"three.pdf": three, "two.pdf": hostile.many_pages_pdf(2)})
    assert response.status_code == 413, response.text
    [refused] = response.json()["errors"]
    assert refused["file"] == "two.pdf" and refused["limit"] == "RETENTION_FLOW_SCAN_MAX_PAGES"
    assert "at most 1 are accepted" in refused["message"]
    assert "what the files before it left of this request's 4 pages" in refused["message"]
    assert _counts(ctx) == (0, 0)

    ctx.settings = ctx.settings.model_copy(
        update={"scan_max_pages": 50, "scan_max_request_pixels": 20_000_000}
    )
    a4 = 2480 * 3508  # 8.7 Mpx at 300 dpi: two fit, three do not
    response = _post(client, headers, {"a.pdf": three})
    assert response.status_code == 413, response.text
    [refused] = response.json()["errors"]
    assert refused["limit"] == "RETENTION_FLOW_SCAN_MAX_REQUEST_PIXELS"
    assert "more than 20000000 pixels" in refused["message"] and 3 * a4 > 20_000_000
    response = _post(client, headers, {"b.pdf": hostile.many_pages_pdf(2)})
    assert response.status_code == 200, response.text  # queued for the worker (scan_async)
    assert _counts(ctx) == (1, 2)


def test_a_decoder_over_its_memory_is_stopped(
    ctx: AppContext, client: TestClient, auth: Auth
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"scan_decode_memory_mb": 64, "scan_page_seconds": 30}
    )
    response = _post(
        client, auth("bea", "back_office"), {"big.png": hostile.png_deflate_bomb(7_500)}
    )
    assert response.status_code == 413, response.text
    [refused] = response.json()["errors"]
    assert refused["limit"] == "RETENTION_FLOW_SCAN_DECODE_MEMORY_MB"
    assert "64 MB" in refused["message"]
    assert _counts(ctx) == (0, 0)


def test_no_free_decoder_answers_503_with_retry_after(
    ctx: AppContext, client: TestClient, auth: Auth
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"scan_decode_concurrency": 1, "scan_decode_wait_seconds": 0.2}
    )
    headers = auth("bea", "back_office")
    slot = scan_decode._slot(1)
    assert slot.acquire(timeout=5)  # another upload holds the only decoder
    try:
        response = _post(client, headers, {"blank.png": blank_png()})
    finally:
        slot.release()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "busy" and int(response.headers["Retry-After"]) >= 1
    assert _counts(ctx) == (0, 0)
    ctx.settings = ctx.settings.model_copy(update={"scan_async": True})
    assert _post(client, headers, {"blank.png": blank_png()}).status_code == 200
    assert _counts(ctx) == (1, 1)


def test_the_scanning_page_names_the_limit(ctx: AppContext, client: TestClient) -> None:
    users.add_user(ctx, "page_bea", PASSWORD, ["back_office"], None)
    page = PageClient(client)
    assert page.login("page_bea", PASSWORD).status_code == 303
    files = [("files", ("bomb.png", hostile.png_claiming(100_000, 100_000), "image/png"))]
    response = page.post("/scans", files=files, headers={"hx-request": "true"})
    assert response.status_code == 200, response.text
    assert "over a scan limit" in response.text and "decompression bomb" in response.text
    assert "RETENTION_FLOW_SCAN_MAX_PAGE_PIXELS" in response.text
    assert _counts(ctx) == (0, 0)


def test_a_file_over_its_cpu_time_is_stopped(
    ctx: AppContext, client: TestClient, auth: Auth
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"scan_file_seconds": 0.1})
    pages = hostile.many_pages_pdf(20)  # 20 A4 pages at 300 dpi: ~1 s of CPU
    response = _post(client, auth("bea", "back_office"), {"twenty.pdf": pages})
    assert response.status_code == 413, response.text
    [refused] = response.json()["errors"]
    assert refused["limit"] == "RETENTION_FLOW_SCAN_FILE_SECONDS"
    assert "more than 0.1 s of CPU time" in refused["message"]
    assert _counts(ctx) == (0, 0)
