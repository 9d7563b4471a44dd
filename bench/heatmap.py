"""The heatmap query (services/heatmap.py) at growing case counts.

Per size, a database of its own: ``three_steps`` (tests/data) deployed, two real cases run
through the engine (offer accepted, offer declined), then their case rows, work items and
audit events cloned (new ids, times spread over ``--days`` days) up to the size, with
SQLAlchemy Core bulk inserts. The heatmap of the version is then timed over the whole
period (every event read) and over one day of it (the ``at`` index), ``--rounds`` times
each; the figures are the best round. The ratio of the largest size to the smallest is
the figure to watch (linear in the events of the period is the expectation: the query
aggregates in SQL and loads no case). The window holds ``--window`` cases at every size
(it shrinks as the size grows), so its ratio shows the cost of the period alone against
a growing table (close to 1 is the target: the ``at`` index, not the table size).

On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on PostgreSQL.

    python bench/heatmap.py [--sizes 100000,1000000] [--days 30] [--rounds 2]
                            [--window 1000] [--skip-whole]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from _common import ROOT, backends, make_context
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, WORK_ITEM
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services import cases, heatmap, processes, tasks
from retention_flow.services.context import Actor, AppContext

AGENT = Actor("bench-agent", frozenset({"agent", "telemarketing"}))
OWNER = Actor("bench-owner", frozenset({"process_owner"}))
CHUNK = 20_000


def _run_templates(ctx: AppContext, clock: FrozenClock) -> list[str]:
    processes.deploy(ctx, load_bundle_path(ROOT / "tests" / "data" / "three_steps"), OWNER)
    ids = []
    for answer in ("accepted", "declined"):
        case = cases.start_case(ctx, AGENT, "three_steps", {}, version=1)
        clock.advance(timedelta(minutes=20))
        step = tasks.complete(ctx, AGENT, case["open_tasks"][0]["id"], {"call_result": "reached"})
        clock.advance(timedelta(hours=2))
        step = tasks.complete(ctx, AGENT, step["next_tasks"][0]["id"], {"offer_response": answer})
        if answer == "accepted":
            clock.advance(timedelta(hours=9))
            tasks.complete(ctx, AGENT, step["next_tasks"][0]["id"], {"confirmation_channel": "sms"})
        ids.append(case["id"])
    return ids


def _templates(ctx: AppContext, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    with read_session(ctx.db) as session:
        for case_id in ids:
            case = dict(session.execute(select(CASE).where(CASE.c.id == case_id)).mappings().one())
            items = [
                dict(r)
                for r in session.execute(select(WORK_ITEM).where(WORK_ITEM.c.case_id == case_id))
                .mappings()
                .all()
            ]
            events = [
                dict(r)
                for r in session.execute(
                    select(AUDIT_EVENT).where(AUDIT_EVENT.c.case_id == case_id)
                )
                .mappings()
                .all()
            ]
            out.append({"case": case, "items": items, "events": events})
    return out


def _clone(template: dict[str, Any], start: datetime, serial: int) -> tuple[Any, Any, Any]:
    case_id = str(uuid.uuid4())
    shift = start - template["case"]["created_at"]
    tasks_new = {i["id"]: str(uuid.uuid4()) for i in template["items"]}

    def moved(value: datetime | None) -> datetime | None:
        return value + shift if value is not None else None

    case = {**template["case"], "id": case_id, "business_key": f"B-{serial}"}
    for k in ("created_at", "updated_at", "ended_at"):
        case[k] = moved(case[k])
    items = []
    for i in template["items"]:
        row = {**i, "id": tasks_new[i["id"]], "case_id": case_id, "business_key": None}
        for k in ("claimed_at", "due_at", "created_at", "ended_at"):
            row[k] = moved(row[k])
        items.append(row)
    events = []
    for e in template["events"]:
        row = {k: v for k, v in e.items() if k != "id"}
        row |= {"stream": case_id, "case_id": case_id, "at": moved(e["at"])}
        row["task_id"] = tasks_new.get(e["task_id"], e["task_id"])
        events.append(row)
    return case, items, events


def _fill(ctx: AppContext, templates: list[dict[str, Any]], size: int, days: int) -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=days) / size
    cases_rows: list[Any] = []
    items_rows: list[Any] = []
    event_rows: list[Any] = []
    events = 0

    def flush() -> None:
        with write_session(ctx.db) as session:
            session.execute(insert(CASE), cases_rows)
            session.execute(insert(WORK_ITEM), items_rows)
            session.execute(insert(AUDIT_EVENT), event_rows)
            session.commit()
        cases_rows.clear()
        items_rows.clear()
        event_rows.clear()

    for n in range(size - len(templates)):
        case, items, evs = _clone(templates[n % len(templates)], start + step * n, n)
        cases_rows.append(case)
        items_rows.extend(items)
        event_rows.extend(evs)
        events += len(evs)
        if len(cases_rows) >= CHUNK:
            flush()
    if cases_rows:
        flush()
    return events


def _time(ctx: AppContext, start: datetime, end: datetime, rounds: int) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(rounds):
        began = time.perf_counter()
        result = heatmap.heatmap(ctx, "three_steps", 1, start, end)
        best = min(best, time.perf_counter() - began)
        found = result["cases"]
    return best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=int, default=1000, help="cases in the short period")
    parser.add_argument("--skip-whole", action="store_true", help="time the window only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for label, database in backends():
        results = []
        for size in sizes:
            with database() as url:
                clock = FrozenClock(datetime(2025, 12, 1, 9, tzinfo=UTC))
                ctx = make_context(url, clock)
                templates = _templates(ctx, _run_templates(ctx, clock))
                began = time.perf_counter()
                events = _fill(ctx, templates, size, args.days)
                filled = time.perf_counter() - began
                clock.set(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=args.days + 1))
                whole = (
                    (float("nan"), 0)
                    if args.skip_whole
                    else _time(ctx, datetime(2025, 11, 1, tzinfo=UTC), clock.now(), args.rounds)
                )
                day0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=args.days // 2)
                window = timedelta(days=args.days) * args.window / size
                one_day = _time(ctx, day0, day0 + window, args.rounds)
                ctx.dispose()
            results.append((size, whole, one_day))
            print(
                f"{label}: {size:>9,} cases ({events:,} events, filled in {filled:.0f} s): "
                f"whole period {whole[0]:.2f} s ({whole[1]:,} cases), "
                f"window {one_day[0]:.3f} s ({one_day[1]:,} cases)",
                flush=True,
            )
        (s0, w0, d0), (s1, w1, d1) = results[0], results[-1]
        print(
            f"{label}: {s1:,} vs {s0:,} cases ({s1 / s0:.0f}x): whole period "
            f"{w1[0] / w0[0]:.1f}x the time, window of {args.window:,} cases {d1[0] / d0[0]:.1f}x"
        )


if __name__ == "__main__":
    main()
