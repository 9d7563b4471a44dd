"""What someone with write access to the database (and no audit key) can do to the trail:
rewrite an event and recompute the chain with the public algorithm, or cut the tail off
and move the head back. Raw SQL, behind the services' back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select, text

from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.services.audit.chain import chain_hash
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks.work_items import claim, complete
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")


def case_with_history(ctx: AppContext) -> str:
    """A three_steps case with its first two tasks completed (a long enough chain)."""
    from retention_flow.services.cases import lifecycle as cases

    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"})
    task = case.open_tasks[0].id
    claim(ctx, AGENT, task)
    done = complete(ctx, AGENT, task, {"call_result": "reached"})
    task = done.next_tasks[0].id
    complete(ctx, AGENT, task, {"offer_response": "accepted"})
    return str(case.id)


def finish_case(ctx: AppContext, case_id: str) -> None:
    from retention_flow.services.cases import lifecycle as cases

    [task] = cases.get_case(ctx, case_id).open_tasks
    complete(ctx, AGENT, task.id, {"confirmation_channel": "sms"})


def events(engine: Engine, stream: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(AUDIT_EVENT).where(AUDIT_EVENT.c.stream == stream)
        return [dict(r) for r in conn.execute(query.order_by(AUDIT_EVENT.c.seq)).mappings()]


def first_completed(engine: Engine, stream: str) -> int:
    return next(e["seq"] for e in events(engine, stream) if e["type"] == "task_completed")


def case_head(engine: Engine, case_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                'SELECT audit_seq, audit_hash, audit_seal_key, audit_seal FROM "case" WHERE id = :c'
            ),
            {"c": case_id},
        ).one()
    return dict(row._mapping)


def rewrite_and_recompute(engine: Engine, stream: str, seq: int, new_actor: str) -> None:
    """Change event ``seq``'s actor and recorded data, recompute every hash from there
    with the public algorithm, and move the case head to the new last hash: links and
    hashes all check out afterwards."""
    rows = events(engine, stream)
    cast = "CAST(:d AS jsonb)" if engine.dialect.name == "postgresql" else ":d"
    prev = None
    with engine.begin() as conn:
        for row in rows:
            if row["seq"] == seq:
                row["actor"] = new_actor
                row["data_after"] = {k: "rewritten" for k in (row["data_after"] or {"x": 1})}
            if row["seq"] >= seq:
                row["prev_hash"] = prev if prev is not None else row["prev_hash"]
                row["hash"] = chain_hash(row["prev_hash"], row)
                conn.execute(
                    text(
                        f"UPDATE audit_event SET actor = :a, data_after = {cast}, "
                        "prev_hash = :p, hash = :h WHERE id = :id"
                    ),
                    {
                        "a": row["actor"],
                        "d": None if row["data_after"] is None else json.dumps(row["data_after"]),
                        "p": row["prev_hash"],
                        "h": row["hash"],
                        "id": row["id"],
                    },
                )
            prev = row["hash"]
        conn.execute(
            text('UPDATE "case" SET audit_hash = :h WHERE id = :c'), {"h": prev, "c": stream}
        )


def truncate_to(engine: Engine, stream: str, head: dict[str, Any]) -> None:
    """Delete the events after ``head`` and move the case head back to it (with the seal
    it had then, as someone who read the database earlier would have kept it)."""
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM audit_event WHERE stream = :s AND seq > :q"),
            {"s": stream, "q": head["audit_seq"]},
        )
        conn.execute(
            text(
                'UPDATE "case" SET audit_seq = :q, audit_hash = :h, audit_seal_key = :k, '
                "audit_seal = :m WHERE id = :s"
            ),
            {
                "q": head["audit_seq"],
                "h": head["audit_hash"],
                "k": head["audit_seal_key"],
                "m": head["audit_seal"],
                "s": stream,
            },
        )
