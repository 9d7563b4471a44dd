"""The heatmap query (services/insight/heatmap.py) at growing case counts: raw events
against the rollup.

Per size, a database of its own: ``three_steps`` (tests/data) deployed, two real cases run
through the engine (offer accepted, offer declined), then their case rows, work items and
audit events cloned (new ids, times spread over ``--days`` days) up to the size, with
SQLAlchemy Core bulk inserts (on PostgreSQL past ``--base`` cases, copied in SQL), then
ANALYZE.

Then, in the same run: the heatmap of the version read from the raw events (no rollup
yet) over the whole period (once only past ``--raw-rounds-max`` cases; left out past
``--raw-max``) and over a window of ``--window`` cases; the rollup rebuilt
(``heatmap_rollup.rebuild``, timed: what ``retention-flow heatmap rebuild`` does); and the
same periods read through the rollup, plus periods whose edges fall inside hours (the
cases with events in those partial hours are read from their events of the period):
the first of them timed like the others, and ``--edge-periods`` of them (the edges moved
by some minutes each) once each, with the p50 and p95 of those times. The figures are
the best of ``--rounds``; ``raw/rollup`` is the whole period's speed-up, and the rollup's
counts (whole period, and the first period with edges inside hours) are checked equal to
the raw read's where the raw read runs. The window's source says whether the rollup
answered it (a window under a whole hour is read from the events).

On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on PostgreSQL.

    python bench/heatmap.py [--sizes 10000,100000,1000000] [--sqlite-max 100000]
                            [--days 30] [--rounds 2] [--window 1000] [--skip-whole]
                            [--raw-max 1000000] [--raw-rounds-max 100000] [--no-analyze]
                            [--edge-periods 10]
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
from retention_flow.services.insight import heatmap, heatmap_rollup
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


def _time(
    ctx: AppContext, start: datetime, end: datetime, rounds: int
) -> tuple[float, dict[str, Any]]:
    best, found = float("inf"), {}
    for _ in range(rounds):
        began = time.perf_counter()
        found = heatmap.heatmap(ctx, "three_steps", 1, start, end)
        best = min(best, time.perf_counter() - began)
    return best, found


def _rank(times: list[float], q: int) -> float:
    """Nearest-rank percentile of sorted ``times``."""
    return times[max(0, (q * len(times) + 99) // 100 - 1)]


def _counts(answer: dict[str, Any]) -> Any:
    """The exact part of an answer (everything but the waits)."""
    if not answer:
        return None
    keep = ("cases", "times", "entered", "waits", "sla_breaches", "escalations", "incidents")
    return (
        answer["cases"],
        [tuple(e[k] for k in keep) for e in answer["elements"]],
        [f["cases"] for f in answer["flows"]],
    )


def _measure(database: Any, size: int, args: Any) -> dict[str, Any]:
    """Raw (no rollup yet), then the rollup built, then the same periods through it."""
    out: dict[str, Any] = {}
    with database() as url:
        clock = FrozenClock(datetime(2025, 12, 1, 9, tzinfo=UTC))
        ctx = make_context(url, clock)
        templates = _templates(ctx, _run_templates(ctx, clock))
        began = time.perf_counter()
        out["events"] = _fill_to(ctx, templates, size, args)
        out["filled"] = time.perf_counter() - began
        first = datetime(2026, 1, 1, tzinfo=UTC)
        clock.set(first + timedelta(days=args.days + 1))
        whole = (datetime(2025, 11, 1, tzinfo=UTC), clock.now())
        day0 = first + timedelta(days=args.days // 2)
        window = (day0, day0 + timedelta(days=args.days) * args.window / size)
        # edges inside hours, inside the data: the cases there are read from their events;
        # ``--edge-periods`` of them, the edges moved by a few minutes each time
        edges = [
            (
                first + timedelta(hours=7, minutes=13 + 37 * k),
                first + timedelta(days=args.days - 1, hours=5, minutes=41 + 23 * k),
            )
            for k in range(args.edge_periods)
        ]
        raw_rounds = args.rounds if size <= args.raw_rounds_max else 1
        skip = args.skip_whole or size > args.raw_max
        out["raw_whole"] = (float("nan"), {}) if skip else _time(ctx, *whole, raw_rounds)
        out["raw_window"] = _time(ctx, *window, args.rounds)
        out["raw_edges"] = (float("nan"), {}) if skip else _time(ctx, *edges[0], 1)
        began = time.perf_counter()
        rebuilt = heatmap_rollup.rebuild(ctx)
        out["rebuild"], out["rows"] = time.perf_counter() - began, rebuilt["rows"]
        out["whole"] = _time(ctx, *whole, args.rounds)
        out["edges"] = _time(ctx, *edges[0], args.rounds)
        out["edge_times"] = sorted(_time(ctx, *period, 1)[0] for period in edges)
        out["window"] = _time(ctx, *window, args.rounds)
        assert out["whole"][1]["source"] == "rollup" and out["edges"][1]["source"] == "rollup"
        if out["raw_whole"][1]:  # the rollup's counts are the events'
            assert _counts(out["whole"][1]) == _counts(out["raw_whole"][1])
            assert _counts(out["edges"][1]) == _counts(out["raw_edges"][1])
        ctx.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--sqlite-max", type=int, default=100_000, help="larger: PostgreSQL only")
    parser.add_argument("--base", type=int, default=10_000, help="cases cloned in Python")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=int, default=1000, help="cases in the short period")
    parser.add_argument("--skip-whole", action="store_true", help="no raw whole-period read")
    parser.add_argument(
        "--raw-max", type=int, default=1_000_000, help="larger: no raw whole-period read"
    )
    parser.add_argument(
        "--raw-rounds-max", type=int, default=100_000, help="larger: the raw read once"
    )
    parser.add_argument(
        "--edge-periods", type=int, default=10, help="periods with edges inside hours, timed"
    )
    parser.add_argument("--no-analyze", action="store_true", help="no planner statistics")
    args = parser.parse_args()
    for label, database in backends():
        sizes = [int(s) for s in args.sizes.split(",")]
        if label == "SQLite":
            sizes = [s for s in sizes if s <= args.sqlite_max]
        results = []
        for size in sizes:
            r = _measure(database, size, args)
            results.append((size, r))
            r0 = results[0][1]
            print(
                f"{label}: {size:>9,} cases ({r['events']:,} events, filled in "
                f"{r['filled']:.0f} s; rollup rebuilt in {r['rebuild']:.1f} s, "
                f"{r['rows']:,} rows)\n"
                f"  raw events: whole period {r['raw_whole'][0]:.3f} s, "
                f"window {r['raw_window'][0]:.3f} s ({r['raw_window'][1]['cases']:,} cases)\n"
                f"  rollup:     whole period {r['whole'][0]:.3f} s "
                f"({r['whole'][1]['cases']:,} cases; raw/rollup "
                f"{r['raw_whole'][0] / r['whole'][0]:.0f}x; "
                f"{r['whole'][0] / r0['whole'][0]:.1f}x the {results[0][0]:,}-case time), "
                f"edges inside hours {r['edges'][0]:.3f} s (over {len(r['edge_times'])} "
                f"periods: p50 {_rank(r['edge_times'], 50):.3f} s, "
                f"p95 {_rank(r['edge_times'], 95):.3f} s; "
                f"{_rank(r['edge_times'], 95) / _rank(r0['edge_times'], 95):.1f}x the "
                f"{results[0][0]:,}-case p95), "
                f"window {r['window'][0]:.3f} s ({r['window'][1]['source']})",
                flush=True,
            )


if __name__ == "__main__":
    main()
