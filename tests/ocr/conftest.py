"""OCR fixtures: the shipped template, rendered forms, and a Tesseract reader (the tests
marked ``tesseract`` skip without one, and fail under CI=true, see tests/conftest.py)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retention_flow.ocr.errors import OcrUnavailable
from retention_flow.ocr.forms import FormData, Offer, render_image
from retention_flow.ocr.omr import SATURATED_SIGNATURE, BoxRead, read_box
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineReader, make_reader
from retention_flow.ocr.register import MM_PER_INCH, register
from retention_flow.ocr.synthetic import fill
from retention_flow.ocr.template import (
    Box,
    FormTemplate,
    OcrField,
    SignatureField,
    load_template,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "ocr_templates"
OFFERS = (
    Offer("NEW_DEVICE", "New device"),
    Offer("DISCOUNT_20", "20 % off the monthly fee for 12 months"),
    Offer("LOYALTY_BONUS", "Loyalty bonus"),
)
CASE = "RC-2026-000123-6"


@pytest.fixture(scope="session")
def template() -> FormTemplate:
    return load_template(TEMPLATES / "retention_offer_v1")


@pytest.fixture(scope="session")
def form_data() -> FormData:
    return FormData(CASE, "Erika Müller", ("Hauptstraße 5", "10115 Berlin"), OFFERS)


@pytest.fixture(scope="session")
def blank_form(template: FormTemplate, form_data: FormData) -> Image.Image:
    return render_image(template, form_data)


@pytest.fixture(scope="session")
def make_filled(template: FormTemplate, blank_form: Image.Image) -> Callable[..., Image.Image]:
    def make(
        ticks: Sequence[int] = (1,), date_text: str | None = "03.11.2026", signed: bool = True
    ) -> Image.Image:
        return fill(
            blank_form,
            template,
            ticks=ticks,
            date_text=date_text,
            signed=signed,
            rng=random.Random(7),
        )

    return make


@pytest.fixture(scope="session")
def line_reader() -> LineReader:
    try:
        return make_reader("auto")
    except OcrUnavailable as exc:
        pytest.skip(f"Tesseract not installed: {exc.detail}")


@pytest.fixture(scope="session")
def form_reader(template: FormTemplate, line_reader: LineReader) -> FormReader:
    return FormReader([template], reader=line_reader)


def lookup(case_number: str) -> list[str] | None:
    return [o.code for o in OFFERS] if case_number == CASE else None


#: pixels per millimetre at 300 dpi, the test pages' resolution
K = 300 / MM_PER_INCH


def px(box: Box) -> tuple[int, int, int, int]:
    """A template box in pixels of a 300 dpi page: x0, y0, x1, y1."""
    return round(box.x * K), round(box.y * K), round(box.right * K), round(box.bottom * K)


def date_field(template: FormTemplate) -> OcrField:
    field = template.field("signed_on")
    assert isinstance(field, OcrField)
    return field


def read_signature(template: FormTemplate, page: np.ndarray) -> BoxRead:
    """The signature box of a 300 dpi page, read as the form reader reads it."""
    sig = template.field("signature")
    assert isinstance(sig, SignatureField)
    return read_box(
        register(page, template),
        sig.box,
        inset=sig.inset,
        empty_max=sig.absent_max,
        marked_min=sig.present_min,
        dpi=300,
        saturated=SATURATED_SIGNATURE,
        edge_check=True,
    )
