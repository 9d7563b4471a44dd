"""Validators: turn raw readings into field results (value, confidence, status, reason) and
route a page: processed (straight through), verification (a person checks), exception."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from retention_flow.ocr.checkdigit import (
    DIGIT_LOOKALIKES,
    mod11_10_valid,
    mod97_10_line_valid,
    printed_check_valid,
)
from retention_flow.ocr.fields import FieldRead
from retention_flow.ocr.forms import CASE_NUMBER_RE
from retention_flow.ocr.omr import BoxRead
from retention_flow.ocr.template import CheckboxGroup, OcrField, SignatureField
from retention_flow.ocr.wording import page_reason

FieldStatus = Literal["ok", "unsure", "invalid", "empty"]
PageStatus = Literal["processed", "verification", "exception"]
MIN_YEAR, MAX_YEAR = 2000, 2100


class FieldResult(BaseModel):
    name: str
    kind: str
    target: str
    value: str | int | bool | list[str] | list[int] | None
    confidence: float
    status: FieldStatus
    reason: str | None = None
    raw: str | None = None
    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 on the upright page image


def _split_check(text: str) -> tuple[str, str]:
    """``"RC-2026-000123-4 17"`` → number and two-digit check (also when the space is lost)."""
    if " " in text:
        number, check = text.rsplit(" ", 1)
        return number.replace(" ", ""), check
    return text[:-2], text[-2:]


def case_line_reading(text: str) -> str:
    """The one normalised reading of a printed case-number line: single spaces, the space
    before the two check digits restored when the engine lost it, digit look-alikes in the
    check read as digits. Deterministic: one reading in, one out, nothing tried."""
    text = " ".join(text.upper().split())
    if len(text) >= 3 and text[-3] != " ":
        text = f"{text[:-2]} {text[-2:]}"
    head, _, check = text.rpartition(" ")
    return f"{head.replace(' ', '')} {check.translate(DIGIT_LOOKALIKES)}"


def _check_case_line(text: str) -> tuple[str, str | None, bool]:
    """(number, problem, legacy): the reading checked with MOD 97-10 over the whole line;
    a line that passes only the old MOD 37-36 check is ``legacy`` (a person confirms)."""
    line = case_line_reading(text)
    number, _, check = line.rpartition(" ")
    if not CASE_NUMBER_RE.match(number):
        return number, f"not a case number ({text!r})", False
    if mod97_10_line_valid(line):
        return number, None, False
    if printed_check_valid(number, check):
        return number, None, True
    return number, f"check digits do not match ({text!r})", False


def _check_date(field: OcrField, read: FieldRead) -> tuple[str, str | None]:
    """The date's ISO form and what is wrong with it (None: nothing). When ink was taken
    off the zone before reading (``read.cleaned``), the date must be written out in full,
    as the format prints it: taking off ink can drop a digit (``26.01.2026`` read as
    ``6.01.2026``), never add one, so a shortened reading is refused."""
    compact = read.text.replace(" ", "")
    try:
        parsed: date = datetime.strptime(compact, field.date_format).date()
    except ValueError:
        return compact, f"not a date in the form {field.date_format} ({read.text!r})"
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        return parsed.isoformat(), f"implausible year {parsed.year}"
    if read.cleaned and parsed.strftime(field.date_format) != compact:
        return parsed.isoformat(), (
            f"not written out in full in the form {field.date_format} after taking off "
            f"{' and '.join(read.cleaned)} ({read.text!r})"
        )
    return parsed.isoformat(), None


def validate_ocr(field: OcrField, read: FieldRead) -> FieldResult:
    base: dict[str, Any] = {
        "name": field.name,
        "kind": field.kind,
        "target": field.target,
        "raw": read.text,
        "confidence": read.confidence,
    }
    if read.problem and not read.text:
        return FieldResult(**base, value=None, status="unsure", reason=read.problem)
    if read.empty or not read.text:
        if field.required:
            return FieldResult(**base, value=None, status="invalid", reason="empty")
        return FieldResult(**base, value=None, status="empty")
    value: str = read.text
    problem: str | None = None
    legacy = False
    if field.validator == "mod97_10":
        value, problem, legacy = _check_case_line(read.text)
    elif field.validator == "mod37_36":
        number, check = _split_check(read.text)
        value = number
        if not CASE_NUMBER_RE.match(number) or not printed_check_valid(number, check):
            problem = f"check character does not match ({read.text!r})"
    elif field.validator == "mod11_10":
        value = read.text.replace(" ", "")
        if not mod11_10_valid(value):
            problem = f"check digit does not match ({read.text!r})"
    elif field.validator == "date":
        value, problem = _check_date(field, read)
    elif (
        field.validator == "regex" and field.pattern and not re.fullmatch(field.pattern, read.text)
    ):
        problem = f"does not match {field.pattern} ({read.text!r})"
    if problem:
        return FieldResult(**base, value=value, status="invalid", reason=problem)
    if read.problem:
        return FieldResult(**base, value=value, status="unsure", reason=read.problem)
    if legacy:
        reason = "printed with the old check digits (before MOD 97-10): please confirm"
        return FieldResult(**base, value=value, status="unsure", reason=reason)
    if read.confidence < field.min_confidence:
        reason = f"confidence {read.confidence:.0f} below {field.min_confidence:g}"
        return FieldResult(**base, value=value, status="unsure", reason=reason)
    return FieldResult(**base, value=value, status="ok")


def _mark_confidence(reads: Sequence[BoxRead], empty_max: float, marked_min: float) -> float:
    margins = []
    for r in reads:
        if r.state == "unsure":
            return 0.0
        if r.state == "empty":
            margins.append((empty_max - r.density) / empty_max if empty_max else 1.0)
        else:
            margins.append(min(1.0, (r.density - marked_min) / marked_min))
    return round(50 + 50 * min(margins, default=1.0), 1)


def validate_checkboxes(
    field: CheckboxGroup, reads: Sequence[BoxRead], options: Sequence[str] | None
) -> FieldResult:
    """``options``: the offer codes printed in the slots (from the case); None when unknown."""
    slots = (
        range(len(options))
        if options is not None
        else [i for i, r in enumerate(reads) if r.printed]
    )
    used = [reads[i] for i in slots if i < len(reads)]
    confidence = _mark_confidence(used, field.empty_max, field.filled_min)
    marked = [i for i in slots if i < len(reads) and reads[i].state == "marked"]
    unsure = [i for i in slots if i < len(reads) and reads[i].state == "unsure"]
    densities = ", ".join(f"{reads[i].density:.3f}" for i in slots if i < len(reads))
    base: dict[str, Any] = {
        "name": field.name,
        "kind": field.kind,
        "target": field.target,
        "confidence": confidence,
        "raw": densities,
    }
    value: Any = [options[i] for i in marked] if options is not None else marked
    if len(marked) == 1:
        value = value[0]
    if unsure:
        why = "; ".join(f"box {i + 1}: {reads[i].reason or 'unclear'}" for i in unsure)
        return FieldResult(**base, value=value, status="unsure", reason=why)
    if field.validator in {"exactly_one", "at_most_one"} and len(marked) > 1:
        return FieldResult(
            **base, value=value, status="invalid", reason=f"{len(marked)} offers ticked"
        )
    if not marked:
        if field.validator == "exactly_one":
            return FieldResult(**base, value=None, status="invalid", reason="no offer ticked")
        return FieldResult(**base, value=None, status="empty")
    return FieldResult(**base, value=value, status="ok")


def validate_signature(field: SignatureField, read: BoxRead) -> FieldResult:
    base: dict[str, Any] = {
        "name": field.name,
        "kind": field.kind,
        "target": field.target,
        "raw": f"{read.density:.4f}",
    }
    if read.state == "unsure":
        return FieldResult(
            **base,
            value=None,
            confidence=0.0,
            status="unsure",
            reason=read.reason or "faint or tiny mark",
        )
    confidence = _mark_confidence([read], field.absent_max, field.present_min)
    return FieldResult(**base, value=read.state == "marked", confidence=confidence, status="ok")


def route(fields: Sequence[FieldResult], case_field: str) -> tuple[PageStatus, list[str]]:
    """processed when every field is ok (or optional and empty); exception when the case
    number is unreadable; verification otherwise. The reasons are in plain words (see
    ocr/wording.py); each field keeps its measured reason."""
    reasons: list[str] = []
    status: PageStatus = "processed"
    for f in fields:
        if f.status == "ok" or f.status == "empty":
            continue
        reasons.append(page_reason(f.name, f.reason))
        if f.name == case_field and f.status == "invalid":
            status = "exception"
        elif status == "processed":
            status = "verification"
    return status, reasons
