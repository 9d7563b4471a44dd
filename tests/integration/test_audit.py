"""The hash chain detects altered, removed and truncated events."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import text

from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")


def _case_with_history(ctx: AppContext) -> str:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"})
    tasks.claim(ctx, AGENT, case.open_tasks[0].id)
    tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"call_result": "reached"})
    return str(case.id)


def _verify(ctx: AppContext) -> Any:
    with read_session(ctx.db) as session:
        return audit.verify(session)


def test_untouched_chain_verifies(ctx: AppContext) -> None:
    case_id = _case_with_history(ctx)
    result = _verify(ctx)
    assert result.ok and result.streams == 2 and result.events >= 6
    with read_session(ctx.db) as session:
        events = audit.history(session, case_id)
    assert events[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_altered_event_is_found(ctx: AppContext) -> None:
    case_id = _case_with_history(ctx)
    with ctx.db.begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET actor = 'mallory' WHERE stream = :s AND seq = 3"),
            {"s": case_id},
        )
    result = _verify(ctx)
    assert not result.ok and result.broken_stream == case_id and result.broken_seq == 3
    assert "altered" in (result.reason or "")


def test_removed_event_is_found(ctx: AppContext) -> None:
    case_id = _case_with_history(ctx)
    with ctx.db.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE stream = :s AND seq = 2"), {"s": case_id})
    result = _verify(ctx)
    assert not result.ok and result.broken_seq == 3


def test_truncated_chain_is_found(ctx: AppContext) -> None:
    case_id = _case_with_history(ctx)
    with ctx.db.begin() as conn:
        last = conn.execute(
            text("SELECT max(seq) FROM audit_event WHERE stream = :s"), {"s": case_id}
        ).scalar()
        conn.execute(
            text("DELETE FROM audit_event WHERE stream = :s AND seq = :q"),
            {"s": case_id, "q": last},
        )
    result = _verify(ctx)
    assert not result.ok and "missing" in (result.reason or "")


def test_data_is_hashed_too(ctx: AppContext) -> None:
    case_id = _case_with_history(ctx)
    with read_session(ctx.db) as session:
        seq = next(e.seq for e in audit.history(session, case_id) if e.type == "task_completed")
    cast = "CAST(:d AS jsonb)" if ctx.db.dialect.name == "postgresql" else ":d"
    with ctx.db.begin() as conn:
        conn.execute(
            text(f"UPDATE audit_event SET data_after = {cast} WHERE stream = :s AND seq = :q"),
            {"d": '{"call_result": "not_reached"}', "s": case_id, "q": seq},
        )
    assert _verify(ctx).broken_seq == seq
