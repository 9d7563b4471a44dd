"""Growth: what the pages and lookups people use cost at 10k, 100k and 1M cases.

For each size in ``--sizes`` a fresh database is bulk-loaded with ``bench/kpis.py``'s
loader (cases over a steady ``--per-day`` history with their work items, customer keys
and audit events; the last two days' cases open), then ``--samples`` calls of each of
these, on cases drawn at random, are timed (after a warm-up call each):

- ``queue``: the telemarketing queue's first page (``queue.list_queue``, 50 rows);
- ``search_key``: case search by business key (``queries.list_cases``, exact key);
- ``search_customer``: case search by customer id (``queries.list_cases``, customer);
- ``case``: the case page's data (``cases.get_case``);
- ``history``: the history page's data (``case_history.case_history``);
- ``verify_case``: audit verification of one case's chain (``audit_verify.verify`` with
  its stream; the loader's hashes are not a real chain, so every event is a finding:
  the cost of the walk is what is measured).

It prints p95 per call and size, and the ratio of each size's p95 to the smallest
size's (target <= 1.5), and for sizes up to ``--full-verify-max`` the rate of a full
verification (events/s). On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is
set, on PostgreSQL (a schema of its own, dropped afterwards).

    python bench/growth.py [--sizes 10000,100000,1000000] [--samples 200]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from sqlalchemy import select

from _common import backends, percentile
from kpis import NOW, _load
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.migrate import upgrade
from retention_flow.db.session import create_db_engine, read_session
from retention_flow.db.tables import CASE, CASE_KEY
from retention_flow.services.audit import verify as audit_verify
from retention_flow.services.cases import history as case_history
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks import queue_pages as queue

AGENT = Actor("agent00", frozenset({"agent", "telemarketing"}))
AUDITOR = Actor("auditor", frozenset({"auditor"}))
TARGET = 1.5
Call = Callable[[AppContext, dict[str, str]], Any]


def _verify_case(ctx: AppContext, pick: dict[str, str]) -> Any:
    with read_session(ctx.db) as session:
        return audit_verify.verify(session, pick["case_id"])


CALLS: dict[str, Call] = {
    "queue": lambda ctx, _p: queue.list_queue(ctx, AGENT, role="telemarketing", limit=50),
    "search_key": lambda ctx, p: queries.list_cases(ctx, AUDITOR, business_key=p["key"]),
    "search_customer": lambda ctx, p: queries.list_cases(ctx, AUDITOR, customer=p["customer"]),
    "case": lambda ctx, p: cases.get_case(ctx, p["case_id"]),
    "history": lambda ctx, p: case_history.case_history(ctx, p["case_id"]),
    "verify_case": _verify_case,
}


def _picks(ctx: AppContext, n: int, rng: random.Random) -> list[dict[str, str]]:
    """``n`` cases at random (ids, business keys, customers)."""
    with ctx.db.connect() as conn:
        rows = conn.execute(
            select(CASE.c.id, CASE.c.business_key, CASE_KEY.c.value).join(
                CASE_KEY, CASE_KEY.c.case_id == CASE.c.id
            )
        ).all()
    chosen = rng.sample(rows, min(n, len(rows)))
    return [{"case_id": r[0], "key": r[1], "customer": r[2]} for r in chosen]


def measure(ctx: AppContext, samples: int, seed: int) -> dict[str, float]:
    picks = _picks(ctx, samples, random.Random(seed))
    out: dict[str, float] = {}
    for name, call in CALLS.items():
        call(ctx, picks[0])  # warm-up
        times = []
        for pick in picks:
            began = time.perf_counter()
            call(ctx, pick)
            times.append((time.perf_counter() - began) * 1000)
        out[name] = percentile(times, 0.95)
    return out


def full_verify(ctx: AppContext) -> tuple[int, float]:
    began = time.perf_counter()
    with read_session(ctx.db) as session:
        result = audit_verify.verify(session)
    return result.events, time.perf_counter() - began


def run(label: str, factory: Any, args: argparse.Namespace) -> dict[int, dict[str, float]]:
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[int, dict[str, float]] = {}
    for size in sizes:
        with ExitStack() as stack:
            url = stack.enter_context(factory())
            engine = create_db_engine(url)
            stack.callback(engine.dispose)
            upgrade(engine)
            ctx = AppContext(Settings(database_url=url), clock=FrozenClock(NOW), engine=engine)
            seconds, rows = _load(ctx, size, args.per_day)
            print(f"{label}: {size:,} cases ({rows:,} rows) loaded in {seconds:.1f} s", flush=True)
            figures[size] = measure(ctx, args.samples, args.seed)
            if size <= args.full_verify_max:
                events, took = full_verify(ctx)
                figures[size]["verify_all_events_s"] = events / took
                print(f"  full verification: {events:,} events in {took:.1f} s", flush=True)
    report(label, figures)
    return figures


def report(label: str, figures: dict[int, dict[str, float]]) -> None:
    sizes = sorted(figures)
    base = figures[sizes[0]]
    print(f"\n{label}: p95 ms per call (ratio to {sizes[0]:,} cases; target <= {TARGET})")
    print(f"{'call':<16}" + "".join(f"{s:>20,}" for s in sizes))
    for name in CALLS:
        cells = []
        for size in sizes:
            p95 = figures[size][name]
            ratio = p95 / base[name]
            mark = "" if ratio <= TARGET else " MISS"
            cells.append(f"{p95:>9.2f} ({ratio:4.2f}x){mark:<5}")
        print(f"{name:<16}" + "".join(f"{c:>20}" for c in cells))
    rates = [
        f"{s:,}: {figures[s]['verify_all_events_s']:,.0f}"
        for s in sizes
        if "verify_all_events_s" in figures[s]
    ]
    print("full verification, events/s: " + ("; ".join(rates) or "not run"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--full-verify-max", type=int, default=100_000)
    args = parser.parse_args()
    for label, factory in backends():
        run(label, factory, args)


if __name__ == "__main__":
    main()
