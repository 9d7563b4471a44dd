"""Writing a planned step (``step_plan.StepPlan``) in the step's transaction.

Each table gets at most one statement per kind of change (rows of one kind go in one
executemany), and only the case columns that changed are set. On PostgreSQL the writes
go out in psycopg's pipeline mode: sent together, answered together, one round trip
before the commit instead of one per statement. The case row's conditional update
(lock version and audit head as read) is checked once the answers are in; a step that
lost the race is a ``CaseConflict`` and its transaction is rolled back, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Update

from retention_flow.core.errors import CaseConflict
from retention_flow.db import driver_exec, tables
from retention_flow.services.audit.trail import insert_events
from retention_flow.services.steps.plan import KeyPlan, StepInput, StepPlan, TimerPlan
from retention_flow.services.steps.signal_waits import project_signal_waits

CASE = tables.CASE
WORK = tables.WORK_ITEM
TIMER = tables.TIMER
KEYS = tables.CASE_KEY
INCIDENT = tables.INCIDENT

#: set in ``Connection.info`` while statements go out in a pipeline (bench: round trips)
PIPELINED = "retention_flow_pipelined"
# Inserts are ``inline``: no generated key is read back (a pipeline answers at its end,
# and nothing here needs one).
#: the case row's guard: unchanged since it was read (lock version and audit head)
_CASE_GUARD = and_(
    CASE.c.id == bindparam("b_id"),
    CASE.c.lock_version == bindparam("b_lock"),
    CASE.c.audit_seq == bindparam("b_seq"),
)
_INSERT_CASE = insert(CASE).inline()
_INSERT_ITEM = insert(WORK).inline()
_ESCALATE_ITEM = (
    update(WORK).where(WORK.c.id == bindparam("b_id")).values(priority=bindparam("priority"))
)
_INSERT_TIMER = insert(TIMER).inline()
_DELETE_TIMERS = delete(TIMER).where(
    and_(TIMER.c.case_id == bindparam("b_case"), TIMER.c.state == "pending")
)
_DELETE_KEYS = delete(KEYS).where(
    and_(KEYS.c.case_id == bindparam("b_case"), KEYS.c.key.in_(bindparam("b_keys", expanding=True)))
)
_INSERT_KEYS = insert(KEYS).inline()
_INSERT_INCIDENT = insert(INCIDENT).inline()


@cache
def _update_case(columns: frozenset[str]) -> Update:
    """The guarded case update setting ``columns`` (built once per set of columns: a
    step sets a few dozen different sets at most)."""
    return update(CASE).where(_CASE_GUARD).values({c: bindparam(c) for c in sorted(columns)})


@cache
def _update_item(columns: frozenset[str]) -> Update:
    """Closing a work item, setting ``columns`` (its state and end, and for the task the
    step completed its final work-time columns)."""
    values: dict[str, Any] = {c: bindparam(c) for c in sorted(columns)}
    return update(WORK).where(WORK.c.id == bindparam("b_id")).values(values)


class Batch:
    """Statements of one step; on PostgreSQL queued in a pipeline until ``sync``."""

    def __init__(self, conn: Connection, pipelined: bool) -> None:
        self.conn = conn
        self.pipelined = pipelined

    def execute(self, statement: Any, params: Any = None) -> Any:
        """Run ``statement`` for ``params`` (a row or a list of rows of the same keys) on
        the driver's cursor (``db/driver_exec.py``), or through SQLAlchemy when it
        cannot be run there exactly as SQLAlchemy would."""
        rows = params if isinstance(params, list) else [params] if params else []
        if rows:
            keys = frozenset(rows[0])
            prepared = driver_exec.prepare(statement, self.conn.dialect, keys)
            if prepared is not None and all(frozenset(r) == keys for r in rows):
                return driver_exec.execute(self.conn, prepared, rows)
        return self.conn.execute(statement, params)

    def rowcount(self, result: Any) -> int:
        """Rows a statement matched (in a pipeline: known once the answers are in)."""
        if not isinstance(result, CursorResult):
            return int(result.rowcount)  # the driver's cursor (driver_exec)
        if self.pipelined:
            return int(result.context.cursor.rowcount)
        return result.rowcount


@contextmanager
def batch(conn: Connection) -> Iterator[Batch]:
    """Send the block's statements in one round trip on PostgreSQL (psycopg pipeline
    mode; the block's end waits for every answer); one by one elsewhere."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        yield Batch(conn, False)
        return
    import psycopg

    raw = conn.connection.driver_connection
    conn.info[PIPELINED] = True
    try:
        with raw.pipeline():  # type: ignore[union-attr]
            yield Batch(conn, True)
    except psycopg.Error as exc:  # an answer that arrived with the final sync
        conn._handle_dbapi_exception(exc, None, None, None, None)  # as driver_exec's
    finally:
        conn.info[PIPELINED] = False


def write_step(conn: Connection, inp: StepInput, plan: StepPlan, now: datetime) -> int:
    """Write ``plan``; answers the case's new lock version."""
    head = inp.head
    new_lock = 1 if inp.is_new else head.lock_version + 1
    guarded = None
    conflict: BaseException | None = None
    out = Batch(conn, pipelined=False)
    try:
        with batch(conn) as out:
            if inp.insert_case is not None:
                out.execute(_INSERT_CASE, {**inp.insert_case, **plan.values, "lock_version": 1})
            else:
                params = {**plan.values, "lock_version": new_lock}
                guard = {"b_id": head.id, "b_lock": head.lock_version, "b_seq": head.audit_seq}
                guarded = out.execute(_update_case(frozenset(params)), {**params, **guard})
                if not out.pipelined:  # known now: stop before writing the rest
                    _check_guard(out, guarded, head.id, None)
            _write_items(out, inp, plan, now)
            _write_timers(out, head.id, plan.timers)
            project_signal_waits(out, head.id, inp.snapshot.signals, _signals_before(inp))
            _write_keys(out, head.id, plan.keys)
            if plan.incident is not None:
                out.execute(_INSERT_INCIDENT, plan.incident.row)
            insert_events(out, plan.audit_rows)
    except DBAPIError as exc:
        # a step that lost the race can fail on the audit chain's unique (stream, seq)
        # before its case update is seen to have matched nothing: still a conflict
        conflict = exc
    if guarded is not None and out.pipelined:  # the answers are in now
        _check_guard(out, guarded, head.id, conflict)
    if conflict is not None:
        raise conflict
    return new_lock


def _check_guard(out: Batch, guarded: Any, case_id: str, cause: BaseException | None) -> None:
    if out.rowcount(guarded) != 1:
        raise CaseConflict(f"case {case_id} was changed by someone else; try again") from cause


def _signals_before(inp: StepInput) -> frozenset[str] | None:
    return inp.before.signals if inp.before is not None else None


def _write_items(out: Batch, inp: StepInput, plan: StepPlan, now: datetime) -> None:
    items = plan.items
    done = inp.completed_task
    rows: dict[frozenset[str], list[dict[str, Any]]] = {}
    for wid, state in items.closed.items():
        row = {"b_id": wid, "state": state, "ended_at": now, "ended_by": inp.actor}
        if wid == done:
            row.update(plan.completed_columns)
        rows.setdefault(frozenset(row) - {"b_id"}, []).append(row)
    if done is not None and plan.completed_columns and done not in items.closed:
        row = {"b_id": done, **plan.completed_columns}
        rows.setdefault(frozenset(row) - {"b_id"}, []).append(row)
    for columns, group in rows.items():
        out.execute(_update_item(columns), group)
    if items.new_items:
        out.execute(_INSERT_ITEM, items.new_items)
    if items.escalated:
        out.execute(_ESCALATE_ITEM, [{"b_id": w, "priority": p} for w, p in items.escalated])


def _write_timers(out: Batch, case_id: str, timers: TimerPlan) -> None:
    if timers.delete:
        out.execute(_DELETE_TIMERS, {"b_case": case_id})
    if timers.rows:
        out.execute(_INSERT_TIMER, timers.rows)


def _write_keys(out: Any, case_id: str, keys: KeyPlan) -> None:
    if keys.delete:
        out.execute(_DELETE_KEYS, {"b_case": case_id, "b_keys": keys.delete})
    if keys.rows:
        out.execute(_INSERT_KEYS, keys.rows)


def write_keys(conn: Any, case_id: str, keys: KeyPlan) -> None:
    """Rewrite correlation keys outside a step (a data correction)."""
    _write_keys(conn, case_id, keys)
