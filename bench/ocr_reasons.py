"""Why pages were not read straight through, per class of damage (for bench/ocr_accuracy.py).

Each page that went to a person is put under ONE cause, the first step of the intake that
stopped it: the page refused before any field was read (with the refusal's cause: skewed,
resolution, cut off, ...), the page aligned with the wrong form, else the first field (in
reading order: case number, offer, date, signature) that is not ok, with its reason in the
plain words the operator sees (numbers and readings as #). The table shows, for scanner-class
damage at moderate severity, for phone photos and for every damaged page, how many pages
each cause stopped; below it, the causes per kind for the first two classes.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from ocr_pages import PageOutcome
from retention_flow.ocr.damage import CAMERA_KINDS
from retention_flow.ocr.wording import plain_field_reason

FIELD_ORDER = ("case_number", "offer", "signed_on", "signature")
CLASSES = ("scanner moderate", "phone", "all damaged")


def page_classes(degradation: str) -> list[str]:
    """The classes of the reasons table a page's damage (``kind/severity``) counts in."""
    kind, severity = degradation.split("/")
    if kind == "clean":
        return []
    found = ["all damaged"]
    if kind not in CAMERA_KINDS and severity == "2":
        found.insert(0, "scanner moderate")
    if kind == "phone":
        found.insert(0, "phone")
    return found


def _generic(text: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?", "#", text)


def first_cause(outcome: PageOutcome) -> str | None:
    """The one cause a page went to a person for (see the module docstring); None when it
    was read straight through."""
    if outcome.status == "processed":
        return None
    if outcome.identified_as is None:
        if outcome.refusal is None:
            return "refused: " + _generic(outcome.reasons[0] if outcome.reasons else "unknown")
        return f"refused: {outcome.refusal}"
    if outcome.identified_as != outcome.template_id:
        return "identified as another form"
    for name in sorted(outcome.field_reasons, key=_field_rank):
        status, _, reason = outcome.field_reasons[name].partition(": ")
        words = plain_field_reason(reason) if reason else "not clear"
        return f"{name} {status}: {_generic(words)}"[:90]
    return "other: " + _generic("; ".join(outcome.reasons))[:80]


def _field_rank(name: str) -> int:
    return FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER)


class Reasons:
    """Pages per (class, cause), and per (kind, cause) for the classes of the issue's
    targets."""

    def __init__(self) -> None:
        self.per_class: dict[str, Counter[str]] = defaultdict(Counter)
        self.pages: Counter[str] = Counter()
        self.per_kind: dict[str, Counter[str]] = defaultdict(Counter)
        self.kind_pages: Counter[str] = Counter()

    def add(self, outcome: PageOutcome) -> None:
        classes = page_classes(outcome.degradation)
        cause = first_cause(outcome)
        for name in classes:
            self.pages[name] += 1
            if cause is not None:
                self.per_class[name][cause] += 1
        if classes[:1] in (["scanner moderate"], ["phone"]):
            self.kind_pages[outcome.degradation] += 1
            if cause is not None:
                self.per_kind[outcome.degradation][cause] += 1

    def print(self, top: int = 25) -> None:
        total: Counter[str] = Counter()
        for name in CLASSES:
            total.update(self.per_class[name])
        heads = "  ".join(f"{name:>16s}" for name in CLASSES)
        print(f"\n  why pages went to a person (first cause per page)        {heads}")
        pages = "  ".join(f"{self.pages[name]:16d}" for name in CLASSES)
        print(f"  {'pages in the class':56s} {pages}")
        stopped = "  ".join(f"{sum(self.per_class[name].values()):16d}" for name in CLASSES)
        print(f"  {'not straight through':56s} {stopped}")
        for cause, _ in total.most_common(top):
            cells = []
            for name in CLASSES:
                n = self.per_class[name][cause]
                share = n / self.pages[name] if self.pages[name] else 0.0
                cells.append(f"{n:7d} ({share:5.1%})" if n else f"{'-':>16s}")
            print(f"  {cause[:56]:56s} {'  '.join(cells)}")
        print("\n  causes per kind (scanner moderate, phone): pages, straight through, causes")
        for kind in sorted(self.kind_pages):
            n = self.kind_pages[kind]
            stopped_here = sum(self.per_kind[kind].values())
            causes = ", ".join(f"{c} x{k}" for c, k in self.per_kind[kind].most_common(3))
            print(f"    {kind:16s} {n:4d} {1 - stopped_here / n:7.1%}  {causes}")
