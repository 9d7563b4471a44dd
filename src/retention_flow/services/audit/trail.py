"""The audit trail: append-only, hash-chained, sealed events, one chain per stream.

A stream is a case (its id) or ``system`` (deployments and other non-case events).
``hash = sha256(prev_hash + canonical(event))`` (``audit_chain``). Each case row keeps
its chain head (``audit_seq``, ``audit_hash``) so dropping trailing events is detected
too; the ``system`` stream keeps its head in ``audit_head``. Every event and every head
also carries an HMAC seal with the id of its key (``audit_seal``), written in the same
transaction, so a chain rewritten and recomputed by someone with only database access
no longer verifies; signed checkpoints (``audit_checkpoint``) catch a head moved back.
Nothing here updates or deletes an audit row; there is no code path that does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from retention_flow.db.models import AuditEvent
from retention_flow.db.tables import AUDIT_EVENT, AUDIT_HEAD
from retention_flow.services.audit.chain import GENESIS, SYSTEM_STREAM, canonical, chain_hash
from retention_flow.services.audit.seal import EVENT, HEAD, KeySet, keys_of
from retention_flow.services.audit.verify import VerifyResult, verify

__all__ = [
    "GENESIS",
    "SYSTEM_STREAM",
    "Head",
    "NewEvent",
    "VerifyResult",
    "append_system",
    "build_rows",
    "canonical",
    "chain_hash",
    "diff",
    "history",
    "insert_events",
    "insert_rows",
    "verify",
]


@dataclass
class NewEvent:
    type: str
    actor: str
    element_id: str | None = None
    task_id: str | None = None
    data_before: dict[str, Any] | None = None
    data_after: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class Head:
    """A stream's head after an append: position, chain hash, and the head's seal."""

    seq: int
    hash: str
    seal_key: str
    seal: str


def build_rows(
    stream: str,
    case_id: str | None,
    head_seq: int,
    head_hash: str,
    events: Sequence[NewEvent],
    at: datetime,
    keys: KeySet,
) -> tuple[list[dict[str, Any]], Head]:
    """Rows ready for insert (each sealed), and the new sealed head."""
    rows: list[dict[str, Any]] = []
    seq, prev = head_seq, head_hash
    for ev in events:
        seq += 1
        row: dict[str, Any] = {
            "stream": stream,
            "seq": seq,
            "case_id": case_id,
            "type": ev.type,
            "actor": ev.actor,
            "at": at,
            "element_id": ev.element_id,
            "task_id": ev.task_id,
            "data_before": _jsonable(ev.data_before),
            "data_after": _jsonable(ev.data_after),
            "detail": _jsonable(ev.detail),
            "prev_hash": prev,
        }
        row["hash"] = prev = chain_hash(prev, row)
        row["seal_key"], row["seal"] = keys.seal(EVENT, stream, seq, prev)
        rows.append(row)
    return rows, Head(seq, prev, *keys.seal(HEAD, stream, seq, prev))


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    # What the database gives back must hash the same as what we hashed.
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


#: ``inline``: no generated id is read back (a step's pipeline answers only at its end)
_INSERT_EVENT = insert(AUDIT_EVENT).inline()


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_events(session.connection(), rows)


def insert_events(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Insert sealed rows from ``build_rows`` (one executemany)."""
    if rows:
        conn.execute(_INSERT_EVENT, rows)


def append_system(
    session: Session, events: Sequence[NewEvent], at: datetime, keys: KeySet | None = None
) -> None:
    """Append to the ``system`` stream, locking its head row for the transaction. The
    seal keys are the context's that owns the session's engine unless given."""
    keys = keys or keys_of(session).current()
    head = session.execute(
        select(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.hash)
        .where(AUDIT_HEAD.c.stream == SYSTEM_STREAM)
        .with_for_update()
    ).first()
    if head is None:
        session.execute(insert(AUDIT_HEAD).values(stream=SYSTEM_STREAM, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    rows, new = build_rows(SYSTEM_STREAM, None, seq, prev, events, at, keys)
    insert_rows(session, rows)
    session.execute(
        update(AUDIT_HEAD)
        .where(AUDIT_HEAD.c.stream == SYSTEM_STREAM)
        .values(seq=new.seq, hash=new.hash, seal_key=new.seal_key, seal=new.seal)
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys that changed: (old values, new values); a removed key maps to None."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a != b:
            old[key] = None if a is _MISSING else a
            new[key] = None if b is _MISSING else b
    return old, new


_MISSING = object()


def history(session: Session, case_id: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.stream == case_id).order_by(AuditEvent.seq)  # type: ignore[arg-type]
    return list(session.execute(query).scalars())
