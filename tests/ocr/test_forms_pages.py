from __future__ import annotations

import io

import pytest
from PIL import Image

from retention_flow.ocr.checkdigit import mod97_10_line_valid, printed_check_valid
from retention_flow.ocr.errors import UnreadableInput
from retention_flow.ocr.forms import FormData, Offer, case_line, render_pdf
from retention_flow.ocr.pages import load_pages
from retention_flow.ocr.template import FormTemplate


def test_case_line_carries_a_valid_check() -> None:
    line = case_line("RC-2026-000123-6")
    number = line.rsplit(" ", 1)[0]
    assert number == "RC-2026-000123-6" and mod97_10_line_valid(line)
    old = case_line("RC-2026-000123-6", "mod37_36")  # forms printed before MOD 97-10
    assert printed_check_valid(number, old.rsplit(" ", 1)[1])


@pytest.mark.parametrize("bad", ["rc-1", "RC--1", "RC 1", "", "X" * 31])
def test_case_line_refuses_odd_case_numbers(bad: str) -> None:
    with pytest.raises(ValueError):
        case_line(bad)


def test_pdf_and_png_at_300_dpi(template: FormTemplate, form_data: FormData) -> None:
    pdf = render_pdf(template, form_data)
    assert pdf.startswith(b"%PDF-")
    (page,) = load_pages(pdf)
    assert page.mode == "L" and page.size == (2481, 3508)
    assert page.getextrema()[0] == 0  # something is printed


def test_too_many_offers_for_the_form(template: FormTemplate) -> None:
    offers = tuple(Offer(f"O{i}", f"Offer {i}") for i in range(5))
    with pytest.raises(ValueError, match="only 4 boxes"):
        render_pdf(template, FormData("RC-1", "A B", (), offers))


def _png(image: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def test_multi_page_tiff_and_pdf(template: FormTemplate, form_data: FormData) -> None:
    a, b = Image.new("L", (800, 1100), 255), Image.new("L", (800, 1100), 0)
    tiff = _png(a, "TIFF", save_all=True, append_images=[b])
    assert [p.getextrema() for p in load_pages(tiff)] == [(255, 255), (0, 0)]
    with pytest.raises(UnreadableInput, match="at most 1"):
        load_pages(tiff, max_pages=1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, not an image", "not an image"),
        (b"%PDF-1.7\nbroken", "not a readable PDF"),
    ],
)
def test_bad_input_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableInput, match=reason):
        load_pages(data)


def test_truncated_and_oversized_images() -> None:
    png = _png(Image.new("L", (1000, 1000), 128))
    with pytest.raises(UnreadableInput, match="damaged or truncated"):
        load_pages(png[: len(png) // 2])
    with pytest.raises(UnreadableInput, match="more than"):
        load_pages(png, max_pixels=10_000)
