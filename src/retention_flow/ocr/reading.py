"""Reading one text field: Tesseract, a second pass when the validator refuses, and for lines
our printer wrote (``printed``) a vote with the glyph matcher.

* both readings pass the validator and agree: that reading;
* only one passes: ``unsure`` (no second reading backs it);
* both pass but differ: ``unsure`` — a person decides, nothing is booked on a guess;
* neither passes: Tesseract again on differently prepared images. A reading that passes only
  there is at best ``unsure``: readings are never tried until one happens to pass the check
  (with dense case numbers a misread can land on a real case), so a person confirms it.

Nothing here raises: an engine error, or anything unexpected while reading a field, makes
that field ``unsure`` with the reason.
"""

from __future__ import annotations

from retention_flow.ocr.fields import VARIANTS, read_field
from retention_flow.ocr.glyphs import GlyphReader
from retention_flow.ocr.readers import LineReader
from retention_flow.ocr.register import Registered
from retention_flow.ocr.template import OcrField
from retention_flow.ocr.validate import FieldResult, validate_ocr

PASSED = frozenset({"ok", "unsure"})


def _vote(first: FieldResult, second: FieldResult) -> FieldResult:
    first_ok = first.status in PASSED and first.value is not None
    second_ok = second.status in PASSED and second.value is not None
    if first_ok and second_ok:
        if first.value == second.value:
            return max(first, second, key=lambda r: (r.status == "ok", r.confidence))
        return second.model_copy(
            update={
                "status": "unsure",
                "reason": f"two readings differ ({first.raw!r} / {second.raw!r})",
            }
        )
    # one reading passes, the other does not: no second opinion backs it, a person confirms
    if not (first_ok or second_ok):
        return first
    passed, failed = (second, first) if second_ok else (first, second)
    return passed.model_copy(
        update={
            "status": "unsure",
            "reason": f"only one of two readings passes ({failed.reason or failed.raw!r})",
        }
    )


def read_text_field(
    registered: Registered, field: OcrField, reader: LineReader, dpi: float
) -> FieldResult:
    """Read and validate ``field``; see the module docstring for how readings combine."""
    try:
        return _read_text_field(registered, field, reader, dpi)
    except Exception as exc:
        return FieldResult(
            name=field.name,
            kind=field.kind,
            target=field.target,
            value=None,
            confidence=0.0,
            status="unsure",
            reason=f"could not be read ({type(exc).__name__}: {exc})",
        )


def _read_text_field(
    registered: Registered, field: OcrField, reader: LineReader, dpi: float
) -> FieldResult:
    read = read_field(registered, field, reader, dpi)
    result = validate_ocr(field, read)
    if field.printed and not read.empty:
        glyphs = GlyphReader(field.font_size_pt, dpi)
        result = _vote(result, validate_ocr(field, read_field(registered, field, glyphs, dpi)))
    # a check character / date that fails may be a misread: read again, prepared differently
    for variant in VARIANTS[1:] if result.status == "invalid" and not read.empty else ():
        again = validate_ocr(field, read_field(registered, field, reader, dpi, variant))
        if again.status in PASSED:
            result = again.model_copy(
                update={
                    "status": "unsure",
                    "reason": f"read only on a second attempt ({again.raw!r}): please confirm",
                }
            )
            break
    return result
