from __future__ import annotations

import pytest

from retention_flow.ocr.fields import FieldRead
from retention_flow.ocr.forms import case_line
from retention_flow.ocr.omr import BoxRead
from retention_flow.ocr.template import CheckboxGroup, FormTemplate, OcrField
from retention_flow.ocr.validate import FieldResult, route, validate_checkboxes, validate_ocr


def _ocr(template: FormTemplate, name: str) -> OcrField:
    field = template.field(name)
    assert isinstance(field, OcrField)
    return field


@pytest.mark.parametrize(
    ("text", "confidence", "status", "value"),
    [
        (case_line("RC-2026-000123-6"), 95, "ok", "RC-2026-000123-6"),
        (case_line("RC-2026-000123-6").replace(" ", ""), 95, "ok", "RC-2026-000123-6"),
        (case_line("RC-2026-000123-6"), 40, "unsure", "RC-2026-000123-6"),
        (case_line("RC-2026-000123-6").replace("123", "128"), 99, "invalid", None),
        (case_line("RC-2026-000123-6").replace("-", "", 1), 99, "invalid", None),  # hyphen lost
        # a form printed before MOD 97-10: read, but a person confirms it
        (case_line("RC-2026-000123-6", "mod37_36"), 99, "unsure", "RC-2026-000123-6"),
        ("", 100, "invalid", None),
    ],
)
def test_case_number(
    template: FormTemplate, text: str, confidence: float, status: str, value: str | None
) -> None:
    result = validate_ocr(_ocr(template, "case_number"), FieldRead(text, confidence, 4, not text))
    assert result.status == status
    if value:
        assert result.value == value


@pytest.mark.parametrize(
    ("text", "status", "value"),
    [
        ("03.11.2026", "ok", "2026-11-03"),
        ("31.02.2026", "invalid", None),
        ("03.11.1899", "invalid", None),
        ("", "empty", None),  # the date is optional on this form
    ],
)
def test_date(template: FormTemplate, text: str, status: str, value: str | None) -> None:
    result = validate_ocr(_ocr(template, "signed_on"), FieldRead(text, 95, 4, not text))
    assert result.status == status
    if value:
        assert result.value == value


def _boxes(*states: str) -> list[BoxRead]:
    density = {"empty": 0.0, "marked": 0.25, "unsure": 0.05}
    return [BoxRead(density[s], s, True) for s in states]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("states", "status", "value"),
    [
        (("empty", "marked", "empty"), "ok", "B"),
        (("empty", "empty", "empty"), "invalid", None),
        (("marked", "marked", "empty"), "invalid", ["A", "B"]),
        (("empty", "unsure", "empty"), "unsure", None),
    ],
)
def test_exactly_one_offer(
    template: FormTemplate, states: tuple[str, ...], status: str, value: object
) -> None:
    group = template.field("offer")
    assert isinstance(group, CheckboxGroup)
    result = validate_checkboxes(
        group, [*_boxes(*states), BoxRead(0.0, "empty", False)], ["A", "B", "C"]
    )
    assert result.status == status
    if value is not None:
        assert result.value == value


def _result(name: str, status: str) -> FieldResult:
    return FieldResult(
        name=name,
        kind="text",
        target=name,
        value="x",
        confidence=90,
        status=status,
        reason=None if status == "ok" else "why",
    )


@pytest.mark.parametrize(
    ("case", "other", "page"),
    [
        ("ok", "ok", "processed"),
        ("ok", "empty", "processed"),
        ("ok", "unsure", "verification"),
        ("ok", "invalid", "verification"),
        ("unsure", "ok", "verification"),
        ("invalid", "ok", "exception"),
    ],
)
def test_route(case: str, other: str, page: str) -> None:
    status, reasons = route([_result("case_number", case), _result("offer", other)], "case_number")
    assert status == page
    assert (status == "processed") == (not reasons)
