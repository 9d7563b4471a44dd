"""The audit trail: append-only, hash-chained events, one chain per stream.

A stream is a case (its id) or ``system`` (deployments and other non-case events).
``hash = sha256(prev_hash + canonical(event))`` where canonical is sorted-key JSON of
every stored field except the hashes. Each case row keeps its chain head
(``audit_seq``, ``audit_hash``) so dropping trailing events is detected too; the
``system`` stream keeps its head in ``audit_head``. Nothing here updates or deletes
an audit row; there is no code path that does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session

from ..core.clock import utc_iso
from ..db.models import AuditEvent
from ..db.tables import AUDIT_EVENT, AUDIT_HEAD, CASE

GENESIS = "0" * 64
SYSTEM_STREAM = "system"


@dataclass
class NewEvent:
    type: str
    actor: str
    element_id: str | None = None
    task_id: str | None = None
    data_before: dict[str, Any] | None = None
    data_after: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None


def canonical(row: dict[str, Any]) -> bytes:
    body = {k: row.get(k) for k in _HASHED_FIELDS}
    body["at"] = utc_iso(body["at"]) if isinstance(body["at"], datetime) else body["at"]
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


_HASHED_FIELDS = (
    "stream",
    "seq",
    "case_id",
    "type",
    "actor",
    "at",
    "element_id",
    "task_id",
    "data_before",
    "data_after",
    "detail",
)


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(row)).hexdigest()


def build_rows(
    stream: str,
    case_id: str | None,
    head_seq: int,
    head_hash: str,
    events: Sequence[NewEvent],
    at: datetime,
) -> tuple[list[dict[str, Any]], int, str]:
    """Rows ready for insert, and the new head (seq, hash)."""
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
        row["hash"] = chain_hash(prev, row)
        prev = row["hash"]
        rows.append(row)
    return rows, seq, prev


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    # What the database gives back must hash the same as what we hashed.
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


_INSERT_EVENT = insert(AUDIT_EVENT)


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(_INSERT_EVENT, rows)


def append_system(session: Session, events: Sequence[NewEvent], at: datetime) -> None:
    """Append to the ``system`` stream, locking its head row for the transaction."""
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
    rows, new_seq, new_hash = build_rows(SYSTEM_STREAM, None, seq, prev, events, at)
    insert_rows(session, rows)
    session.execute(
        update(AUDIT_HEAD)
        .where(AUDIT_HEAD.c.stream == SYSTEM_STREAM)
        .values(seq=new_seq, hash=new_hash)
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


# --------------------------------------------------------------------------- verify


@dataclass
class VerifyResult:
    ok: bool
    streams: int
    events: int
    broken_stream: str | None = None
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def verify(session: Session, stream: str | None = None, batch: int = 5000) -> VerifyResult:
    """Walk every chain (or one) in order; report the first broken link."""
    table = AUDIT_EVENT
    query = select(table).order_by(table.c.stream, table.c.seq)
    if stream is not None:
        query = query.where(table.c.stream == stream)
    heads = _heads(session, stream)
    current: str | None = None
    expected_seq, prev = 0, GENESIS
    streams = events = 0

    def close(name: str, seq: int, last: str) -> VerifyResult | None:
        head = heads.pop(name, None)
        if head is not None and (head[0] != seq or head[1] != last):
            return VerifyResult(
                False,
                streams,
                events,
                name,
                seq,
                f"chain ends at seq {seq} but the head records seq {head[0]}: events are missing",
            )
        return None

    for row in _iterate(session, query, batch):
        if row["stream"] != current:
            if current is not None and (bad := close(current, expected_seq, prev)):
                return bad
            current, expected_seq, prev = row["stream"], 0, GENESIS
            streams += 1
        expected_seq += 1
        events += 1
        reason = None
        if row["seq"] != expected_seq:
            reason = f"expected seq {expected_seq}: an event is missing"
        elif row["prev_hash"] != prev:
            reason = "prev_hash does not match the previous event"
        elif chain_hash(prev, row) != row["hash"]:
            reason = "hash does not match the event's content: it was altered"
        if reason is not None:
            return VerifyResult(False, streams, events, current, row["seq"], reason)
        prev = row["hash"]
    if current is not None and (bad := close(current, expected_seq, prev)):
        return bad
    for name, (seq, _hash) in heads.items():
        if seq > 0:
            return VerifyResult(
                False, streams, events, name, 1, f"head records {seq} events but none are stored"
            )
    return VerifyResult(True, streams, events)


def _heads(session: Session, stream: str | None) -> dict[str, tuple[int, str]]:
    cases = select(CASE.c.id, CASE.c.audit_seq, CASE.c.audit_hash)
    system = select(AUDIT_HEAD.c.stream, AUDIT_HEAD.c.seq, AUDIT_HEAD.c.hash)
    if stream is not None:
        cases = cases.where(CASE.c.id == stream)
        system = system.where(AUDIT_HEAD.c.stream == stream)
    heads = {r[0]: (r[1], r[2]) for r in session.execute(cases)}
    heads.update({r[0]: (r[1], r[2]) for r in session.execute(system)})
    return heads


def _iterate(session: Session, query: Any, batch: int) -> Iterable[dict[str, Any]]:
    result = session.execute(query.execution_options(yield_per=batch))
    for row in result.mappings():
        yield dict(row)


def history(session: Session, case_id: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.stream == case_id).order_by(AuditEvent.seq)  # type: ignore[arg-type]
    return list(session.execute(query).scalars())
