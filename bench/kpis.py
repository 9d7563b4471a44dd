"""KPI dashboard queries against a growing history: does a 30-day report cost what
happened in those 30 days, or the size of the whole database?

For each size in ``--sizes`` (default 100,000 and 1,000,000 cases) a fresh database is
bulk-loaded (SQLite: sqlite3 ``executemany``; PostgreSQL: ``COPY``) with cases arriving at
a steady ``--per-day`` rate up to "now", so a larger size is a longer history and every
30-day window holds the same work:

- outbound cases (one telemarketing call), inbound cases (reason and offer in one call,
  two work items) and mail responses (half of them settled without a person, the other
  half with one back-office check), 50 agents, 5 offers, a customer key per case with
  one customer in ten calling again;
- the audit events a real step writes (case started, task ready and completed, case
  ended), so the tables have their real width and count;
- the last two days' cases still open (their work items make the backlog).

Then every query the dashboard runs (``services.kpis.dashboard``: the whole period, the
totals by group and the per-day rows by group) for the 30 days before "now", grouped by
channel, by agent and by offer, ``--rounds`` times after a warm-up; the median per query
and size is printed, and the ratio of the largest size to the smallest (target <= 1.5).

On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on PostgreSQL (a
schema of its own, dropped afterwards); ``--only`` picks one (run them side by side).

``--replicate-from N`` loads N cases row by row and copies the older history in the
database (``bench/_kpis_replicate.py``: the ended cases of the loaded block with their
work items, keys and events, shifted a block further back each time, new ids): with N the
smallest size, every size holds the same newest block, so every size must answer alike,
and the run says whether it did. A 1,000,000-case load row by row took longer than an
hour on a shared 2-core machine; copying takes minutes.

    python bench/kpis.py [--sizes 100000,1000000] [--per-day 1000] [--rounds 3]
                         [--only SQLite|PostgreSQL] [--replicate-from 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from _bulkload import count_rows, load
from _common import backends
from _history import NOW
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.migrate import upgrade
from retention_flow.db.session import create_db_engine
from retention_flow.services.insight import kpis
from retention_flow.services.platform.context import AppContext

WINDOW = timedelta(days=30)
GROUPS = ("channel", "agent", "offer")


def _queries() -> list[tuple[str, Any]]:
    """(label, function of ctx) for each query the dashboard runs, per grouping."""
    start, end = NOW - WINDOW, NOW
    out: list[tuple[str, Any]] = [
        ("whole period", lambda ctx: kpis.compute(ctx, start=start, end=end)),
    ]
    for group in GROUPS:
        out.append(
            (
                f"by {group}",
                lambda ctx, g=group: kpis.compute(ctx, start=start, end=end, group_by=[g]),
            )
        )
        out.append(
            (
                f"per day by {group}",
                lambda ctx, g=group: kpis.compute(
                    ctx, start=start, end=end, group_by=["period", g], granularity="day"
                ),
            )
        )
    return out


def run(
    label: str,
    factory: Any,
    sizes: list[int],
    per_day: int,
    rounds: int,
    replicate_from: int | None = None,
    keep: Path | None = None,
) -> None:
    """Load every size, then time the queries in interleaved rounds (size after size, so
    the noise of a shared machine falls on all sizes alike)."""
    with ExitStack() as stack:
        contexts: dict[int, AppContext] = {}
        for size in sizes:
            kept = keep / f"kpis-{size}.db" if keep and label == "SQLite" else None
            if kept is not None and kept.exists():  # loaded by an earlier run
                contexts[size] = _kept(kept)
                stack.callback(contexts[size].db.dispose)
                cases = count_rows(contexts[size], "case")
                print(f"{label}: {cases:,} cases in {kept} (kept)")
                continue
            url = stack.enter_context(factory())
            seed = contexts.get(replicate_from or 0)
            seeded = seed is not None and url.startswith("sqlite")
            if seed is not None and seeded:  # the smaller database is the seed: a copy
                raw = seed.db.raw_connection()
                try:
                    raw.driver_connection.execute(  # type: ignore[union-attr]
                        f"VACUUM INTO '{url.removeprefix('sqlite:///')}'"
                    )
                finally:
                    raw.close()
            engine = create_db_engine(url)
            stack.callback(engine.dispose)
            upgrade(engine)
            ctx = AppContext(Settings(database_url=url), clock=FrozenClock(NOW), engine=engine)
            seconds, rows = load(ctx, size, per_day, replicate_from, seeded=seeded)
            how = f", {replicate_from:,} row by row" if (replicate_from or size) < size else ""
            cases = count_rows(ctx, "case")
            print(
                f"{label}: {cases:,} cases over {size / per_day:,.0f} days loaded "
                f"({rows:,} rows{how}) in {seconds:.1f} s"
            )
            contexts[size] = ctx
        queries = _queries()
        samples: dict[tuple[int, str], list[float]] = {}
        answers: dict[str, int] = {}
        agree: dict[str, dict[int, str]] = {}
        for round_ in range(rounds + 1):  # round 0 warms the caches up
            for size, ctx in contexts.items():
                for name, query in queries:
                    begin = time.perf_counter()
                    answer = query(ctx)
                    took = time.perf_counter() - begin
                    answers[name] = len(answer)
                    agree.setdefault(name, {})[size] = repr(answer)
                    if round_:
                        samples.setdefault((size, name), []).append(took)
    _report(label, sizes, per_day, rounds, queries, samples, answers)
    if replicate_from == min(sizes):  # every size holds the same newest block
        same = all(len(set(by_size.values())) == 1 for by_size in agree.values())
        print(f"{label}: the answers of every size are identical: {'yes' if same else 'NO'}\n")


def _kept(path: Path) -> AppContext:
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    upgrade(engine)
    return AppContext(Settings(database_url=url), clock=FrozenClock(NOW), engine=engine)


def _report(
    label: str,
    sizes: list[int],
    per_day: int,
    rounds: int,
    queries: list[tuple[str, Any]],
    samples: dict[tuple[int, str], list[float]],
    answers: dict[str, int],
) -> None:
    small, large = min(sizes), max(sizes)
    print(f"\n{label}: 30-day window, {per_day:,} cases a day; median (best) of {rounds} rounds")
    print(f"{'query':<20}" + "".join(f"{s:>22,}" for s in sizes) + "  ratio median (best)  rows")
    worst = 0.0
    for name, _q in queries:
        med = {s: statistics.median(samples[(s, name)]) for s in sizes}
        best = {s: min(samples[(s, name)]) for s in sizes}
        figures = "".join(f"{med[s] * 1000:>11.1f} ({best[s] * 1000:>6.1f}) ms" for s in sizes)
        ratio, best_ratio = med[large] / med[small], best[large] / best[small]
        worst = max(worst, ratio)
        print(f"{name:<20}{figures}  {ratio:>6.2f}x ({best_ratio:.2f}x)  {answers[name]}")
    total = {s: sum(statistics.median(samples[(s, n)]) for n, _q in queries) for s in sizes}
    print(
        f"{'dashboard total':<20}"
        + "".join(f"{total[s] * 1000:>20.1f} ms" for s in sizes)
        + f"  {total[large] / total[small]:>6.2f}x"
    )
    verdict = "within" if worst <= 1.5 else "ABOVE"
    print(f"{label}: worst median ratio {worst:.2f}x ({large:,} vs {small:,}): {verdict} 1.5x\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="case counts, comma separated")
    parser.add_argument("--per-day", type=int, default=1000, help="cases arriving a day")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--replicate-from",
        type=int,
        help="load this many cases row by row and copy the rest in the database",
    )
    parser.add_argument(
        "--keep-sqlite",
        type=Path,
        help="a folder of loaded SQLite databases (kpis-SIZE.db) to time again instead "
        "of loading (copy them there from a run's temp folder)",
    )
    parser.add_argument(
        "--only", choices=("SQLite", "PostgreSQL"), help="one database (run each apart)"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    for label, factory in backends():
        if args.only in (None, label):
            run(
                label,
                factory,
                sizes,
                args.per_day,
                args.rounds,
                args.replicate_from,
                args.keep_sqlite,
            )


if __name__ == "__main__":
    main()
