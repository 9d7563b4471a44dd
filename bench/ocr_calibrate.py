"""Calibrate the text fields' confidence limits (``min_confidence``) on held-out pages.

Reads ``--pages`` damaged pages per seed of ``--seeds`` (by default 1000-1002: never the
evaluation seed of bench/ocr_accuracy.py, 2026) with every text field's limit set to 0, so
each reading the other checks accept (validator, second reading, zone checks) is kept with
its confidence and judged against the truth. For each field it prints the accepted-field
error rate by confidence band and chooses the lowest whole limit above which no calibration
reading was wrong, ``--margin`` points above the most confident wrong one, never below
``--floor``. A wrong reading more confident than ``--cap`` is not something a limit should
hide: it is listed as a cause to fix, and the limit stays at the cap.

``--write`` stores the chosen limits in ocr_templates/*/template.json with a note saying how
they were obtained (``min_confidence_source``); bench/ocr_accuracy.py then evaluates them on
its own seed.

    OMP_THREAD_LIMIT=1 python bench/ocr_calibrate.py --pages 1000 --seeds 1000,1001,1002 --write
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before Tesseract loads: one core per reader
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocr_accuracy import choose_kinds
from ocr_pages import PAGES_PER_FORM, TEMPLATES, PageOutcome, degradations, init_worker, load, work
from retention_flow.ocr.template import FormTemplate, OcrField

BANDS = ((0, 50), (50, 70), (70, 80), (80, 85), (85, 90), (90, 95), (95, 98), (98, 101))
TEXT_KINDS = {"text", "digits", "date"}
#: (field name, confidence, right, page label)
Reading = tuple[str, float, bool, str]


def unlimited(templates: list[FormTemplate]) -> list[FormTemplate]:
    """The templates with every text field's confidence limit at 0."""
    out = []
    for t in templates:
        fields = [
            f.model_copy(update={"min_confidence": 0.0}) if isinstance(f, OcrField) else f
            for f in t.fields
        ]
        out.append(t.model_copy(update={"fields": fields}))
    return out


def _init(names: str, seed: int, labels: tuple[str, ...]) -> None:
    init_worker(names, seed, "tesserocr", labels, unlimited(load(names)))


def readings(outcome: PageOutcome) -> Iterable[Reading]:
    """The text fields the reader accepted on one page (whatever the rest of the page)."""
    for name, kind, right, status, confidence in outcome.fields:
        if kind in TEXT_KINDS and status == "ok":
            yield name, confidence, right, f"page {outcome.index} {outcome.degradation}"


def read_seed(
    names: str, seed: int, pages: int, jobs: int, labels: tuple[str, ...]
) -> list[Reading]:
    context = multiprocessing.get_context("fork")
    found: list[Reading] = []
    with context.Pool(max(jobs, 1), _init, (names, seed, labels)) as pool:
        for outcome, _ in pool.imap_unordered(work, range(pages), chunksize=PAGES_PER_FORM):
            found += [(n, c, r, f"seed {seed} {where}") for n, c, r, where in readings(outcome)]
    return found


def band_table(rows: list[Reading]) -> None:
    print(f"    {'confidence':>12s} {'fields':>7s} {'wrong':>6s} {'error rate':>11s}")
    for lo, hi in BANDS:
        inside = [r for r in rows if lo <= r[1] < hi]
        wrong = sum(not r[2] for r in inside)
        rate = f"{wrong / len(inside):.3%}" if inside else "-"
        print(f"    {lo:5d}-{min(hi, 100):3d}   {len(inside):7d} {wrong:6d} {rate:>11s}")


def choose(rows: list[Reading], margin: float, floor: float, cap: float) -> tuple[float, list[str]]:
    """The limit for one field and the wrong readings no limit up to ``cap`` excludes."""
    wrong = [r for r in rows if not r[2]]
    too_sure = [f"{r[3]}: confidence {r[1]:.1f}" for r in wrong if r[1] + margin >= cap]
    worst = max((r[1] for r in wrong if r[1] + margin < cap), default=None)
    limit = floor if worst is None else min(max(floor, math.floor(worst + margin) + 1), cap)
    return float(limit), too_sure


def report(
    rows: list[Reading], name: str, limit: float, too_sure: list[str], target: float
) -> None:
    above = [r for r in rows if r[1] >= limit]
    wrong = sum(not r[2] for r in above)
    rate = wrong / len(above) if above else float("nan")
    # one-sided 95 % upper bound on the error rate above the limit ("rule of three" at 0)
    bound = (3.0 if wrong == 0 else wrong + 2 * math.sqrt(wrong) + 2) / max(len(above), 1)
    print(f"\n  {name}: {len(rows)} readings accepted by every other check")
    band_table(rows)
    print(
        f"    CHOSEN LIMIT {limit:g}: {len(above)} readings at or above it, {wrong} wrong "
        f"(error rate {rate:.3%}, 95 % upper bound {bound:.3%}, target {target:.1%}); "
        f"{len(rows) - len(above)} go to a person for their confidence"
    )
    for line in too_sure:
        print(f"    wrong with high confidence (a cause to fix, not a limit): {line}")


def write(limits: dict[str, float], note: str) -> None:
    for path in sorted(TEMPLATES.glob("*/template.json")):
        data = json.loads(path.read_text())
        for f in data["fields"]:
            if f["name"] in limits and f["kind"] in TEXT_KINDS:
                f["min_confidence"] = limits[f["name"]]
                f["min_confidence_source"] = note
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"  wrote {path.relative_to(TEMPLATES.parent)}")


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000, help="pages per seed")
    parser.add_argument("--seeds", default="1000,1001,1002")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--kinds", default="all", help="as bench/ocr_accuracy.py --kinds")
    parser.add_argument("--templates", default="retention_offer_v1,retention_offer_v2")
    parser.add_argument("--margin", type=float, default=2.0)
    parser.add_argument("--floor", type=float, default=70.0)
    parser.add_argument("--cap", type=float, default=95.0)
    parser.add_argument("--target", type=float, default=0.001, help="accepted error rate")
    parser.add_argument("--write", action="store_true", help="store the limits in templates")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if 2026 in seeds:
        parser.error("seed 2026 is bench/ocr_accuracy.py's evaluation set: calibrate on others")
    labels = degradations(choose_kinds(args.kinds))
    print(
        f"calibration: {args.pages} pages x seeds {seeds}, {len(labels)} kinds/severities in "
        f"turn, {args.jobs} workers; load average {os.getloadavg()[0]:.2f}"
    )
    start = time.perf_counter()
    rows: list[Reading] = []
    for seed in seeds:
        rows += read_seed(args.templates, seed, args.pages, args.jobs, labels)
        print(f"  seed {seed} read, {time.perf_counter() - start:.0f} s", flush=True)
    by_field: dict[str, list[Reading]] = defaultdict(list)
    for row in rows:
        by_field[row[0]].append(row)
    limits: dict[str, float] = {}
    pick = partial(choose, margin=args.margin, floor=args.floor, cap=args.cap)
    for name, field_rows in sorted(by_field.items()):
        limits[name], too_sure = pick(field_rows)
        report(field_rows, name, limits[name], too_sure, args.target)
    note = (
        f"bench/ocr_calibrate.py on {datetime.now(UTC).date()}: {args.pages} pages x seeds "
        f"{args.seeds} ({len(labels) - 1} damage kinds/severities), lowest limit with no wrong "
        f"reading within {args.margin:g} points below it, floor {args.floor:g}"
    )
    print(f"\n  limits: {limits}\n  note: {note}")
    if args.write:
        write(limits, note)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return limits


if __name__ == "__main__":
    main()
