"""OCR accuracy and speed on synthetic response forms (issues 5 and 13).

Generates N forms with random data through our own generator, fills them in as a customer
would, damages each page with one of the 15 kinds of ocr/damage.py at severity 1-3 (fixed
seeds; kinds and severities in turn) and reads them back. Prints per kind and severity the
straight-through rate and the wrong values auto-accepted, the calibration table (accepted
fields' error rate by confidence band), forms/s per core on clean 300 dpi pages for both
backends (pytesseract measured beside tesserocr in the same run), then the older per-field
figures, each with its target.
Forms/s per core is given from CPU time (this process plus its tesseract
children), which a busy shared machine disturbs less than wall time (also printed).

    OMP_THREAD_LIMIT=1 python bench/ocr_accuracy.py --forms 200
"""

from __future__ import annotations

import argparse
import os
import random
import string
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before Tesseract loads: one core per reader
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from retention_flow.ocr.damage import CAMERA_KINDS, KINDS, SEVERITIES, damage  # noqa: E402
from retention_flow.ocr.errors import OcrUnavailable  # noqa: E402
from retention_flow.ocr.forms import FormData, Offer, render_image  # noqa: E402
from retention_flow.ocr.pipeline import FormReader, OcrContext  # noqa: E402
from retention_flow.ocr.readers import make_reader  # noqa: E402
from retention_flow.ocr.synthetic import fill  # noqa: E402

#: damage kinds and severities in turn ("clean/0": an undamaged page)
DEGRADATIONS = ("clean/0", *(f"{k}/{s}" for k in KINDS for s in SEVERITIES))
from retention_flow.ocr.template import FormTemplate, load_template  # noqa: E402

TEMPLATES = ROOT / "ocr_templates"
OFFERS = [
    Offer("NEW_DEVICE", "New device"),
    Offer("DISCOUNT_20", "20 % off the monthly fee for 12 months"),
    Offer("UPGRADE_DATA", "Double data volume at the same price"),
    Offer("DISCOUNT_10", "10 % off the monthly fee for 12 months"),
    Offer("LOYALTY_BONUS", "Loyalty bonus"),
]
FIRST = ["Erika", "Jan", "Łukasz", "Zoë", "Ahmet", "Marie-Luise", "Chen", "Björn"]
LAST = ["Müller", "Schmidt", "Nowak", "Yilmaz", "García", "O'Neill", "Weiß", "Li"]
TARGET_FIELD = 0.995  # field accuracy on the degraded set
TARGET_BOX = 0.999  # check boxes
TARGET_STP = 0.95  # forms straight-through
TARGET_SPEED = 15.0  # forms/s per core with the fast backend (clean 300 dpi pages)
TARGET_ACCEPTED = 0.999  # accepted fields correct
TARGET_STP_SCANNER = 0.95  # scanner-class damage, moderate severity
TARGET_STP_PHONE = 0.80  # phone photos
BANDS = ((0, 50), (50, 70), (70, 85), (85, 95), (95, 101))


@dataclass
class Sample:
    image: Image.Image
    degradation: str
    truth: dict[str, Any]
    offers: list[str]
    template_id: str


def _case_number(rng: random.Random) -> str:
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


def make_samples(templates: list[FormTemplate], count: int, seed: int) -> list[Sample]:
    """``count`` forms; each run of len(DEGRADATIONS) forms uses the next template."""
    rng = random.Random(seed)
    samples = []
    for i in range(count):
        template = templates[(i // len(DEGRADATIONS)) % len(templates)]
        offers = rng.sample(OFFERS, rng.randint(1, 4))
        case = _case_number(rng)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        data = FormData(
            case, name, (f"Hauptstraße {rng.randint(1, 200)}", "10115 Berlin"), tuple(offers)
        )
        tick = rng.randrange(len(offers))
        signed_on = date(2026, 1, 1) + timedelta(days=rng.randrange(700))
        with_date = rng.random() < 0.9
        signed = rng.random() < 0.9
        page = fill(
            render_image(template, data),
            template,
            ticks=[tick],
            date_text=signed_on.strftime("%d.%m.%Y") if with_date else None,
            signed=signed,
            rng=rng,
        )
        kind = DEGRADATIONS[i % len(DEGRADATIONS)]
        name, severity = kind.split("/")
        scan = page if name == "clean" else damage(page, name, int(severity), rng)[0]
        truth = {
            "case_number": case,
            "offer": offers[tick].code,
            "signed_on": signed_on.isoformat() if with_date else None,
            "signature": signed,
        }
        samples.append(Sample(scan, kind, truth, [o.code for o in offers], template.id))
    return samples


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pytesseract's tesseract)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(reader: FormReader, samples: list[Sample]) -> dict[str, Any]:
    by_case = {s.truth["case_number"]: s.offers for s in samples}
    kinds = {f.name: f.kind for t in reader.templates for f in t.fields}
    per_field: dict[str, Counter[str]] = defaultdict(Counter)
    per_degradation: dict[str, Counter[str]] = defaultdict(Counter)
    identified: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    routed: list[str] = []  # why a page was not processed straight through
    wrong_accepted = 0
    wall = cpu = 0.0
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    calibration: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for sample in samples:
        start, start_cpu = time.perf_counter(), _cpu()
        result = reader.read_page(sample.image, by_case.get)
        wall += time.perf_counter() - start
        cpu += _cpu() - start_cpu
        statuses[result.status] += 1
        if result.status != "processed":
            routed.append(f"{sample.degradation} {sample.template_id}: {'; '.join(result.reasons)}")
        page_wrong = result.template_id != sample.template_id
        identified[sample.template_id]["wrong" if page_wrong else "right"] += 1
        for name, expected in sample.truth.items():
            fields = [f for f in result.fields if f.name == name]
            kind = kinds[name]
            right = bool(fields) and fields[0].value == expected
            if kind == "checkbox_group" and fields and isinstance(fields[0].value, int):
                # the case number failed, so the slot's offer code is unknown: judge the slot
                right = sample.offers[fields[0].value] == expected
            per_field[f"{name} ({kind})"]["right" if right else "wrong"] += 1
            per_degradation[sample.degradation]["right" if right else "wrong"] += 1
            page_wrong |= not right
            if result.status == "processed" and fields:  # booked without a person
                band = next(b for b in BANDS if b[0] <= fields[0].confidence < b[1])
                calibration[band]["right" if right else "wrong"] += 1
                per_kind[sample.degradation]["fields_wrong" if not right else "fields_right"] += 1
        per_kind[sample.degradation]["pages"] += 1
        per_kind[sample.degradation][result.status] += 1
        if result.status == "processed" and page_wrong:
            wrong_accepted += 1
            per_kind[sample.degradation]["wrong_pages"] += 1
    return {
        "per_field": per_field,
        "per_degradation": per_degradation,
        "identified": identified,
        "statuses": statuses,
        "routed": routed,
        "wrong_accepted": wrong_accepted,
        "per_kind": per_kind,
        "calibration": calibration,
        "wall_forms_per_s": len(samples) / wall if wall else float("inf"),
        "cpu_forms_per_s": len(samples) / cpu if cpu else float("inf"),
    }


def _share(c: Counter[str]) -> float:
    total = c["right"] + c["wrong"]
    return c["right"] / total if total else float("nan")


def _row(label: str, value: str, target: str, met: bool | None) -> None:
    verdict = "" if met is None else ("met" if met else "MISSED")
    print(f"  {label:56s} {value:>8s}  {target:>10s}  {verdict}")


def _accuracy(label: str, c: Counter[str], target: float) -> None:
    share = _share(c)
    value = f"{share:.2%}" if c else "-"
    _row(
        f"{label} ({c['wrong']}/{c['right'] + c['wrong']} wrong)",
        value,
        f">= {target:.1%}",
        share >= target if c else None,
    )


def _stp(rows: list[Counter[str]]) -> tuple[float, int]:
    pages = sum(c["pages"] for c in rows)
    return (sum(c["processed"] for c in rows) / pages if pages else float("nan")), pages


def damage_report(figures: dict[str, Any]) -> None:
    """Per kind and severity; the calibration table; the issue-13 targets."""
    per_kind = figures["per_kind"]
    print("\n  kind/severity       pages  straight  verif  except  accepted fields  wrong accepted")
    for label in DEGRADATIONS:
        row = per_kind.get(label)
        if not row:
            continue
        booked = row["fields_right"] + row["fields_wrong"]
        print(
            f"  {label:18s} {row['pages']:6d}  {row['processed'] / row['pages']:7.1%}  "
            f"{row['verification']:5d}  {row['exception']:6d}  {booked:15d}  "
            f"{row['fields_wrong']:14d}"
        )
    print("\n  calibration: accepted fields (pages booked without a person) by confidence band")
    for band in BANDS:
        c: Counter[str] = figures["calibration"].get(band, Counter())
        n = c["right"] + c["wrong"]
        shown = f"{c['wrong'] / n:.3%}" if n else "-"
        print(
            f"    confidence {band[0]:3d}-{min(band[1], 100):3d}: {n:6d} fields, error rate {shown}"
        )
    accepted: Counter[str] = sum(figures["calibration"].values(), Counter())
    n = accepted["right"] + accepted["wrong"]
    share = accepted["right"] / n if n else float("nan")
    wrong = sum(c["fields_wrong"] for c in per_kind.values())
    damaged = sum(c["pages"] for k, c in per_kind.items() if not k.startswith("clean"))
    _row(f"WRONG VALUES AUTO-ACCEPTED over {damaged} damaged pages", str(wrong), "0", wrong == 0)
    _row(
        f"ACCEPTED FIELDS CORRECT ({n} accepted)",
        f"{share:.3%}",
        ">= 99.9%",
        share >= TARGET_ACCEPTED,
    )
    scanner = [
        c for k, c in per_kind.items() if k.split("/")[0] not in CAMERA_KINDS and k.endswith("/2")
    ]
    rate, pages = _stp(scanner)
    _row(
        f"STRAIGHT-THROUGH scanner class, moderate ({pages} pages)",
        f"{rate:.1%}",
        ">= 95%",
        rate >= TARGET_STP_SCANNER,
    )
    phone = [c for k, c in per_kind.items() if k.startswith("phone/")]
    rate, pages = _stp(phone)
    _row(
        f"STRAIGHT-THROUGH phone photos, all severities ({pages} pages)",
        f"{rate:.1%}",
        ">= 80%",
        rate >= TARGET_STP_PHONE,
    )


def report(name: str, figures: dict[str, Any], count: int, fast: bool) -> None:
    print(
        f"\n== backend {name}: {count} forms, one thread, OMP_THREAD_LIMIT="
        f"{os.environ.get('OMP_THREAD_LIMIT')}"
    )
    _row("measure (field values wrong/read)", "value", "target", None)
    degraded = Counter[str]()
    for kind, c in figures["per_degradation"].items():
        if kind != "clean":
            degraded.update(c)
    for field, c in sorted(figures["per_field"].items()):
        _accuracy(f"field {field}", c, TARGET_BOX if "checkbox" in field else TARGET_FIELD)
    for kind in DEGRADATIONS:
        if kind in figures["per_degradation"]:
            _accuracy(f"degradation {kind}", figures["per_degradation"][kind], TARGET_FIELD)
    for template_id, c in sorted(figures["identified"].items()):
        _accuracy(f"form identified as {template_id}", c, TARGET_FIELD)
    _accuracy("FIELD ACCURACY, degraded set (no clean)", degraded, TARGET_FIELD)
    boxes: Counter[str] = next(
        (c for f, c in figures["per_field"].items() if "checkbox" in f), Counter()
    )
    _accuracy("CHECK BOXES", boxes, TARGET_BOX)
    wrong = figures["wrong_accepted"]
    _row("WRONG VALUES AUTO-ACCEPTED (pages)", str(wrong), "0", wrong == 0)
    statuses = figures["statuses"]
    through = statuses["processed"] / count if count else float("nan")
    _row(
        f"STRAIGHT-THROUGH {dict(statuses)}",
        f"{through:.2%}",
        f">= {TARGET_STP:.0%}",
        through >= TARGET_STP,
    )
    for line in figures["routed"][:10]:
        print(f"    not straight through: {line}")
    rate = figures["cpu_forms_per_s"]
    target = f">= {TARGET_SPEED:g}" if fast else "(baseline)"
    _row(
        "FORMS/S PER CORE (CPU time)", f"{rate:.1f}", target, rate >= TARGET_SPEED if fast else None
    )
    # wall time waits for the CPU on a shared machine: context, not the per-core figure
    load = f"load {os.getloadavg()[0]:.1f}"
    _row("forms/s wall time, one thread", f"{figures['wall_forms_per_s']:.1f}", load, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--forms", "--pages", type=int, default=100, help="damaged pages to read")
    parser.add_argument("--baseline-forms", type=int, default=30, help="forms for pytesseract")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--speed-forms", type=int, default=10, help="clean pages timed per backend")
    parser.add_argument(
        "--templates",
        default="retention_offer_v1,retention_offer_v2",
        help="forms alternate between these; the reader knows them all (as in production)",
    )
    args = parser.parse_args()
    templates = [load_template(TEMPLATES / name) for name in args.templates.split(",")]
    start = time.perf_counter()
    samples = make_samples(templates, args.forms, args.seed)
    print(
        f"generated and degraded {len(samples)} forms in {time.perf_counter() - start:.1f} s;"
        f" degradations in turn: {', '.join(DEGRADATIONS)}"
    )
    print(f"load average before reading: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    speeds = {}
    for backend, count in (("tesserocr", args.forms), ("pytesseract", args.baseline_forms)):
        if count <= 0:
            continue
        try:
            line_reader = make_reader(backend)  # type: ignore[arg-type]
        except OcrUnavailable as exc:
            print(f"\n== backend {backend}: not available ({exc.detail})")
            continue
        reader = FormReader(templates, OcrContext(backend=backend), line_reader)  # type: ignore[arg-type]
        subset = samples[:count]
        figures = run(reader, subset)
        report(backend, figures, len(subset), fast=backend == "tesserocr")
        if backend == "tesserocr":
            damage_report(figures)
        clean = [
            s
            for s in make_samples(templates, args.speed_forms * len(DEGRADATIONS), args.seed + 1)
            if s.degradation == "clean/0"
        ]
        speed = run(reader, clean[: args.speed_forms])
        rate = speed["cpu_forms_per_s"]
        target = f">= {TARGET_SPEED:g}" if backend == "tesserocr" else "(beside it)"
        _row(
            f"FORMS/S PER CORE, {len(clean[: args.speed_forms])} clean 300 dpi pages",
            f"{rate:.1f}",
            target,
            rate >= TARGET_SPEED if backend == "tesserocr" else None,
        )
        speeds[backend] = rate
    print(f"\nload average after reading: {os.getloadavg()[0]:.2f}")
    if len(speeds) == 2:
        ratio = speeds["tesserocr"] / speeds["pytesseract"]
        print(f"tesserocr / pytesseract speed ratio: {ratio:.1f}x (CPU time, one thread)")


if __name__ == "__main__":
    main()
