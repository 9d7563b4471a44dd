"""The 2D code on every form and the two-channel identification of the case."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from retention_flow.ocr.code import CodeRead, parse, payload, read_code
from retention_flow.ocr.identity import combine
from retention_flow.ocr.pipeline import FormReader
from retention_flow.ocr.readers import LineRead
from retention_flow.ocr.register import MM_PER_INCH, register
from retention_flow.ocr.template import FormTemplate
from retention_flow.ocr.validate import FieldResult

CASE = "RC-2026-000123-6"


def test_payload_round_trip_and_checks() -> None:
    text = payload(CASE, "retention_offer_v1")
    assert parse(text, "retention_offer_v1") == CodeRead(CASE, "retention_offer_v1", 1)
    damaged = text.replace("000123", "000128")
    assert parse(damaged, "retention_offer_v1").problem == (
        "the code's check does not match (damaged code)"
    )
    other = parse(payload(CASE, "retention_offer_v2"), "retention_offer_v1")
    assert other.case_number is None and "another form" in str(other.problem)
    assert parse("https://example.invalid", "retention_offer_v1").case_number is None


def test_the_printed_code_is_read(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    assert template.code is not None
    reg = register(np.asarray(make_filled().convert("L")), template)
    assert read_code(reg, template.code, template.id, 300).case_number == CASE


def _printed(status: str, value: str | None, reason: str | None = None) -> FieldResult:
    return FieldResult(
        name="case_number",
        kind="text",
        target="case_number",
        value=value,
        confidence=90.0,
        status=status,  # type: ignore[arg-type]
        reason=reason,
    )


@pytest.mark.parametrize(
    ("printed", "code", "status", "value"),
    [
        # both agree
        (_printed("ok", CASE), CodeRead(CASE), "ok", CASE),
        (_printed("unsure", CASE, "only one of two readings passes"), CodeRead(CASE), "ok", CASE),
        # one readable and valid
        (_printed("invalid", None, "empty"), CodeRead(CASE), "ok", CASE),
        (_printed("ok", CASE), CodeRead(None, problem="code unreadable"), "ok", CASE),
        # disagree
        (_printed("ok", "RC-2026-000124-6"), CodeRead(CASE), "unsure", "RC-2026-000124-6"),
        (_printed("unsure", "RC-1", "two readings differ"), CodeRead(CASE), "unsure", "RC-1"),
        # neither
        (
            _printed("invalid", None, "empty"),
            CodeRead(None, problem="code unreadable"),
            "invalid",
            None,
        ),
        # a code of another form
        (
            _printed("ok", CASE),
            CodeRead(None, "retention_offer_v2", 1, "the code names another form"),
            "unsure",
            CASE,
        ),
    ],
)
def test_two_channels(printed: FieldResult, code: CodeRead, status: str, value: str | None) -> None:
    decided = combine(printed, code)
    assert (decided.status, decided.value) == (status, value)
    if status != "ok":
        assert decided.reason


class _Blind:
    """An OCR engine that reads nothing: only the code can identify the page."""

    name = "blind"

    def read_line(self, image: np.ndarray, whitelist: str) -> LineRead:
        return LineRead("", 0.0)


def test_a_covered_case_line_is_identified_by_the_code(
    template: FormTemplate, make_filled: Callable[..., Image.Image]
) -> None:
    page = make_filled().copy()
    k = 300 / MM_PER_INCH
    box = template.field("case_number").box  # type: ignore[union-attr]
    ImageDraw.Draw(page).rectangle(
        (box.x * k + 20, box.y * k + 20, box.right * k - 20, box.bottom * k - 20), fill=255
    )
    result = FormReader([template], reader=_Blind()).read_page(page)  # type: ignore[arg-type]
    assert result.case_number == CASE
    assert result.field("case_number").status == "ok"


@pytest.mark.tesseract
def test_a_covered_code_leaves_the_printed_line(
    template: FormTemplate, make_filled: Callable[..., Image.Image], form_reader: FormReader
) -> None:
    page = make_filled().copy()
    k = 300 / MM_PER_INCH
    code = template.code
    assert code is not None
    ImageDraw.Draw(page).rectangle(
        (code.x * k, code.y * k, code.right * k, code.bottom * k), fill=255
    )
    result = form_reader.read_page(page)
    assert result.case_number == CASE and result.field("case_number").status == "ok"
