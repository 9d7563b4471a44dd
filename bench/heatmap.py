"""The heatmap query (services/insight/heatmap.py) at growing case counts.

Per size, a database of its own: ``three_steps`` (tests/data) deployed, two real cases run
through the engine (offer accepted, offer declined), then their case rows, work items and
audit events cloned (new ids, times spread over ``--days`` days) up to the size, with
SQLAlchemy Core bulk inserts (on PostgreSQL past ``--base`` cases, copied in SQL), then
ANALYZE. The heatmap of the version is then timed over the whole
period (every event read) and over one day of it (the ``at`` index), ``--rounds`` times
each; the figures are the best round. The ratio of the largest size to the smallest is
the figure to watch (linear in the events of the period is the expectation: the query
aggregates in SQL and loads no case). The window holds ``--window`` cases at every size
(it shrinks as the size grows), so its ratio shows the cost of the period alone against
a growing table (close to 1 is the target: the ``at`` index, not the table size).

On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on PostgreSQL.

Each size's times are printed with their ratio to the first (smallest) size's.

    python bench/heatmap.py [--sizes 10000,100000,1000000] [--sqlite-max 100000]
                            [--days 30] [--rounds 2] [--window 1000] [--skip-whole]
                            [--no-analyze]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import insert, select, text

from _common import ROOT, backends, make_context
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, WORK_ITEM
from retention_flow.db.types import UTCDateTime
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.insight import heatmap
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks

AGENT = Actor("bench-agent", frozenset({"agent", "telemarketing"}))
OWNER = Actor("bench-owner", frozenset({"process_owner"}))
CHUNK = 20_000


def _run_templates(ctx: AppContext, clock: FrozenClock) -> list[str]:
    processes.deploy(ctx, load_bundle_path(ROOT / "tests" / "data" / "three_steps"), OWNER)
    ids = []
    for answer in ("accepted", "declined"):
        case = cases.start_case(ctx, AGENT, "three_steps", {}, version=1)
        clock.advance(timedelta(minutes=20))
        step = tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"call_result": "reached"})
        clock.advance(timedelta(hours=2))
        step = tasks.complete(ctx, AGENT, step.next_tasks[0].id, {"offer_response": answer})
        if answer == "accepted":
            clock.advance(timedelta(hours=9))
            tasks.complete(ctx, AGENT, step.next_tasks[0].id, {"confirmation_channel": "sms"})
        ids.append(case.id)
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


def _replicate(ctx: AppContext, base: int, size: int, days: int) -> None:
    """PostgreSQL: grow ``base`` cloned cases to ``size`` in SQL (INSERT ... SELECT over
    generate_series): copy ``k`` of a row gets ids ending in ``k``, unique keys suffixed
    with ``-k`` and its times moved by ``k`` steps of ``days / size``, so that the cases
    stay spread evenly over the period (a Python fill of a million cases took half an
    hour)."""
    copies = size // base
    shift = timedelta(days=days).total_seconds() / size

    def select_from(table: Any, ids: set[str], keys: set[str]) -> str:
        columns = [c for c in table.columns if c.name != "id" or c.name in ids]
        out = []
        for col in columns:
            name = f'"{col.name}"'
            if col.name in ids:
                out.append(f"substr({name}, 1, 24) || lpad(k::text, 12, '0')")
            elif col.name in keys:
                out.append(f"{name} || '-' || k")
            elif isinstance(col.type, UTCDateTime):
                out.append(f"{name} + make_interval(secs => k * {shift!r})")
            else:
                out.append(name)
        names = ", ".join(f'"{c.name}"' for c in columns)
        return (
            f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(out)} '
            f'FROM "{table.name}" CROSS JOIN generate_series(1, {copies - 1}) AS k'
        )

    with write_session(ctx.db) as session:
        session.execute(text(select_from(CASE, {"id"}, {"business_key", "idempotency_key"})))
        session.execute(text(select_from(WORK_ITEM, {"id", "case_id"}, set())))
        # audit_event.id (serial) is left out: new ones are drawn
        session.execute(text(select_from(AUDIT_EVENT, {"stream", "case_id", "task_id"}, set())))
        session.commit()


def _fill_to(ctx: AppContext, templates: list[dict[str, Any]], size: int, args: Any) -> int:
    """Clone up to ``--base`` cases in Python; beyond it replicate in SQL (PostgreSQL
    only); then ANALYZE, as autovacuum does after a bulk load (``--no-analyze`` to time
    the query on a table the planner has no statistics for)."""
    dialect = ctx.db.dialect.name
    base = size if dialect != "postgresql" or size <= args.base else args.base
    _fill(ctx, templates, base, args.days)
    if base < size:
        _replicate(ctx, base, size, args.days)
    with write_session(ctx.db) as session:
        if not args.no_analyze:
            session.execute(text("ANALYZE"))
        count = session.execute(select(sqlalchemy.func.count()).select_from(AUDIT_EVENT))
        events = int(count.scalar_one())
        session.commit()
    return events


def _time(ctx: AppContext, start: datetime, end: datetime, rounds: int) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(rounds):
        began = time.perf_counter()
        result = heatmap.heatmap(ctx, "three_steps", 1, start, end)
        best = min(best, time.perf_counter() - began)
        found = result["cases"]
    return best, found


def _measure(database: Any, size: int, args: Any) -> tuple[int, float, Any, Any]:
    with database() as url:
        clock = FrozenClock(datetime(2025, 12, 1, 9, tzinfo=UTC))
        ctx = make_context(url, clock)
        templates = _templates(ctx, _run_templates(ctx, clock))
        began = time.perf_counter()
        events = _fill_to(ctx, templates, size, args)
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
    return events, filled, whole, one_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--sqlite-max", type=int, default=100_000, help="larger: PostgreSQL only")
    parser.add_argument("--base", type=int, default=10_000, help="cases cloned in Python")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=int, default=1000, help="cases in the short period")
    parser.add_argument("--skip-whole", action="store_true", help="time the window only")
    parser.add_argument("--no-analyze", action="store_true", help="no planner statistics")
    args = parser.parse_args()
    for label, database in backends():
        sizes = [int(s) for s in args.sizes.split(",")]
        if label == "SQLite":
            sizes = [s for s in sizes if s <= args.sqlite_max]
        results = []
        for size in sizes:
            events, filled, whole, one_day = _measure(database, size, args)
            results.append((size, whole, one_day))
            w0, d0 = results[0][1][0], results[0][2][0]
            print(
                f"{label}: {size:>9,} cases ({events:,} events, filled in {filled:.0f} s): "
                f"whole period {whole[0]:.3f} s ({whole[1]:,} cases, "
                f"{whole[0] / w0:.1f}x the {results[0][0]:,}-case time), "
                f"window {one_day[0]:.3f} s ({one_day[1]:,} cases, {one_day[0] / d0:.1f}x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
