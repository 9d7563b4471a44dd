"""Reading one text field: Tesseract, a second pass when the validator refuses, and for lines
our printer wrote (``printed``) a vote with the glyph matcher.

* both readings pass the validator and agree, or only one passes: that reading;
* both pass but differ: ``unsure`` — a person decides, nothing is booked on a guess;
* neither passes: Tesseract again on differently prepared images; still none: ``invalid``.
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
    first_ok, second_ok = first.status in PASSED, second.status in PASSED
    if first_ok and second_ok:
        if first.value == second.value:
            return max(first, second, key=lambda r: (r.status == "ok", r.confidence))
        return second.model_copy(
            update={
                "status": "unsure",
                "reason": f"two readings differ ({first.raw!r} / {second.raw!r})",
            }
        )
    if second_ok:
        return second
    return first


def read_text_field(
    registered: Registered, field: OcrField, reader: LineReader, dpi: float
) -> FieldResult:
    """Read and validate ``field``; see the module docstring for how readings combine."""
    read = read_field(registered, field, reader, dpi)
    result = validate_ocr(field, read)
    if field.printed and not read.empty:
        glyphs = GlyphReader(field.font_size_pt, dpi)
        result = _vote(result, validate_ocr(field, read_field(registered, field, glyphs, dpi)))
    # a check character / date that fails may be a misread: read again, prepared differently
    for variant in VARIANTS[1:] if result.status == "invalid" and not read.empty else ():
        again = validate_ocr(field, read_field(registered, field, reader, dpi, variant))
        if again.status in PASSED:
            result = again
            break
    return result
