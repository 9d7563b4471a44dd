"""Print → fill → degrade → read back, with the real Tesseract engine."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from retention_flow.ocr.errors import OcrUnavailable, UnreadableInput
from retention_flow.ocr.forms import FormData, render_image, render_pdf
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineReader, PytesseractReader
from retention_flow.ocr.synthetic import degrade, fill
from retention_flow.ocr.template import FormTemplate, load_template, load_templates
from tests.ocr.conftest import CASE, TEMPLATES, lookup

pytestmark = pytest.mark.tesseract

EXPECTED = {
    "case_number": CASE,
    "chosen_offer": "DISCOUNT_20",
    "signed_on": "2026-11-03",
    "signed": True,
    "uncertain": False,
}


def _rotate(angle: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: im.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)


@pytest.mark.parametrize(
    "scan",
    [
        lambda im: im,
        _rotate(2.0),
        _rotate(-2.0),
        lambda im: degrade(im, "noise", random.Random(1))[0],
        lambda im: degrade(im, "blur", random.Random(2))[0],
        lambda im: degrade(im, "jpeg", random.Random(3))[0],
        lambda im: degrade(im, "combined", random.Random(4))[0],
        lambda im: im.rotate(180),
    ],
    ids=["clean", "rot+2", "rot-2", "noise", "blur", "jpeg", "combined", "upside-down"],
)
def test_round_trip(
    form_reader: FormReader,
    make_filled: Callable[..., Image.Image],
    scan: Callable[[Image.Image], Image.Image],
) -> None:
    result = form_reader.read_page(scan(make_filled()), lookup)
    assert result.status == "processed", result.reasons
    assert result.message == EXPECTED
    assert result.template_id == "retention_offer_v1" and result.case_number == CASE
    for field in result.fields:
        assert field.box is not None and field.confidence >= 50


def test_pdf_file_round_trip(
    form_reader: FormReader, template: FormTemplate, form_data: FormData
) -> None:
    (page,) = form_reader.read_file(render_pdf(template, form_data), lookup)
    assert page.status == "verification"  # nothing ticked on a blank form
    assert page.reasons == ["offer: no offer ticked"]
    assert page.message["signed"] is False and page.message["signed_on"] is None


def test_png_file_and_bad_files(
    form_reader: FormReader, make_filled: Callable[..., Image.Image]
) -> None:
    buffer = io.BytesIO()
    make_filled().save(buffer, "PNG")
    (page,) = form_reader.read_file(buffer.getvalue(), lookup)
    assert page.status == "processed"
    with pytest.raises(UnreadableInput):
        form_reader.read_file(b"GIF89a not really")


@pytest.mark.parametrize(
    ("fill", "status", "reason"),
    [
        ({"ticks": (0, 2)}, "verification", "offer: 2 offers ticked (only one may be)"),
        ({"ticks": ()}, "verification", "offer: no offer ticked"),
        ({"date_text": "3l.I1.2O26"}, "verification", "signed on: not readable as a date"),
    ],
)
def test_unclear_forms_go_to_verification(
    form_reader: FormReader,
    make_filled: Callable[..., Image.Image],
    fill: dict[str, object],
    status: str,
    reason: str,
) -> None:
    result = form_reader.read_page(make_filled(**fill), lookup)
    assert result.status == status
    assert any(r.startswith(reason) for r in result.reasons), result.reasons
    assert result.message["uncertain"] is True


def test_unknown_case_and_blank_page_are_exceptions(
    form_reader: FormReader, make_filled: Callable[..., Image.Image]
) -> None:
    unknown = form_reader.read_page(make_filled(), lambda number: None)
    assert unknown.status == "exception"
    assert unknown.reasons == [f"case number: no case {CASE} exists"]
    blank = form_reader.read_page(Image.new("L", (2481, 3508), 255))
    assert blank.status == "exception" and "blank" in blank.reasons[0]


def test_pytesseract_backend_reads_the_same(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    try:
        line_reader = PytesseractReader()
    except OcrUnavailable as exc:
        pytest.skip(f"pytesseract backend: {exc.detail} (apt-get install tesseract-ocr)")
    reader = FormReader([template], reader=line_reader)
    result = reader.read_page(make_filled(), lookup)
    assert result.message == EXPECTED


def test_both_shipped_forms_are_identified_and_read(
    line_reader: LineReader, form_data: FormData, make_filled: Callable[..., Image.Image]
) -> None:
    reader = FormReader(load_templates(TEMPLATES), reader=line_reader)
    v2 = load_template(TEMPLATES / "retention_offer_v2")
    page = fill(render_image(v2, form_data), v2, ticks=[2], date_text="03.11.2026", signed=True)
    for scan, template_id, offer in (
        (page, "retention_offer_v2", "LOYALTY_BONUS"),
        (make_filled(), "retention_offer_v1", "DISCOUNT_20"),
    ):
        result = reader.read_page(scan, lookup)
        assert result.template_id == template_id and result.status == "processed", result.reasons
        assert result.message["chosen_offer"] == offer and result.case_number == CASE


def test_a_page_without_marks_is_read_by_feature_alignment(
    form_reader: FormReader, make_filled: Callable[..., Image.Image]
) -> None:
    page = make_filled()
    ImageDraw.Draw(page).rectangle([0, 0, 300, 300], fill=255)  # the ring mark cut off
    result = form_reader.read_page(page.rotate(-1.5, fillcolor=255), lookup)
    assert result.registration is not None and result.registration.method == "features"
    assert result.status == "processed" and result.message == EXPECTED
