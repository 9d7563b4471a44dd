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
import json
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text

from _common import backends
from _kpis_replicate import replicate
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.migrate import upgrade
from retention_flow.db.session import create_db_engine
from retention_flow.db.tables import AUDIT_EVENT, CASE, CASE_KEY, DEPLOYMENT, WORK_ITEM
from retention_flow.services.audit.chain import GENESIS, chain_hash
from retention_flow.services.audit.seal import EVENT, HEAD, KeySet
from retention_flow.services.insight import kpis
from retention_flow.services.platform.context import AppContext

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
AGENTS = [f"agent{n:02d}" for n in range(50)]
OFFERS = ("DISCOUNT_10", "DISCOUNT_20", "UPGRADE_DATA", "NEW_DEVICE", "LOYALTY_BONUS")
GROUPS = ("channel", "agent", "offer")
DEPLOYMENT_ID = "bench-retention"
BATCH = 20_000


def _rows(
    size: int, per_day: int, seed: int = 7, keys: KeySet | None = None
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table name, rows) batches of the history; newest cases last. With ``keys`` the
    events are chained and sealed as the product writes them (``audit.build_rows``: the
    hash of each over the previous one, an HMAC seal on each, and the case row's sealed
    head), so ``verify-audit`` passes on them; without, the hashes are placeholders (the
    dashboard bench reads no hash)."""
    rng = random.Random(seed)
    spacing = timedelta(days=1) / per_day
    first = NOW - spacing * size
    cases: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    case_keys: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def event(case_id: str, seq: int, type_: str, at: datetime, **kw: Any) -> None:
        row: dict[str, Any] = {
            "stream": case_id,
            "seq": seq,
            "case_id": case_id,
            "type": type_,
            "actor": kw.pop("actor", "engine"),
            "at": at,
            "element_id": kw.pop("element_id", None),
            "task_id": kw.pop("task_id", None),
            "data_before": None,
            "data_after": kw.pop("data_after", None),
            "detail": kw.pop("detail", None),
            "prev_hash": GENESIS if seq == 1 or keys is None else events[-1]["hash"],
            "hash": f"{len(events):064x}",
        }
        if keys is not None:
            row["hash"] = chain_hash(row["prev_hash"], row)
            row["seal_key"], row["seal"] = keys.seal(EVENT, case_id, seq, row["hash"])
        events.append(row)

    for n in range(size):
        created = first + spacing * n
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        channel = rng.choices(("outbound", "inbound", "mail"), (5, 3, 2))[0]
        agent = rng.choice(AGENTS)
        open_ = NOW - created < timedelta(days=2)
        outcome = rng.choices(("retained", "lost", "no_response"), (5, 4, 1))[0]
        offer = rng.choice(OFFERS) if outcome == "retained" else None
        customer = f"C-{n // 10 if rng.random() < 0.1 else n}"
        data: dict[str, Any] = {
            "customer_id": customer,
            "case_number": f"RC-{n:07d}",
            "monthly_revenue_cents": rng.choice((900, 1500, 2500, 3900, 5200)),
        }
        if offer:
            data["offer_code"] = offer
        if rng.random() < 0.2:
            data["csat"] = rng.randint(1, 5)
        roles = {
            "outbound": ["telemarketing"],
            "inbound": ["inbound", "inbound"],
            "mail": ["back_office"] if rng.random() < 0.5 else [],
        }[channel]
        at = created
        seq = 1
        event(case_id, seq, "case_started", at, actor="system", data_after=data)
        for i, role in enumerate(roles):
            wait = timedelta(seconds=rng.randint(0, 3600) if i == 0 else 0)
            handle = rng.randint(20, 600)
            done = at + wait + timedelta(seconds=handle)
            task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            finished = not open_ or i > 0
            items.append(
                {
                    "id": task_id,
                    "case_id": case_id,
                    "business_key": data["case_number"],
                    "process_id": channel,
                    "element_id": f"task_{i}",
                    "name": f"Task {i}",
                    "role": role,
                    "state": "completed" if finished else "ready",
                    "claimed_by": None,
                    "claimed_at": None,
                    "due_at": at + timedelta(hours=4),
                    "priority": 50,
                    "form": None,
                    "partner": None,
                    "created_at": at,
                    "ended_at": done if finished else None,
                    "ended_by": agent if finished else None,
                    "work_started_at": None,
                    "work_started_by": None,
                    "first_worked_at": at + wait if finished else None,
                    "handling_seconds": float(handle) if finished else None,
                }
            )
            seq += 1
            event(case_id, seq, "task_ready", at, element_id=f"task_{i}", task_id=task_id)
            if not finished:
                break
            seq += 1
            event(case_id, seq, "task_completed", done, actor=agent, task_id=task_id)
            at = done
        ended = None if open_ and roles else at + timedelta(seconds=1)
        if ended:
            seq += 1
            event(case_id, seq, "case_completed", ended, detail={"outcome": outcome})
        cases.append(
            {
                "id": case_id,
                "business_key": data["case_number"],
                "idempotency_key": None,
                "process_id": channel,
                "process_version": 1,
                "deployment_id": DEPLOYMENT_ID,
                "channel": channel,
                "status": "completed" if ended else "active",
                "outcome": outcome if ended else None,
                "data": data,
                "state": "{}",
                "serializer_version": "bench",
                "lock_version": seq,
                "started_by": "system",
                "starter_role": "system",
                "audit_seq": seq,
                "audit_hash": events[-1]["hash"] if keys is not None else GENESIS,
                "created_at": created,
                "updated_at": ended or at,
                "ended_at": ended,
            }
        )
        if keys is not None:
            head = keys.seal(HEAD, case_id, seq, events[-1]["hash"])
            cases[-1]["audit_seal_key"], cases[-1]["audit_seal"] = head
        case_keys.append({"case_id": case_id, "key": "customer_id", "value": customer})
        if len(cases) >= BATCH:
            yield from (("case", cases), ("work_item", items), ("case_key", case_keys))
            yield ("audit_event", events)
            cases, items, case_keys, events = [], [], [], []
    yield from (("case", cases), ("work_item", items), ("case_key", case_keys))
    yield ("audit_event", events)


TABLES: dict[str, Table] = {
    "case": CASE,
    "work_item": WORK_ITEM,
    "case_key": CASE_KEY,
    "audit_event": AUDIT_EVENT,
}


def _sqlite_value(value: Any) -> Any:
    if value is None or type(value) in (str, int, float):
        return value
    if isinstance(value, datetime):  # all UTC here: the stored form of UTCDateTime
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _load(
    ctx: AppContext,
    size: int,
    per_day: int,
    replicate_from: int | None = None,
    *,
    seeded: bool = False,
    keys: KeySet | None = None,
) -> tuple[float, int]:
    """Bulk-load the history; (seconds, rows). With ``replicate_from`` (fewer than
    ``size``): that many cases row by row, the rest copied in the database
    (``_kpis_replicate``); ``seeded``: the database already holds those rows (a copy of
    the smaller size's database), only the copying is left."""
    begin = time.perf_counter()
    loaded = min(size, replicate_from or size)
    rows_written = 0
    raw = ctx.db.raw_connection()
    try:
        driver: Any = raw.driver_connection
        postgres = ctx.db.dialect.name == "postgresql"
        indexes = _pg_fast_load(driver) if postgres else _sqlite_fast_load(driver)
        if not seeded:
            rows_written = _insert_rows(ctx, driver, loaded, per_day, keys)
        driver.commit()
        if postgres:  # the connection goes back to the pool: triggers on again
            driver.execute("SET session_replication_role = DEFAULT")
            driver.commit()
    finally:
        raw.close()
    with ctx.db.begin() as conn:
        if loaded < size:
            replicate(conn, TABLES, round(loaded / per_day), size - loaded)
        if loaded < size or seeded:
            rows_written = sum(
                conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in TABLES
            )
        for statement in indexes:  # built once from sorted keys, not row by row
            conn.execute(text(statement))
        conn.execute(text("ANALYZE"))
    if ctx.db.dialect.name == "sqlite":  # pages read from the database file, not the WAL
        raw = ctx.db.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    return time.perf_counter() - begin, rows_written


def _insert_rows(
    ctx: AppContext, driver: Any, size: int, per_day: int, keys: KeySet | None = None
) -> int:
    """The bench deployment and ``size`` cases row by row (PostgreSQL: COPY)."""
    driver.commit()
    with ctx.db.begin() as conn:
        conn.execute(
            insert(DEPLOYMENT).values(
                id=DEPLOYMENT_ID,
                content_hash="b" * 64,
                files={},
                manifest={},
                deployed_by="bench",
                deployed_at=NOW - timedelta(days=5000),
            )
        )
    postgres = ctx.db.dialect.name == "postgresql"
    rows_written = 0
    for name, rows in _rows(size, per_day, keys=keys):
        if not rows:
            continue
        columns = [c.name for c in TABLES[name].columns if c.name in rows[0]]
        rows_written += len(rows)
        if postgres:
            _copy(driver, name, columns, rows)
        else:
            marks = ", ".join("?" * len(columns))
            quoted = ", ".join(f'"{c}"' for c in columns)
            driver.executemany(
                f'INSERT INTO "{name}" ({quoted}) VALUES ({marks})',
                [tuple(_sqlite_value(r[c]) for c in columns) for r in rows],
            )
            driver.commit()  # a batch at a time: the WAL stays small
    return rows_written


def _sqlite_fast_load(driver: Any) -> list[str]:
    """A bench database, loaded once: no fsync, no foreign-key checks, a large page cache,
    and the loaded tables' secondary indexes dropped (their ``CREATE INDEX`` statements
    are returned, to run after the load). Row-by-row index updates on random keys made a
    1,000,000-case load take most of an hour on a shared machine."""
    driver.execute("PRAGMA synchronous = OFF")
    driver.execute("PRAGMA foreign_keys = OFF")
    driver.execute("PRAGMA cache_size = -1048576")  # KiB: 1 GiB
    marks = ", ".join("?" * len(TABLES))
    found = driver.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        list(TABLES),
    ).fetchall()
    for name, _sql in found:
        driver.execute(f'DROP INDEX "{name}"')
    driver.commit()
    return [sql for _name, sql in found]


def _pg_fast_load(driver: Any) -> list[str]:
    """A bench database, loaded once by COPY: the loaded tables' plain secondary indexes
    dropped (their ``CREATE INDEX`` statements are returned, to run after the load; keys
    and unique constraints stay), and no foreign-key triggers for this session (the
    loader writes the parents first). Random-key index updates past the buffer cache
    made the load crawl."""
    driver.execute("SET session_replication_role = replica")
    found = driver.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname "
        "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)",
        [list(TABLES)],
    ).fetchall()
    for name, _sql in found:
        driver.execute(f'DROP INDEX "{name}"')
    driver.commit()
    return [sql for _name, sql in found]


def _copy(driver: Any, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    from psycopg.types.json import Jsonb

    quoted = ", ".join(f'"{c}"' for c in columns)
    with driver.cursor() as cur, cur.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row([Jsonb(r[c]) if isinstance(r[c], dict) else r[c] for c in columns])


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
                print(f"{label}: {_count(contexts[size]):,} cases in {kept} (kept)")
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
            seconds, rows = _load(ctx, size, per_day, replicate_from, seeded=seeded)
            how = f", {replicate_from:,} row by row" if (replicate_from or size) < size else ""
            print(
                f"{label}: {_count(ctx):,} cases over {size / per_day:,.0f} days loaded "
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


def _count(ctx: AppContext) -> int:
    with ctx.db.connect() as conn:
        return int(conn.execute(text('SELECT count(*) FROM "case"')).scalar_one())


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
