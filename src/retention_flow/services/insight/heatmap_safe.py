"""The heatmap rollup's safe watermark: the newest audit event id below which every event
has either committed or will never commit, found without blocking any writer.

Why it is needed: ``audit_event.id`` comes from a sequence when the row is inserted, but
transactions commit in any order. A step that drew id 100 may still be open when a
step that drew 101 has committed; a batch that took the events up to 101 and moved the
watermark there would never count 100. So the watermark may only pass an id once the
transaction that drew it has ended.

How (PostgreSQL), without a table lock:

1. read ``top``, the largest visible id (``MAX(id)``). Every id up to ``top`` was drawn
   before this read: the sequence only grows, and ``top`` itself was drawn and committed.
2. then read, from ``pg_locks``, the transactions holding ``ROW EXCLUSIVE`` on
   ``audit_event``. An ``INSERT INTO audit_event`` takes it on the table when the
   statement is parsed or its cached plan is locked, which is before its ``nextval``
   runs, and keeps it until its transaction ends (PostgreSQL records each mode a
   transaction takes, so it is listed even if that transaction holds a stronger lock
   too). Readers (``ACCESS SHARE``) and (auto)vacuum (``SHARE UPDATE EXCLUSIVE``) are
   not listed: they draw no id. So a transaction that drew an id up to ``top`` either
   ended before this read or holds the lock now and is listed (by its virtual
   transaction id, which is never reused; every transaction has one, whether it has a
   transaction id yet or not).
3. wait until none of those listed still holds its ``virtualxid`` lock (polled, backing
   off from 5 ms; each poll is a read of ``pg_locks`` and locks nothing). Then every id
   up to ``top`` is settled, and a transaction begun after that sees all of them that
   committed: ``top`` is safe.

Transactions that start later draw ids above ``top`` and are not waited for; a long
read (``ACCESS SHARE``) is not waited for either. Writers never wait: nothing here takes
a lock that conflicts with theirs (the ``SHARE`` lock this replaces queued every step's
insert behind it while it waited, up to its 5 s timeout). If a listed writer is still
open after ``SETTLE_SECONDS`` (a transaction left open with an audit event in it), the
answer is None: the batch is skipped and tried on the worker's next pass, and the read
keeps counting the newer events from the audit trail (``heatmap_fast.py``).

The proof relies on every audit event id being drawn by an ``INSERT`` into
``audit_event`` (the column's default): nothing in retention-flow calls the sequence
another way, and nothing uses two-phase commit (a prepared transaction keeps its table
locks but no virtual transaction id to wait for). On SQLite a write transaction holds
the database's one writer lock and draws an id above every committed one, so the largest
committed id is safe as it is.
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.engine import Connection

from retention_flow.services.platform.context import AppContext

#: how long ``safe_max`` waits for the writers it found to end before it gives up
SETTLE_SECONDS = 2.0
FIRST_POLL = 0.005
LAST_POLL = 0.2

_WRITERS = """SELECT DISTINCT virtualtransaction FROM pg_locks
WHERE locktype = 'relation' AND relation = CAST('audit_event' AS regclass)
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND mode = 'RowExclusiveLock' AND granted AND virtualtransaction IS NOT NULL
  AND pid IS DISTINCT FROM pg_backend_pid()"""
_OPEN = """SELECT COUNT(*) FROM pg_locks
WHERE locktype = 'virtualxid' AND granted AND virtualxid = ANY(:v)"""


def _top(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM audit_event")).scalar_one())


def _settled(conn: Connection, writers: list[str], settle: float) -> bool:
    """Wait (polling ``pg_locks``, no lock taken) until none of ``writers`` is open."""
    deadline, pause = time.monotonic() + settle, FIRST_POLL
    while writers:
        still = conn.execute(text(_OPEN), {"v": writers}).scalar_one()
        if not still:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, LAST_POLL)
    return True


def safe_max(ctx: AppContext, settle: float | None = None) -> int | None:
    """The newest audit event id below which every event has committed or never will
    (None: a writer stayed open for ``settle`` seconds, default ``SETTLE_SECONDS``; try
    again later). See the module docstring."""
    if ctx.db.dialect.name != "postgresql":
        with ctx.db.connect() as conn:
            return _top(conn)
    with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        top = _top(conn)  # autocommit: each statement reads what has committed by then
        writers = [str(r[0]) for r in conn.execute(text(_WRITERS))]
        wait = SETTLE_SECONDS if settle is None else settle
        return top if _settled(conn, writers, wait) else None
