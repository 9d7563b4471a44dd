"""Why a scanned page was not booked, in words a back-office clerk reads: the one place
that turns the reasons OCR and intake store (``scan_page.reasons``, a field's ``reason``)
into plain sentences for the pages.

The stored reasons stay as written (the API and the audit keep them; rows written by an
older release keep their older wording), so every kind of reason the code has produced
is translated here: registration (blank, sideways, resolution, marks, feature matching,
alignment), field checks (case number, ticked offers, date, signature, the 2D code),
reading failures and routing (no such case, not waiting, suspended, ended). A reason
that matches none of them is still cleaned of internals (``{'case_number': ...}``,
exception class names, quoted reprs, raw measurements) before it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: the response form's fields under the names a clerk knows them by
FIELD_NAMES = {
    "case_number": "Case number",
    "offer": "Ticked offer",
    "offer_choice": "Ticked offer",
    "signed_on": "Date",
    "signature": "Signature",
}

NOT_OUR_FORM = (
    "This is not one of our response forms, or the page is cut off or damaged: "
    "its corner marks could not be found."
)
NOT_LINED_UP = (
    "The page could not be lined up with the form (skewed, stretched or scanned at the "
    "wrong size): scan it again, straight and at 300 dpi."
)
SYSTEM_PROBLEM = "The page could not be read because of a technical problem: try again later."

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rules(*pairs: tuple[str, str | Callable[[re.Match[str]], str]]) -> list[Rule]:
    out: list[Rule] = []
    for pattern, text in pairs:
        make = text if callable(text) else (lambda _m, t=text: t)
        out.append((re.compile(pattern, re.IGNORECASE | re.DOTALL), make))
    return out


def field_label(name: Any) -> str:
    """A form field as the clerk knows it ("Ticked offer", not ``offer``)."""
    text = str(name)
    return FIELD_NAMES.get(text, text.replace("_", " ").capitalize())


def _boxes(match: re.Match[str]) -> str:
    numbers = re.findall(r"box (\d+)", match.group(0))
    if len(numbers) == 1:
        return f"the mark in box {numbers[0]} is unclear (faint, erased or smudged): please look"
    listed = ", ".join(numbers[:-1]) + " and " + numbers[-1]
    return f"the marks in boxes {listed} are unclear (faint, erased or smudged): please look"


#: page-level reasons: the page as a whole (registration, reading, routing)
PAGE_RULES = _rules(
    (r"^no page image$", "No image of this page is stored."),
    (r"the page is blank", "The page is blank."),
    (r"sideways \(landscape", "The page was scanned sideways: scan it upright."),
    (r"mirrored or sideways", "The page seems mirrored or turned: scan it upright."),
    (
        r"^resolution: .* (\d+) dpi;",
        "The scan is too coarse or too fine, or the page is cut off: scan the whole page "
        "at 300 dpi.",
    ),
    (r"too steep an angle", "The photo is taken at a slant: photograph the page from above."),
    (r"registration marks found|^no template fits|feature matching", NOT_OUR_FORM),
    (r"^bad alignment: .*skewed", "The page is skewed: feed it straight and scan it again."),
    (r"^bad alignment|could not be aligned", NOT_LINED_UP),
    (r"the reference of \S+ has too few features", SYSTEM_PROBLEM),
    (r"^unreadable value", "A value on the page could not be stored: check the page."),
    (
        r"^no readable case number|^the case number could not be read",
        "No case number could be read on the page.",
    ),
    (r"^page could not be read|OCR engine|tesseract|decoder|no OCR backend", SYSTEM_PROBLEM),
    (r"^no exception task could be opened", "No task could be opened for this page."),
)

#: why a page did not reach its case (after "not correlated: ")
ROUTING_RULES = _rules(
    (
        r"no open case matches \{.*?'case_number': '([^']+)'",
        lambda m: f"No open case has the case number {m.group(1)}.",
    ),
    (r"no open case matches", "No open case matches the case number read."),
    (r"more than one open case", "More than one open case has this case number."),
    (
        r"is suspended",
        "The case is suspended: it takes the form once someone resumes it.",
    ),
    (
        r"not waiting for",
        "The case is not waiting for a response form (it has moved on or already has one).",
    ),
    (
        r"case \S+ is (completed|cancelled|terminated|failed)",
        lambda m: f"The case has already ended ({m.group(1)}).",
    ),
)

#: a field's own reason (after "<field>: " in a page reason, or a field's ``reason``)
FIELD_RULES = _rules(
    (r"^no case (\S+)( exists)?$", lambda m: f"no case has the number {m.group(1)}"),
    (r"^empty$", "left empty"),
    (r"^(\d+) offers ticked$", lambda m: f"{m.group(1)} offers ticked"),
    (r"^no offer ticked$", "no offer ticked"),
    (r"^(box \d+: [^;]*;?\s*)+$", _boxes),
    (r"^two readings differ", "read two different ways: please confirm"),
    (r"^only one of two readings", "read two different ways: please confirm"),
    (r"^not a case number", "what was read is not a case number"),
    (
        r"check (digits?|character) does not match|check digits do not match",
        "the check digits do not match (misread or mistyped)",
    ),
    (r"old check digits", "printed with the old check digits: please confirm"),
    (r"^not a date", "not a date (day.month.year)"),
    (r"^implausible year (\d+)", lambda m: f"the year {m.group(1)} cannot be right"),
    (r"^does not match ", "not in the expected form"),
    (r"^confidence [\d.]+ below", "hard to read: please confirm"),
    (r"second attempt", "read only on a second look: please confirm"),
    (r"^could not be read|OCR engine failed", "could not be read"),
    (r"too dark", "too dark to read (shadow or stain?)"),
    (r"implausibly much ink", "too much ink to judge (shadow or stain?)"),
    (
        r"faint or tiny mark|too close to the line|measurements disagree",
        "the mark is too faint to be sure",
    ),
    (
        r"the code says (\S+), the printed line (\S+)",
        lambda m: f"the code says {m.group(1)} but the printed line {m.group(2)}",
    ),
    (r"code names another form", "the code belongs to another form"),
    (r"code's check does not match|damaged code", "the code on the page is damaged"),
    (r"not one of our forms' codes", "the code on the page is not ours"),
    (r"code unreadable", "the code could not be read"),
)


class _FieldPrefix:
    """``<field>: <reason>``, the field as stored (``signed_on``) or as the reader now
    writes it (``signed on``); ``group(1)`` is always the stored name."""

    _pattern = re.compile(r"^([a-z][a-z0-9_]*(?: [a-z0-9]+)*): (.+)$", re.DOTALL)

    def match(self, text: str) -> re.Match[str] | None:
        found = self._pattern.match(text)
        if found is None or " " not in found.group(1):
            return found
        stored = found.group(1).replace(" ", "_")
        return self._pattern.match(f"{stored}: {found.group(2)}")


_FIELD_PREFIX = _FieldPrefix()
#: older rows say "not correlated: ", newer ones "the case did not take the form: "
_REFUSED = r"(?:not correlated|the case did not take the form)"
_ASSIGNED = re.compile(rf"^assigned to (\S+) by ([^;]+); {_REFUSED}: (.+)$", re.DOTALL)
_NOT_CORRELATED = re.compile(rf"^{_REFUSED}: (.+)$", re.DOTALL)


def _first(rules: list[Rule], text: str) -> str | None:
    for pattern, make in rules:
        found = pattern.search(text)
        if found:
            return make(found)
    return None


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".;:")
    return (text[:1].upper() + text[1:] + ".") if text else ""


def clean(text: str) -> str:
    """Whatever ``text`` is, without the internals a clerk cannot read: mappings show
    their values, quoted reprs their text, ``(SomeError: ...)`` and raw measurements go."""
    text = re.sub(
        r"\{[^{}]*\}", lambda m: ", ".join(re.findall(r":\s*'([^']*)'", m.group(0))), text
    )
    text = re.sub(r"\s*\([A-Z][A-Za-z]*(Error|Exception|Failed)\b[^)]*\)", "", text)
    text = re.sub(r"\b[A-Z][A-Za-z]*(Error|Exception): ", "", text)
    text = re.sub(r"'([^']*)'", r"\1", text)
    text = re.sub(r"\s*\((ink share|density|at least|[\d.]+ ?%)[^)]*\)", "", text)
    text = re.sub(r"\s*\b\d+\.\d{2,}\b", "", text)  # raw measurements
    text = re.sub(r"\b([a-z]+)_([a-z]+)\b", r"\1 \2", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def field_reason(reason: str | None, status: str | None = "unsure") -> str:
    """A field's reason (``unsure``/``invalid``) in a few plain words, no full stop."""
    if not reason:
        known = {"invalid": "not valid", "unsure": "unsure", "empty": "left empty"}
        return known.get(str(status), "unsure")
    parts = [p for p in (s.strip() for s in reason.split("; ")) if p]
    if all(p.startswith("box ") for p in parts):
        return _first(FIELD_RULES, reason) or clean(reason)
    words = [_first(FIELD_RULES, p) or clean(p) for p in parts]
    return "; ".join(dict.fromkeys(w for w in words if w))


def field_note(field: Mapping[str, Any]) -> str:
    """A read field's reason in plain words (``field_reason`` of its reason and status)."""
    reason = field.get("reason")  # a stored row may hold anything: shown as text
    return field_reason(None if reason is None else str(reason), str(field.get("status")))


def plain(reason: str) -> str:
    """One stored page reason as a plain sentence."""
    text = str(reason).strip()
    assigned = _ASSIGNED.match(text)
    if assigned:
        number, by, why = assigned.groups()
        then = plain(f"not correlated: {why}")
        return f"Assigned to {number} by {by.strip()}, but {then[:1].lower()}{then[1:]}"
    routed = _NOT_CORRELATED.match(text)
    if routed:
        return _first(ROUTING_RULES, routed.group(1)) or _sentence(
            "the case could not take the form: " + clean(routed.group(1))
        )
    field = _FIELD_PREFIX.match(text)
    if field is not None and field.group(1) in FIELD_NAMES:
        return _sentence(f"{field_label(field.group(1))}: {field_reason(field.group(2))}")
    found = _first(PAGE_RULES, text)
    if found:
        return found
    if field is not None and _first(FIELD_RULES, field.group(2).split("; ")[0]):
        return _sentence(f"{field_label(field.group(1))}: {field_reason(field.group(2))}")
    return _sentence(clean(text)) or "The page could not be matched to a waiting case."


def plain_all(reasons: Iterable[Any]) -> list[str]:
    """The page's reasons as plain sentences, each once, in their order."""
    return list(dict.fromkeys(plain(str(r)) for r in reasons if str(r).strip()))


def headline(reasons: Iterable[Any]) -> str:
    """What happened to a page, short, for a title: its first reason (a case number's
    problem without the field's name: the title is about the case)."""
    stored = [str(r) for r in reasons if str(r).strip()]
    if not stored:
        return "not matched to a waiting case"
    field = _FIELD_PREFIX.match(stored[0])
    if field is not None and field.group(1) == "case_number":
        return field_reason(field.group(2))
    if field is not None and field.group(1) in FIELD_NAMES:
        return f"{field_label(field.group(1)).lower()}: {field_reason(field.group(2))}"
    first = plain(stored[0]).rstrip(".").split(": ")[0]  # the advice after it is below
    return first[:1].lower() + first[1:]


def task_title(reasons: Iterable[Any]) -> str:
    """The title of a scanned page's exception task: what happened, not the case's id."""
    return "Scanned page not booked: " + headline(reasons)


def field_value(field: Mapping[str, Any]) -> Any:
    """A read field's value as a clerk reads it: ticked boxes of a page read without its
    case are stored as positions (0 = the first box) and shown as "box 1"."""
    value = field.get("value")
    if field.get("kind") != "checkbox_group":
        return value
    values = value if isinstance(value, list) else [value]
    boxes = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if not boxes or len(boxes) != len(values):
        return value
    return [f"box {v + 1}" for v in boxes]
