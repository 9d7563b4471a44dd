"""Reading one text field: Tesseract, a second pass when the validator refuses, and a second
opinion: for lines our printer wrote (``printed``) the glyph matcher, for lines the
customer wrote Tesseract on the grey line (the first reading is of the thresholded line).

* both readings pass the validator and agree: that reading;
* only one passes: ``unsure`` (no second reading backs it);
* both pass but differ: ``unsure`` — a person decides, nothing is booked on a guess;
* a customer's line the two readings agree on, but with a confidence below
  ``THIRD_OPINION_BELOW``: a third reading (scaled up) must agree too, or a person decides
  (a speck beside an 11 made both readings say 12 at confidence 83);
* neither passes: Tesseract again on differently prepared images. A reading that passes only
  there is at best ``unsure``: readings are never tried until one happens to pass the check
  (with dense case numbers a misread can land on a real case), so a person confirms it.

Nothing here raises: an engine error, or anything unexpected while reading a field, makes
that field ``unsure`` with the reason.
"""

from __future__ import annotations

from retention_flow.ocr.code import CodeRead
from retention_flow.ocr.fields import VARIANTS, read_field
from retention_flow.ocr.glyphs import GlyphReader
from retention_flow.ocr.readers import LineReader
from retention_flow.ocr.register import Registered
from retention_flow.ocr.template import OcrField
from retention_flow.ocr.validate import FieldResult, validate_ocr

PASSED = frozenset({"ok", "unsure"})
#: below this confidence two agreeing readings of a customer's line need a third
THIRD_OPINION_BELOW = 90.0


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
    elif result.status == "ok":
        # a line the customer wrote: Tesseract again on the grey (not thresholded) line, a
        # second opinion from other pixels (faint ink thresholded loses strokes: 09 -> 05)
        grey = validate_ocr(field, read_field(registered, field, reader, dpi, "grey"))
        result = _vote(result, grey)
        if result.status == "ok" and result.confidence < THIRD_OPINION_BELOW:
            large = read_field(registered, field, reader, dpi, "binary_large")
            result = _vote(result, validate_ocr(field, large))
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


def confirmed_by_code(
    registered: Registered, field: OcrField, code: CodeRead, dpi: float
) -> FieldResult | None:
    """The printed case-number line read by the glyph matcher alone, when the 2D code
    decoded and the glyphs read the same number with a passing check: two independent
    channels agree, so Tesseract is not asked (the costliest step of a clean page).
    None when they do not agree (then the line is read in full and the channels combined,
    see ocr/identity.py)."""
    if code.case_number is None or not field.printed:
        return None
    try:
        glyphs = GlyphReader(field.font_size_pt, dpi)
        result = validate_ocr(field, read_field(registered, field, glyphs, dpi))
    except Exception:  # the full reading decides then
        return None
    if result.status != "ok" or result.value != code.case_number:
        return None
    return result
