"""Bulk-loading a synthetic history (``bench/_history.py``) into a bench database, fast:
SQLite by ``executemany`` a batch at a time, PostgreSQL by ``COPY``; secondary indexes
dropped for the load and built once afterwards from sorted keys."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, text

from _history import DEPLOYMENT_ID, NOW, rows
from _kpis_replicate import replicate
from retention_flow.db.tables import AUDIT_EVENT, CASE, CASE_KEY, DEPLOYMENT, WORK_ITEM
from retention_flow.services.audit.seal import KeySet
from retention_flow.services.platform.context import AppContext

TABLES: dict[str, Table] = {
    "case": CASE,
    "work_item": WORK_ITEM,
    "case_key": CASE_KEY,
    "audit_event": AUDIT_EVENT,
}


def count_rows(ctx: AppContext, *names: str) -> int:
    """The rows of these tables, together."""
    with ctx.db.connect() as conn:
        return sum(
            int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in names
        )


def _sqlite_value(value: Any) -> Any:
    if value is None or type(value) in (str, int, float):
        return value
    if isinstance(value, datetime):  # all UTC here: the stored form of UTCDateTime
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def load(
    ctx: AppContext,
    size: int,
    per_day: int,
    replicate_from: int | None = None,
    *,
    seeded: bool = False,
    keys: KeySet | None = None,
    full: bool = False,
) -> tuple[float, int]:
    """Bulk-load the history; (seconds, rows). With ``replicate_from`` (fewer than
    ``size``): that many cases row by row, the rest copied in the database
    (``_kpis_replicate``); ``seeded``: the database already holds those rows (a copy of
    the smaller size's database), only the copying is left; ``full``: the production-width
    history (``_history.rows``)."""
    begin = time.perf_counter()
    loaded = min(size, replicate_from or size)
    rows_written = 0
    raw = ctx.db.raw_connection()
    try:
        driver: Any = raw.driver_connection
        postgres = ctx.db.dialect.name == "postgresql"
        indexes = pg_fast_load(driver) if postgres else sqlite_fast_load(driver)
        if not seeded:
            rows_written = _insert_rows(ctx, driver, loaded, per_day, keys, full=full)
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
    ctx: AppContext,
    driver: Any,
    size: int,
    per_day: int,
    keys: KeySet | None = None,
    *,
    full: bool = False,
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
    for name, batch in rows(size, per_day, keys=keys, full=full):
        if not batch:
            continue
        columns = [c.name for c in TABLES[name].columns if c.name in batch[0]]
        rows_written += len(batch)
        if postgres:
            _copy(driver, name, columns, batch)
        else:
            marks = ", ".join("?" * len(columns))
            quoted = ", ".join(f'"{c}"' for c in columns)
            driver.executemany(
                f'INSERT INTO "{name}" ({quoted}) VALUES ({marks})',
                [tuple(_sqlite_value(r[c]) for c in columns) for r in batch],
            )
            driver.commit()  # a batch at a time: the WAL stays small
    return rows_written


def sqlite_fast_load(driver: Any) -> list[str]:
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


def pg_fast_load(driver: Any) -> list[str]:
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
