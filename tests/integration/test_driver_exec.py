"""A step's writes on the driver's cursor (db/driver_exec.py) store exactly what
SQLAlchemy's own execute stores, raise the same errors, and leave to SQLAlchemy what
they cannot run exactly as it would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from retention_flow.db import driver_exec, tables
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.write import _DELETE_KEYS, Batch
from tests.factories import deploy

WORK = tables.WORK_ITEM
CASE = tables.CASE
AGENT = Actor("agent", frozenset({"agent", "telemarketing"}))
_INSERT_ITEM = insert(WORK).inline()


def _case(ctx: AppContext) -> str:
    deploy(ctx, "three_steps")
    return cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}).id


def _item(case_id: str, n: int) -> dict[str, Any]:
    at = datetime(2026, 12, 3, 8, 0, 0, 5, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "id": str(uuid.uuid4()),
        "case_id": case_id,
        "business_key": None,
        "process_id": "p",
        "element_id": f"e{n}",
        "name": f"Call «{n}»",
        "role": "agent",
        "state": "ready",
        "claimed_by": None,
        "claimed_at": None,
        "due_at": at,
        "priority": n,
        "form": "offer_form.json",
        "created_at": at,
        "ended_at": None,
        "ended_by": None,
    }


def _stored(conn: Any, ids: list[str]) -> list[dict[str, Any]]:
    rows = conn.execute(select(WORK).where(WORK.c.id.in_(ids)).order_by(WORK.c.priority))
    return [{k: v for k, v in r._mapping.items() if k != "id"} for r in rows]


def test_rows_written_on_the_cursor_read_back_as_sqlalchemy_writes_them(ctx: AppContext) -> None:
    case_id = _case(ctx)
    engine = ctx.db
    with engine.begin() as conn:
        mine = [_item(case_id, n) for n in range(3)]
        theirs = [_item(case_id, n) for n in range(3, 6)]
        prepared = driver_exec.prepare(_INSERT_ITEM, conn.dialect, frozenset(mine[0]))
        assert prepared is not None
        driver_exec.execute(conn, prepared, mine)
        conn.execute(_INSERT_ITEM, theirs)
    with engine.connect() as conn:
        got = _stored(conn, [r["id"] for r in mine])
        want = _stored(conn, [r["id"] for r in theirs])
    for row in (*got, *want):
        for differs in ("element_id", "name", "priority", "due_at", "created_at"):
            del row[differs]
    assert got == want
    with engine.connect() as conn:
        due = conn.execute(select(WORK.c.due_at).where(WORK.c.id == mine[1]["id"])).scalar_one()
    assert due == mine[1]["due_at"]  # microseconds and zone kept


def test_a_single_guarded_update_answers_the_rows_it_matched(ctx: AppContext) -> None:
    case_id = _case(ctx)
    engine = ctx.db
    with engine.begin() as conn:
        row = _item(case_id, 1)
        conn.execute(_INSERT_ITEM, [row])
        stmt = WORK.update().where(WORK.c.id == bindparam("b_id")).values(state=bindparam("s"))
        out = Batch(conn, pipelined=False)
        hit = out.execute(stmt, {"b_id": row["id"], "s": "completed"})
        miss = out.execute(stmt, {"b_id": "no-such", "s": "completed"})
        assert (out.rowcount(hit), out.rowcount(miss)) == (1, 0)
        state = conn.execute(select(WORK.c.state).where(WORK.c.id == row["id"])).scalar_one()
    assert state == "completed"


def test_json_and_times_written_on_the_cursor_read_back_unchanged(ctx: AppContext) -> None:
    case_id = _case(ctx)
    data = {"name": "Zoë 🙂", "n": 1.5, "big": 2**53 - 1, "nested": {"list": [1, None, "x"]}}
    at = datetime(2026, 12, 3, 23, 59, 59, 999999, tzinfo=UTC)
    stmt = CASE.update().where(CASE.c.id == bindparam("b_id"))
    stmt = stmt.values(data=bindparam("data"), updated_at=bindparam("at"))
    with ctx.db.begin() as conn:
        keys = frozenset({"b_id", "data", "at"})
        assert driver_exec.prepare(stmt, conn.dialect, keys) is not None
        Batch(conn, pipelined=False).execute(stmt, {"b_id": case_id, "data": data, "at": at})
    with ctx.db.connect() as conn:
        row = conn.execute(select(CASE.c.data, CASE.c.updated_at).where(CASE.c.id == case_id)).one()
    assert (row.data, row.updated_at) == (data, at)


def test_a_duplicate_raises_sqlalchemys_integrity_error_and_nothing_is_kept(
    ctx: AppContext,
) -> None:
    case_id = _case(ctx)
    engine = ctx.db
    with engine.begin() as conn:
        row = _item(case_id, 1)
        conn.execute(_INSERT_ITEM, [row])
    prepared = None
    with pytest.raises(IntegrityError), engine.begin() as conn:
        other = _item(case_id, 2)
        prepared = driver_exec.prepare(_INSERT_ITEM, conn.dialect, frozenset(row))
        assert prepared is not None
        driver_exec.execute(conn, prepared, [other, row])  # the second is a duplicate
    with engine.connect() as conn:
        kept = conn.execute(select(WORK.c.id).where(WORK.c.id == other["id"])).all()
    assert kept == []  # the step's transaction rolled back whole


def test_what_the_cursor_cannot_run_exactly_goes_through_sqlalchemy(ctx: AppContext) -> None:
    engine = ctx.db
    dialect = engine.dialect
    # expanding IN: the SQL depends on the list's length
    assert driver_exec.prepare(_DELETE_KEYS, dialect, frozenset({"b_case", "b_keys"})) is None
    # a required bind that is not among the keys: SQLAlchemy names it
    guarded = delete(WORK).where(WORK.c.id == bindparam("b_id"))
    assert driver_exec.prepare(guarded, dialect, frozenset({"other"})) is None
    # a Python-side default to compute at execution
    with_default = insert(WORK).values(priority=bindparam("p", callable_=lambda: 7))
    assert driver_exec.prepare(with_default, dialect, frozenset({"id"})) is None
    # and the batch still runs such a statement (through SQLAlchemy)
    case_id = _case(ctx)
    with engine.begin() as conn:
        row = _item(case_id, 1)
        conn.execute(_INSERT_ITEM, [row])
        Batch(conn, pipelined=False).execute(
            delete(WORK).where(WORK.c.id.in_(bindparam("ids", expanding=True))),
            {"ids": [row["id"]]},
        )
        left = conn.execute(select(WORK.c.id).where(WORK.c.id == row["id"])).all()
    assert left == []


def test_rows_of_different_keys_get_sqlalchemys_answer(ctx: AppContext) -> None:
    case_id = _case(ctx)
    a, b = _item(case_id, 1), _item(case_id, 2)
    del b["business_key"]  # not sent as one statement on the cursor: SQLAlchemy refuses it
    with pytest.raises(StatementError, match="business_key"), ctx.db.begin() as conn:
        Batch(conn, pipelined=False).execute(_INSERT_ITEM, [a, b])
    with ctx.db.connect() as conn:
        n = conn.execute(select(WORK.c.id).where(WORK.c.id.in_([a["id"], b["id"]]))).all()
    assert n == []
