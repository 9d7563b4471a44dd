"""The glyph matcher (second reader of printed lines) and its vote with Tesseract. No OCR
engine needed: Tesseract is replaced by a scripted reader."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr import forms
from retention_flow.ocr.fields import read_field
from retention_flow.ocr.forms import FormData, case_line, render_image
from retention_flow.ocr.glyphs import GlyphReader
from retention_flow.ocr.pipeline import FormReader, PageResult
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.reading import _vote
from retention_flow.ocr.register import register
from retention_flow.ocr.synthetic import degrade, fill
from retention_flow.ocr.template import FormTemplate, OcrField
from retention_flow.ocr.validate import FieldResult, FieldStatus
from tests.ocr.conftest import OFFERS

#: case numbers Tesseract's general model misread in the accuracy bench (O/0, S/5, I/1, 7)
HARD = ("RC-20260913-B0MJXF9", "RC-20260424-GCBGHR7", "RC-20260908-53VCNOF", "RC-20260417-FRX4S6I")


def _case_field(template: FormTemplate) -> OcrField:
    field = template.field("case_number")
    assert isinstance(field, OcrField) and field.printed
    return field


def _form(template: FormTemplate, case: str) -> Image.Image:
    page = render_image(template, FormData(case, "Erika Müller", ("Hauptstraße 5",), OFFERS))
    return fill(page, template, ticks=[1], date_text="03.11.2026", signed=True)


@pytest.mark.parametrize("case", HARD)
@pytest.mark.parametrize("kind", ["clean", "fax", "blur", "faint", "combined"])
def test_glyphs_read_the_printed_line(template: FormTemplate, case: str, kind: str) -> None:
    scan, _ = degrade(_form(template, case), kind, random.Random(len(case) + len(kind)))
    field = _case_field(template)
    registered = register(np.asarray(scan.convert("L")), template)
    read = read_field(registered, field, GlyphReader(field.font_size_pt, 300), 300)
    assert read.text == case_line(case)
    assert read.confidence >= field.min_confidence


def test_glyphs_follow_the_printer_to_its_courier_fallback(
    template: FormTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forms, "OCR_FONT_CANDIDATES", ())  # OCR-B not installed
    assert forms.ocr_font_file() is None
    field = _case_field(template)
    scan, _ = degrade(_form(template, HARD[0]), "combined", random.Random(3))
    registered = register(np.asarray(scan.convert("L")), template)
    read = read_field(registered, field, GlyphReader(field.font_size_pt, 300), 300)
    assert read.text == case_line(HARD[0])


class Scripted:
    """A LineReader that answers ``answer()`` for the case-number line, ``date`` otherwise."""

    name = "scripted"

    def __init__(self, answer: Callable[[], str], date: str = "03.11.2026") -> None:
        self.answer = answer
        self.date = date

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        text = self.date if "." in whitelist else self.answer()
        return LineRead(text, 95.0)


CASE = HARD[0]


def _read(template: FormTemplate, answer: Callable[[], str]) -> PageResult:
    # the printed line alone (the 2D code, a second channel, is tested in test_code.py)
    reader = FormReader([template.model_copy(update={"code": None})], reader=Scripted(answer))
    return reader.read_page(_form(template, CASE), lambda n: [o.code for o in OFFERS])


def test_a_reading_only_one_engine_backs_goes_to_a_person(template: FormTemplate) -> None:
    result = _read(template, lambda: case_line(CASE).replace("0", "O"))
    assert result.status == "verification", result.reasons
    case = result.field("case_number")
    assert case.status == "unsure" and "only one of two readings" in str(case.reason)
    assert result.case_number == CASE  # shown to the person who confirms it


def test_two_valid_but_different_readings_go_to_a_person(template: FormTemplate) -> None:
    other = "RC-20260913-B0MJXF8"
    result = _read(template, lambda: case_line(other))
    case = result.field("case_number")
    assert result.status == "verification"
    assert case.status == "unsure" and "two readings differ" in str(case.reason)
    assert case.value == CASE  # the matcher's reading is shown, a person confirms


def test_agreeing_readings_are_accepted(template: FormTemplate) -> None:
    result = _read(template, lambda: case_line(CASE))
    assert result.status == "processed" and result.case_number == CASE


def _result(status: FieldStatus, value: str | None, confidence: float = 90.0) -> FieldResult:
    return FieldResult(
        name="case_number",
        kind="text",
        target="case_number",
        value=value,
        confidence=confidence,
        status=status,
        raw=value,
    )


@pytest.mark.parametrize(
    ("tesseract", "glyphs", "status", "value"),
    [
        (_result("ok", "A"), _result("ok", "A"), "ok", "A"),
        (_result("unsure", "A", 60), _result("ok", "A"), "ok", "A"),  # agreement settles it
        (_result("ok", "A"), _result("ok", "B"), "unsure", "B"),  # both valid, they differ
        (_result("invalid", "X"), _result("ok", "A"), "unsure", "A"),  # only the matcher passes
        (_result("ok", "A"), _result("invalid", "X"), "unsure", "A"),  # only Tesseract passes
        (_result("invalid", "X"), _result("invalid", "Y"), "invalid", "X"),  # neither
    ],
)
def test_the_vote(tesseract: FieldResult, glyphs: FieldResult, status: str, value: str) -> None:
    voted = _vote(tesseract, glyphs)
    assert (voted.status, voted.value) == (status, value)
