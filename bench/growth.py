"""Growth: what the pages and lookups people use cost at 10k, 100k and 1M cases.

For each size in ``--sizes`` a fresh database is bulk-loaded (``bench/_bulkload.py``)
with the production-width history of ``bench/_history.py`` (cases over a steady
``--per-day`` history with their work items, customer keys, serialized engine state of
SpiffWorkflow's size and shape, and the audit events a real case leaves, about 11 per
ended case: task ready, claimed, opened, completed, engine steps, retry timers, hash-chained
and sealed as the product writes them, each case row with its sealed head; the last two
days' cases open; SQLite: big transactions without secondary indexes, PostgreSQL: COPY,
indexes built after). Then ``--samples`` calls of
each of these, on cases drawn at random, are timed (after a warm-up call each), the sizes
taking turns call by call so that a shared machine's noise falls on all of them alike:

- ``queue``: the telemarketing queue's first page (``queue.list_queue``, 50 rows);
- ``search_key``: case search by business key (``queries.list_cases``, exact key);
- ``search_customer``: case search by customer id (``queries.list_cases``, customer);
- ``case``: the case page's data (``cases.get_case``);
- ``history``: the history page's data (``case_history.case_history``);
- ``verify_case``: audit verification of one case's chain (``audit_verify.verify`` with
  its stream: links, hashes, seals and head; every answer must be ok).

It prints p95 per call and size, and the ratio of each size's p95 to the smallest
size's (target <= 1.5), and for sizes up to ``--full-verify-max`` the rate of a full
verification (events/s, ``audit_verify_run.verify_all``: streaming, as ``retention-flow
verify-audit`` runs it). On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is
set, on PostgreSQL (a schema of its own, dropped afterwards); ``--only`` picks one.
Each figure line carries the load average (a shared machine).

``--keep DIR`` keeps the loaded databases (SQLite: ``DIR/growth-SIZE.db``; PostgreSQL:
schema ``growth_SIZE`` of the bench database) and their audit key file
(``DIR/audit-keys.json``) and measures them again on the next run instead of loading
(a migration added meanwhile is applied first: re-measure after an index without a
1,000,000-case reload). Drop them yourself afterwards. With ``--sqlite-from-pg`` the
SQLite databases are filled from PostgreSQL's kept ones (the same rows: the generator's
hashing and sealing, most of a load, is not done twice).

    python bench/growth.py [--sizes 10000,100000,1000000] [--samples 300]
                           [--only SQLite|PostgreSQL] [--keep /tmp/growth]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from _bulkload import TABLES, count_rows, load, sqlite_fast_load
from _common import backends, percentile, pg_url
from _history import NOW
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.migrate import upgrade
from retention_flow.db.session import create_db_engine, read_session
from retention_flow.db.tables import CASE, CASE_KEY, DEPLOYMENT
from retention_flow.services.audit import verify as audit_verify
from retention_flow.services.audit import verify_run as audit_verify_run
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
        result = audit_verify.verify(session, pick["case_id"])
    if not result.ok:
        raise SystemExit(f"case {pick['case_id']} does not verify: {result.reason}")
    return result


CALLS: dict[str, Call] = {
    "queue": lambda ctx, _p: queue.list_queue(ctx, AGENT, role="telemarketing", limit=50),
    "search_key": lambda ctx, p: queries.list_cases(ctx, AUDITOR, business_key=p["key"]),
    "search_customer": lambda ctx, p: queries.list_cases(ctx, AUDITOR, customer=p["customer"]),
    "case": lambda ctx, p: cases.get_case(ctx, p["case_id"]),
    "history": lambda ctx, p: case_history.case_history(ctx, p["case_id"]),
    "verify_case": _verify_case,
}


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _picks(ctx: AppContext, n: int, rng: random.Random) -> list[dict[str, str]]:
    """``n`` distinct cases at random (ids, business keys, customers): the first case id
    at or after a random uuid (the ids are random uuids; no million-row list in memory)."""
    first = select(CASE.c.id, CASE.c.business_key).order_by(CASE.c.id).limit(1)
    customer = select(CASE_KEY.c.value).where(CASE_KEY.c.key == "customer_id")
    picks: dict[str, dict[str, str]] = {}
    with ctx.db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(CASE)).scalar_one()
        while len(picks) < min(n, total):
            start = str(uuid.UUID(int=rng.getrandbits(128)))
            row = conn.execute(first.where(CASE.c.id >= start)).first()
            if row is not None:  # two lookups: a join here became a merge join from the start
                value = conn.execute(customer.where(CASE_KEY.c.case_id == row[0])).scalar_one()
                picks[row[0]] = {"case_id": row[0], "key": row[1], "customer": value}
    return list(picks.values())


def measure(
    contexts: dict[int, AppContext], samples: int, seed: int
) -> dict[int, dict[str, float]]:
    """p95 per size and call. The sizes take turns call by call (sample i of every size,
    then sample i + 1), so the noise of a shared machine falls on every size alike."""
    picks = {size: _picks(ctx, samples, random.Random(seed)) for size, ctx in contexts.items()}
    out: dict[int, dict[str, float]] = {size: {} for size in contexts}
    for name, call in CALLS.items():
        times: dict[int, list[float]] = {size: [] for size in contexts}
        for size, ctx in contexts.items():
            call(ctx, picks[size][-1])  # warm-up
        for i in range(samples):
            for size, ctx in contexts.items():
                began = time.perf_counter()
                call(ctx, picks[size][i % len(picks[size])])
                times[size].append((time.perf_counter() - began) * 1000)
        for size in contexts:
            out[size][name] = percentile(times[size], 0.95)
        print(f"  {name} timed ({load_average()})", flush=True)
    return out


def full_verify(ctx: AppContext) -> tuple[int, float]:
    began = time.perf_counter()
    result = audit_verify_run.verify_all(ctx)
    if not result["ok"]:
        raise SystemExit(f"full verification failed: {result['reason']}")
    return result["events"], time.perf_counter() - began


@contextmanager
def kept_database(label: str, size: int, keep: Path) -> Iterator[str]:
    """The kept database of ``size`` (created empty when missing); never dropped."""
    if label == "SQLite":
        yield f"sqlite:///{keep}/growth-{size}.db"
        return
    base = pg_url()
    assert base is not None
    schema = f"growth_{size}"
    admin = create_db_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"


def open_size(
    label: str, factory: Any, size: int, args: argparse.Namespace, stack: ExitStack, keys: Path
) -> AppContext:
    """The database of ``size``, loaded (or kept from an earlier run)."""
    if args.keep:
        url = stack.enter_context(kept_database(label, size, args.keep))
    else:
        url = stack.enter_context(factory())
    engine = create_db_engine(url)
    stack.callback(engine.dispose)
    upgrade(engine)
    settings = Settings(database_url=url, audit_key_file=str(keys / "audit-keys.json"))
    ctx = AppContext(settings, clock=FrozenClock(NOW), engine=engine)
    found = count_rows(ctx, "case")
    if found == size:
        print(f"{label}: {size:,} cases kept from an earlier run", flush=True)
    elif found:
        raise SystemExit(f"{url} holds {found:,} cases, not {size:,}: drop it")
    elif label == "SQLite" and args.sqlite_from_pg:
        began = time.perf_counter()
        rows = copy_from_pg(ctx, size, args.keep)
        print(
            f"{label}: {size:,} cases ({rows:,} rows) copied from PostgreSQL's growth_{size} "
            f"in {time.perf_counter() - began:.1f} s ({load_average()})",
            flush=True,
        )
    else:
        seconds, rows = load(ctx, size, args.per_day, keys=ctx.audit_keys.current(), full=True)
        events = count_rows(ctx, "audit_event")
        print(
            f"{label}: {size:,} cases ({rows:,} rows, {events:,} audit events, chained "
            f"and sealed) loaded in {seconds:.1f} s ({load_average()})",
            flush=True,
        )
    return ctx


def copy_from_pg(ctx: AppContext, size: int, keep: Path) -> int:
    """The rows of the kept PostgreSQL database of ``size`` into this SQLite one, in the
    form SQLite stores them (timestamps as naive UTC text, JSON as text), with the same
    fast-load settings as ``_bulkload.load`` (indexes built after). The generator's hashing
    and sealing, most of a load's cost, is not done twice: the chains are the same. The
    rows go through CSV files and the ``sqlite3`` shell's ``.import`` (no Python per row:
    on a busy 2-core machine that was the difference between minutes and an hour)."""
    database = ctx.db.url.database
    assert database is not None
    with ExitStack() as stack:
        source = stack.enter_context(kept_database("PostgreSQL", size, keep))
        pg = create_db_engine(source)
        stack.callback(pg.dispose)
        raw = stack.enter_context(closing(pg.raw_connection()))
        target = stack.enter_context(closing(ctx.db.raw_connection()))
        driver: Any = target.driver_connection
        indexes = sqlite_fast_load(driver)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=keep)))
        script = ["PRAGMA synchronous = OFF;", "PRAGMA foreign_keys = OFF;", ".mode csv"]
        for name, table in {"deployment": DEPLOYMENT, **TABLES}.items():
            shown = []
            for c in table.columns:
                kind = type(c.type).__name__
                if kind == "UTCDateTime":
                    shown.append(
                        f"""to_char("{c.name}" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"""
                    )
                else:
                    shown.append(f'"{c.name}"::text' if kind == "JSON" else f'"{c.name}"')
            csv = folder / f"{name}.csv"
            cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
            query = f'COPY (SELECT {", ".join(shown)} FROM "{name}") TO STDOUT (FORMAT csv)'
            with csv.open("wb") as out, cursor.copy(query) as copy:
                for chunk in copy:
                    out.write(chunk)
            columns = [f'"{c.name}"' for c in table.columns]
            staged = [f"c{i}" for i in range(len(columns))]
            script += [
                f"CREATE TEMP TABLE stage ({', '.join(staged)});",
                f".import '{csv}' stage",
                # CSV has no NULL: an empty field is one (the loader writes no empty text)
                f'INSERT INTO "{name}" ({", ".join(columns)}) SELECT '
                + ", ".join(f"NULLIF({c}, '')" for c in staged)
                + " FROM stage;",
                "DROP TABLE stage;",
            ]
        script += [f"{statement};" for statement in indexes]
        script += ["ANALYZE;", "PRAGMA wal_checkpoint(TRUNCATE);"]
        subprocess.run(  # noqa: S603
            ["sqlite3", "-bail", database],  # noqa: S607
            input="\n".join(script),
            text=True,
            stdout=subprocess.DEVNULL,  # the checkpoint's counts
            check=True,
        )
    return count_rows(ctx, *TABLES)


def run(label: str, factory: Any, args: argparse.Namespace) -> dict[int, dict[str, float]]:
    sizes = [int(s) for s in args.sizes.split(",")]
    with ExitStack() as stack:
        keys = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        contexts = {size: open_size(label, factory, size, args, stack, keys) for size in sizes}
        if args.load_only:
            return {}
        figures = measure(contexts, args.samples, args.seed)
        for size, ctx in contexts.items():
            if size <= args.full_verify_max:
                events, took = full_verify(ctx)
                figures[size]["verify_all_events_s"] = events / took
                print(
                    f"  {size:,}: full verification: {events:,} events in {took:.1f} s, "
                    f"{events / took:,.0f} events/s ({load_average()})",
                    flush=True,
                )
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
    print(f"({load_average()})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--full-verify-max", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("SQLite", "PostgreSQL"))
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the loaded databases")
    parser.add_argument(
        "--sqlite-from-pg",
        action="store_true",
        help="with --keep: fill SQLite's databases from PostgreSQL's kept ones (same rows)",
    )
    parser.add_argument("--load-only", action="store_true", help="with --keep: load, no timing")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    for label, factory in backends():
        if args.only in (None, label):
            run(label, factory, args)


if __name__ == "__main__":
    main()
