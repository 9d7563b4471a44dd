"""Why a page went to a person, in plain words naming the real cause.

A field's ``reason`` (``FieldResult.reason``) keeps the measurement behind a decision (ink
shares, readings, confidences) for the verification screen and the logs; a page's
``reasons`` — what the scanning page, the exception task and the API show — say what is
wrong with the paper in words a back-office clerk acts on: too dark in a region, a faint
mark, the QR code unreadable, the check digits not matching, skewed beyond N°, the
resolution, cut off, another form. Never a raw dict, an exception class or a match count.
"""

from __future__ import annotations

import re

#: (pattern over the technical reason, plain words; ``\\1`` etc. take the pattern's groups)
_FIELD_RULES: tuple[tuple[str, str], ...] = (
    (r"too dark in this region", "too dark in this region to read (shadow or stain?)"),
    (r"implausibly much ink", "far more ink than a mark (shadow, stain or a box filled in?)"),
    (r"runs across the box's edge", "a mark runs across the box's edge (a stamp over it?)"),
    (r"too close to the line", "a faint or very small mark: not clear whether it is there"),
    (r"two measurements disagree", "uneven light: not clear whether there is a mark"),
    (r"faint or tiny mark", "a faint or very small mark: not clear whether it is there"),
    (r"two readings differ", "read two different ways: please confirm"),
    (r"only one of two readings", "not read with certainty: please confirm"),
    (r"second attempt", "read only on a second try: please confirm"),
    (r"^no case (\S+)", r"no case \1 exists"),
    (r"the code says (\S+), the printed line (\S+)", r"the QR code says \1, the printed line \2"),
    (r"names another form \(([^)]*)\)", r"the QR code belongs to another form (\1)"),
    (
        r"check digits do not match|check character does not match|check digit does not",
        "the check digits do not match (smudged or misread?)",
    ),
    (r"old check digits", "printed with the old check digits: please confirm"),
    (r"not a case number", "not readable as a case number"),
    (r"^not a date", "not readable as a date"),
    (r"implausible year (\d+)", r"the year \1 cannot be right"),
    (r"^confidence (\d+) below", r"not read with certainty (confidence \1 of 100)"),
    (r"OCR engine failed|could not be read \(", "the text could not be read"),
    (r"(\d+) offers ticked", r"\1 offers ticked (only one may be)"),
    (r"^empty$", "left empty"),
    (r"code's check does not match", "the QR code is damaged"),
    (r"not one of our forms' codes", "the QR code is not from one of our forms"),
)
_CODE_UNREADABLE = re.compile(r";?\s*code unreadable")


def field_label(name: str) -> str:
    """``signed_on`` → ``signed on``: a field named as the form shows it."""
    return name.replace("_", " ")


def plain_field_reason(reason: str | None) -> str:
    """The plain words for one field's technical ``reason`` (several causes joined by
    "; "), or the reason itself when it is already plain."""
    if not reason:
        return "not clear"
    code_gone = bool(_CODE_UNREADABLE.search(reason))
    text = _CODE_UNREADABLE.sub("", reason).strip("; ")
    parts: list[str] = []
    for piece in re.split(r";\s*", text) if text else []:
        box = re.match(r"(box \d+): (.*)", piece)
        head, body = (box.group(1) + ": ", box.group(2)) if box else ("", piece)
        parts.append(head + _plain(body))
    if code_gone:
        parts.append("the QR code could not be read")
    unique = list(dict.fromkeys(parts))
    return "; ".join(unique) or "not clear"


def _plain(reason: str) -> str:
    for pattern, words in _FIELD_RULES:
        found = re.search(pattern, reason)
        if found:
            return found.expand(words)
    return reason


def page_reason(name: str, reason: str | None) -> str:
    """One line of a page's ``reasons``: the field as the form names it, and why."""
    return f"{field_label(name)}: {plain_field_reason(reason)}"
