"""Decisions added after the damage bench broke the reader (bench/ocr_accuracy.py):

* a received-stamp over the signature box of an unsigned form read as a signature: ink that
  runs across the box's edge is never taken as "signed";
* a faint date thresholded lost a stroke (14.09.2027 read as 14.05.2027, confidence 98):
  a date the customer wrote is read again from the grey line and both must agree;
* the page's reasons are plain words (no ink shares, match counts or exception classes).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.damage import damage
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.register import MM_PER_INCH
from retention_flow.ocr.template import FormTemplate, SignatureField
from retention_flow.ocr.validate import FieldResult, route
from retention_flow.ocr.wording import plain_field_reason
from retention_flow.ocr.zones import crosses_edge

K = 300 / MM_PER_INCH


def _stamp_over_signature(page: Image.Image, template: FormTemplate) -> Image.Image:
    """A grey ring and RECEIVED over the lower edge of the signature box."""
    import cv2

    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    a = np.asarray(page.convert("L")).copy()
    cx, cy = round((sig.box.x + 30) * K), round(sig.box.bottom * K)
    r = round(20 * K)
    cv2.circle(a, (cx, cy), r, 90, round(0.8 * K))
    cv2.putText(a, "RECEIVED", (cx - r, cy), cv2.FONT_HERSHEY_SIMPLEX, r / 60, 90, round(0.6 * K))
    return Image.fromarray(a)


def test_crosses_edge_sees_strokes_at_the_edge_not_inside_or_specks() -> None:
    inner = np.full((300, 900), 255, np.uint8)
    inside = inner.copy()
    inside[100:140, 200:700] = 0  # a stroke well inside the box
    assert not crosses_edge(inside, 128, 300)
    speck = inner.copy()
    speck[0:2, 10:12] = 0  # a speck at the edge
    assert not crosses_edge(speck, 128, 300)
    crossing = inner.copy()
    crossing[250:300, 300:340] = 0  # a stroke that runs out of the bottom
    assert crosses_edge(crossing, 128, 300)


@pytest.mark.tesseract
def test_a_stamp_over_the_signature_box_is_never_a_signature(
    form_reader: FormReader, template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page = _stamp_over_signature(make_filled(signed=False), template)
    result = form_reader.read_page(page)
    signature = result.field("signature")
    assert signature.status == "unsure" and signature.value is None
    assert result.status == "verification"
    assert "signature: a mark runs across the box's edge (a stamp over it?)" in result.reasons


class _TwoMinds:
    """Reads a date one way from a thresholded line (only 0 and 255) and another from the
    grey line, as Tesseract did on a faint page."""

    name = "two-minds"

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        binary = set(np.unique(image).tolist()) <= {0, 255}
        if "." in whitelist:
            return LineRead("14.05.2027" if binary else "14.09.2027", 98.0)
        return LineRead("", 0.0)


def test_a_date_read_two_ways_goes_to_a_person(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    faint, _ = damage(make_filled(date_text="14.09.2027"), "faded", 3, random.Random(1))
    result = FormReader([template], reader=_TwoMinds()).read_page(faint)
    date = result.field("signed_on")
    assert date.status == "unsure" and "two readings differ" in (date.reason or "")
    assert result.status != "processed"
    assert "signed on: read two different ways: please confirm" in result.reasons


@pytest.mark.parametrize(
    ("technical", "plain"),
    [
        ("ink share 0.005 too close to the line", "a faint or very small mark"),
        ("two measurements disagree (ink share 0.123 after ...)", "uneven light"),
        ("confidence 61 below 70", "not read with certainty (confidence 61 of 100)"),
        ("could not be read (RuntimeError: No text returned)", "the text could not be read"),
        (
            "only one of two readings passes (check digits do not match ('RC-1 17')); "
            "code unreadable",
            "not read with certainty: please confirm; the QR code could not be read",
        ),
        ("box 2: too dark in this region to judge (shadow or stain?)", "box 2: too dark"),
        ("no case RC-2026-000123-6", "no case RC-2026-000123-6 exists"),
    ],
)
def test_field_reasons_in_plain_words(technical: str, plain: str) -> None:
    assert plain_field_reason(technical).startswith(plain)


def test_route_names_fields_as_the_form_does_without_measurements() -> None:
    fields = [
        FieldResult(
            name="signed_on",
            kind="date",
            target="signed_on",
            value=None,
            confidence=0,
            status="unsure",
            reason="the OCR engine failed: No text returned",
        ),
        FieldResult(
            name="signature",
            kind="signature",
            target="signed",
            value=None,
            confidence=0,
            status="unsure",
            reason="ink share 0.0050 too close to the line",
        ),
    ]
    status, reasons = route(fields, "case_number")
    assert status == "verification"
    assert reasons == [
        "signed on: the text could not be read",
        "signature: a faint or very small mark: not clear whether it is there",
    ]
    assert not any(ch.isdigit() for r in reasons for ch in r)
