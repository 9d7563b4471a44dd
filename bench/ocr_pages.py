"""Synthetic damaged pages for bench/ocr_accuracy.py, made and read one at a time in worker
processes (a 300 dpi page is 8.7 MB: 3,000 of them are never held at once).

Page ``i`` of a run is a pure function of (seed, i): its printed form (case, offers,
customer; one form for each PAGES_PER_FORM pages, v1 and v2 in turn), the customer's filling
(tick, date, signature), its damage kind and severity (in turn over DEGRADATIONS), so any
page can be made again alone to look at it. Printing a form costs as much as reading a
page: each printed form is filled in and damaged PAGES_PER_FORM times, in different ways.
"""

from __future__ import annotations

import os
import random
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from retention_flow.ocr.damage import KINDS, SEVERITIES, damage
from retention_flow.ocr.forms import CASE_NUMBER_RE, FormData, Offer, render_image
from retention_flow.ocr.pipeline import FormReader, OcrContext
from retention_flow.ocr.readers import make_reader
from retention_flow.ocr.synthetic import fill
from retention_flow.ocr.template import CheckboxGroup, FormTemplate, load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "ocr_templates"


def degradations(kinds: Sequence[str] = KINDS) -> tuple[str, ...]:
    """Damage kinds and severities in turn ("clean/0": an undamaged page)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown damage kinds {unknown}; kinds: {', '.join(KINDS)}")
    return ("clean/0", *(f"{k}/{s}" for k in kinds for s in SEVERITIES))


DEGRADATIONS = degradations()
OFFERS = [
    Offer("NEW_DEVICE", "New device"),
    Offer("DISCOUNT_20", "20 % off the monthly fee for 12 months"),
    Offer("UPGRADE_DATA", "Double data volume at the same price"),
    Offer("DISCOUNT_10", "10 % off the monthly fee for 12 months"),
    Offer("LOYALTY_BONUS", "Loyalty bonus"),
]
FIRST = ["Erika", "Jan", "Łukasz", "Zoë", "Ahmet", "Marie-Luise", "Chen", "Björn"]
LAST = ["Müller", "Schmidt", "Nowak", "Yilmaz", "García", "O'Neill", "Weiß", "Li"]
#: pages made from one printed form (workers take this many pages at a time)
PAGES_PER_FORM = 10
#: the public address the forms' self-service links start with (their QR code carries the
#: link, as printed since issue 16); "" prints forms without a link (the plain code)
LINK_BASE = {"value": "https://selfservice.example-telco.de"}


@dataclass
class Sample:
    image: Image.Image
    degradation: str
    truth: dict[str, Any]
    offers: list[str]
    template_id: str


@dataclass
class PageOutcome:
    """What the reader made of one page, judged against the truth (small: sent back)."""

    index: int
    degradation: str
    template_id: str
    status: str
    reasons: list[str]
    identified_as: str | None
    #: (field name, kind, right, field status, confidence)
    fields: list[tuple[str, str, bool, str, float]] = field(default_factory=list)
    cpu: float = 0.0  # seconds of CPU the reading took (this process and its children)
    #: why no form could be aligned (ocr/refusal.CAUSES), when so
    refusal: str | None = None
    #: each field that is neither ok nor empty: its technical reason
    field_reasons: dict[str, str] = field(default_factory=dict)


def case_number(rng: random.Random) -> str:
    """The formats in use: demo/mail cases, campaign cases, and 10 % free alphanumeric ids."""
    roll = rng.random()
    day = f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if roll < 0.6:
        index = rng.randrange(1_000_000)
        return f"RC-2026-{index:06d}-{sum(map(int, f'{index:06d}')) % 10}"
    if roll < 0.9:
        return f"RC-{day}-C-{rng.randrange(1_000_000):06d}"
    customer = "".join(rng.choices(string.ascii_uppercase + string.digits, k=7))
    return f"RC-{day}-{customer}"


def load(names: str) -> list[FormTemplate]:
    return [load_template(TEMPLATES / name) for name in names.split(",")]


_PRINTED: dict[tuple[str, int, int], tuple[Image.Image, str, tuple[Offer, ...]]] = {}


def printed(
    template: FormTemplate, seed: int, form: int
) -> tuple[Image.Image, str, tuple[Offer, ...]]:
    """Printed form number ``form``: its image, case number and offers (the last two
    printed are kept: a worker takes PAGES_PER_FORM pages of one form at a time)."""
    key = (template.id, seed, form)
    if key not in _PRINTED:
        if len(_PRINTED) >= 2:
            del _PRINTED[next(iter(_PRINTED))]
        _PRINTED[key] = _print(template, seed, form)
    return _PRINTED[key]


def _print(
    template: FormTemplate, seed: int, form: int
) -> tuple[Image.Image, str, tuple[Offer, ...]]:
    rng = random.Random(seed * 7_000_003 + form)
    offers = tuple(rng.sample(OFFERS, rng.randint(1, 4)))
    case = case_number(rng)
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    extra = {}
    if LINK_BASE["value"]:  # a token shaped like make_token's, from its own generator
        own = random.Random(f"link {seed} {form}")
        chars = string.ascii_letters + string.digits + "-_"
        token = "".join(own.choices(chars, k=16)) + "." + "".join(own.choices(chars, k=12))
        extra["self_service_url"] = f"{LINK_BASE['value']}/s/{token}"
    address = (f"Hauptstraße {rng.randint(1, 200)}", "10115 Berlin")
    data = FormData(case, name, address, offers, extra)
    return render_image(template, data), case, offers


def make_sample(
    templates: list[FormTemplate],
    seed: int,
    i: int,
    labels: Sequence[str] = DEGRADATIONS,
) -> Sample:
    """Page ``i`` of the run with ``seed`` over ``labels`` (see the module docstring)."""
    rng = random.Random(seed * 1_000_003 + i)
    kind = labels[i % len(labels)]
    form = i // PAGES_PER_FORM
    template = templates[form % len(templates)]
    image, case, offers = printed(template, seed, form)
    tick = rng.randrange(len(offers))
    signed_on = date(2026, 1, 1) + timedelta(days=rng.randrange(700))
    with_date = rng.random() < 0.9
    signed = rng.random() < 0.9
    page = fill(
        image,
        template,
        ticks=[tick],
        date_text=signed_on.strftime("%d.%m.%Y") if with_date else None,
        signed=signed,
        rng=rng,
    )
    damage_kind, severity = kind.split("/")
    scan = (
        page
        if damage_kind == "clean"
        else damage(page, damage_kind, int(severity), rng, zones=zones(template, len(offers)))[0]
    )
    truth = {
        "case_number": case,
        "offer": offers[tick].code,
        "signed_on": signed_on.isoformat() if with_date else None,
        "signature": signed,
    }
    return Sample(scan, kind, truth, [o.code for o in offers], template.id)


def zones(template: FormTemplate, slots: int) -> list[tuple[float, float, float, float]]:
    """Where the field-aimed damage kinds aim: every field's box (each printed tick box
    alone)."""
    out: list[tuple[float, float, float, float]] = []
    for f in template.fields:
        boxes = f.boxes[:slots] if isinstance(f, CheckboxGroup) else [f.box]
        out += [(b.x, b.y, b.w, b.h) for b in boxes]
    return out


def lookup_for(sample: Sample) -> Any:
    """Case numbers are dense: any well-formed number names a case (with 4 offers), so a
    misread that passes the checks lands on a real case and counts as a wrong value."""
    dense = [o.code for o in OFFERS[:4]]

    def lookup(number: str) -> list[str] | None:
        if number == sample.truth["case_number"]:
            return sample.offers
        return dense if CASE_NUMBER_RE.match(number) else None

    return lookup


def judge(reader: FormReader, sample: Sample, index: int) -> PageOutcome:
    """Read one page and compare every field with the truth."""
    kinds = {f.name: f.kind for t in reader.templates for f in t.fields}
    start = cpu_seconds()
    result = reader.read_page(sample.image, lookup_for(sample))
    spent = cpu_seconds() - start
    outcome = PageOutcome(
        index,
        sample.degradation,
        sample.template_id,
        result.status,
        list(result.reasons),
        result.template_id,
        cpu=spent,
        refusal=result.refusal,
        field_reasons={
            f.name: f"{f.status}: {f.reason or ''}"
            for f in result.fields
            if f.status not in {"ok", "empty"}
        },
    )
    for name, expected in sample.truth.items():
        found = [f for f in result.fields if f.name == name]
        right = bool(found) and found[0].value == expected
        if kinds[name] == "checkbox_group" and found and isinstance(found[0].value, int):
            # no case known, so the slot's offer code is unknown: judge the slot
            right = sample.offers[found[0].value] == expected
        status = found[0].status if found else "missing"
        confidence = found[0].confidence if found else 0.0
        outcome.fields.append((name, kinds[name], right, status, confidence))
    return outcome


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (pytesseract's tesseract)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


_WORKER: dict[str, Any] = {}


def init_worker(
    templates: str,
    seed: int,
    backend: str,
    labels: Sequence[str] = DEGRADATIONS,
    loaded: list[FormTemplate] | None = None,
) -> None:
    """``loaded``: the templates themselves (the calibration reads with its own limits)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    loaded = loaded if loaded is not None else load(templates)
    reader = FormReader(loaded, OcrContext(backend=backend), make_reader(backend))  # type: ignore[arg-type]
    _WORKER.update(templates=loaded, seed=seed, reader=reader, labels=tuple(labels))


def work(index: int) -> tuple[PageOutcome, float]:
    """Make page ``index`` and read it (in a worker): its outcome and the seconds of
    CPU that making it took."""
    start = time.process_time()
    sample = make_sample(_WORKER["templates"], _WORKER["seed"], index, _WORKER["labels"])
    made = time.process_time() - start
    return judge(_WORKER["reader"], sample, index), made
