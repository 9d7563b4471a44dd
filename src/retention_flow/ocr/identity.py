"""Which case a page belongs to, from two independent channels: the 2D code (ocr/code.py)
and the printed case-number line (its two readings, MOD 97-10 check).

* both readable and they agree → identified;
* only one readable and valid → identified by it;
* they disagree, the code names another form, or neither is readable → a person decides.
"""

from __future__ import annotations

from retention_flow.ocr.code import CodeRead
from retention_flow.ocr.validate import FieldResult


def combine(printed: FieldResult, code: CodeRead | None) -> FieldResult:
    """The case-number field decided from both channels (see the module docstring)."""
    if code is None:  # the template prints no code
        return printed
    readable = printed.status in {"ok", "unsure"} and printed.value is not None
    if code.case_number is None:
        if code.template_id is not None:  # a valid code of another form: something is off
            return printed.model_copy(update={"status": "unsure", "reason": code.problem})
        if printed.status == "ok":
            return printed
        why = f"{printed.reason}; {code.problem}" if printed.reason else code.problem
        return printed.model_copy(update={"reason": why})
    if readable and printed.value == code.case_number:
        return printed.model_copy(update={"status": "ok", "reason": None})
    if readable:
        reason = f"the code says {code.case_number}, the printed line {printed.value}"
        return printed.model_copy(update={"status": "unsure", "reason": reason})
    return printed.model_copy(
        update={"status": "ok", "value": code.case_number, "confidence": 100.0, "reason": None}
    )
