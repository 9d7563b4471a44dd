"""``retention-flow doctor``: find stored values no door would let in, and repair them.

Rows written before the strict JSON rule, or behind the application's back, may hold
NaN, an infinity, a lone surrogate, an integer beyond 2**53, a duplicate key, or a value
of the wrong shape (``products: null``, case data that is an array). The doctor reads
every JSON column as *text* (so nothing is lost on the way in) and the partners' float
columns, and lists what it finds; without ``dry_run`` it repairs each row in its own
transaction together with an audit event naming what changed:

- case data and workflow state: refused values become ``null``, data that is not an
  object is wrapped as ``{"value": ...}``; the event (``data_repaired``) goes on the
  case's own chain, and the case's lock version moves on (cached workflows reload);
- other rows (partners, scan pages, jobs, letters, ...): the same, with a
  ``row_repaired`` event on the ``system`` stream;
- audit rows are evidence: their hash covers what they hold, so they are never
  rewritten (answers render such a value as ``null``). The doctor lists them and, once
  per event, appends ``audit_value_found`` to the ``system`` stream naming the stream
  and sequence number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, cast, select, update
from sqlmodel import Session, SQLModel

from retention_flow.core import strict_json
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, PARTNER
from retention_flow.services.audit.trail import (
    SYSTEM_STREAM,
    NewEvent,
    append_system,
    build_rows,
    insert_rows,
)
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import AppContext
from retention_flow.services.platform.views import DoctorReport, FindingView

DOCTOR = "doctor"
#: the shape a column's value must have, beyond being interoperable JSON
SHAPES: dict[tuple[str, str], str] = {
    ("case", "data"): "object",
    ("partner_org", "products"): "names",
    ("partner_org", "regions"): "names",
    ("app_user", "roles"): "names",
    ("letter", "offer_codes"): "names",
    ("scan_page", "reasons"): "names",
    ("scan_page", "fields"): "objects",
    ("audit_event", "data_before"): "object_or_null",
    ("audit_event", "data_after"): "object_or_null",
    ("audit_event", "detail"): "object_or_null",
}


@dataclass
class Finding:
    table: str
    key: dict[str, Any]
    column: str
    problems: list[dict[str, str]]
    repaired: bool = False
    #: the repaired value (not for audit rows, which are never rewritten)
    value: Any = field(default=None, repr=False)

    def view(self) -> FindingView:
        return FindingView(
            table=self.table,
            key=self.key,
            column=self.column,
            problems=self.problems,
            repaired=self.repaired,
        )


def _shape_problems(shape: str | None, value: Any) -> list[dict[str, str]]:
    checks: dict[str | None, Callable[[Any], bool]] = {
        None: lambda v: True,
        "object": lambda v: isinstance(v, dict),
        "object_or_null": lambda v: v is None or isinstance(v, dict),
        "names": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "objects": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
    }
    ok = checks[shape](value)
    return [] if ok else [{"field": "(root)", "message": f"is not {shape}"}]


def _reshape(shape: str | None, value: Any) -> Any:
    if shape == "object":
        return readable.as_object(value)
    if shape == "object_or_null":
        return readable.as_optional_object(value)
    if shape == "names":
        return readable.names(value)
    if shape == "objects":
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    return value


def diagnose(text: str | None, shape: str | None) -> tuple[list[dict[str, str]], Any]:
    """What is wrong with a stored JSON text, and the value to store instead."""
    if text is None:
        return [], None
    try:
        strict_json.loads(text)
        value = json.loads(text)
        found: list[dict[str, str]] = []
    except strict_json.JsonRefused as exc:
        found = list(exc.errors)
        try:
            value = json.loads(text)  # Python's reader takes NaN, duplicates...
        except ValueError:
            return found, _reshape(shape, None)
    clean, _ = strict_json.scrub(value)
    found += _shape_problems(shape, clean)
    return found, _reshape(shape, clean)


def _json_columns() -> Iterator[tuple[Table, Column[Any]]]:
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, JSON):
                yield table, column


def _scan_column(
    session: Session, table: Table, column: Column[Any], batch: int = 500
) -> Iterator[Finding]:
    pk = list(table.primary_key.columns)
    query = select(*pk, cast(column, Text).label("text")).order_by(*pk)
    shape = SHAPES.get((table.name, column.name))
    for row in session.execute(query).mappings().yield_per(batch):
        found, value = diagnose(row["text"], shape)
        if found:
            key = {c.name: row[c.name] for c in pk}
            yield Finding(table.name, key, column.name, found, value=value)


def _scan_state(session: Session) -> Iterator[Finding]:
    query = select(CASE.c.id, CASE.c.state).order_by(CASE.c.id)
    for row in session.execute(query).mappings().yield_per(100):
        found, value = diagnose(row["state"], None)
        if found:
            yield Finding("case", {"id": row["id"]}, "state", found, value=value)


def _scan_partner_numbers(session: Session) -> Iterator[Finding]:
    for row in session.execute(select(PARTNER)).mappings():
        for name in ("quality", "min_share"):
            number = row[name]
            if not (isinstance(number, int | float) and math.isfinite(number) and 0 <= number <= 1):
                problem = {"field": name, "message": f"{number!r} is not a share between 0 and 1"}
                value = readable.partner_row(row)[name]
                yield Finding("partner_org", {"id": row["id"]}, name, [problem], value=value)


def examine(ctx: AppContext) -> list[Finding]:
    """Every stored value that breaks the rule (nothing is changed)."""
    with read_session(ctx.db) as session:
        findings = [f for t, c in _json_columns() for f in _scan_column(session, t, c)]
        findings += _scan_state(session)
        findings += _scan_partner_numbers(session)
    return findings


def repair(ctx: AppContext, findings: list[Finding]) -> None:
    """Repair each finding in its own transaction, with its audit event."""
    for finding in findings:
        with write_session(ctx.db) as session:
            if finding.table == "audit_event":
                _note_audit_row(ctx, session, finding)
            elif finding.table == "case":
                _repair_case(ctx, session, finding)
            else:
                _repair_row(ctx, session, finding)
            session.commit()
        finding.repaired = finding.table != "audit_event"  # evidence: noted, not rewritten
        if finding.table == "case":
            ctx.live.clear()


def _detail(finding: Finding, **more: Any) -> dict[str, Any]:
    return {
        "table": finding.table,
        "key": {k: str(v) for k, v in finding.key.items()},
        "column": finding.column,
        "problems": finding.problems,
        **more,
    }


def _repair_case(ctx: AppContext, session: Session, finding: Finding) -> None:
    case_id = finding.key["id"]
    head = session.execute(
        select(CASE.c.audit_seq, CASE.c.audit_hash, CASE.c.lock_version)
        .where(CASE.c.id == case_id)
        .with_for_update()
    ).one()
    value = finding.value if finding.column == "data" else json.dumps(finding.value)
    event = NewEvent("data_repaired", DOCTOR, detail=_detail(finding))
    rows, sealed = build_rows(
        case_id,
        case_id,
        head.audit_seq,
        head.audit_hash,
        [event],
        ctx.now(),
        ctx.audit_keys.current(),
    )
    insert_rows(session, rows)
    session.execute(
        update(CASE)
        .where(CASE.c.id == case_id)
        .values(
            {
                finding.column: value,
                "audit_seq": sealed.seq,
                "audit_hash": sealed.hash,
                "audit_seal_key": sealed.seal_key,
                "audit_seal": sealed.seal,
                "lock_version": head.lock_version + 1,
                "updated_at": ctx.now(),
            }
        )
    )


def _repair_row(ctx: AppContext, session: Session, finding: Finding) -> None:
    table = SQLModel.metadata.tables[finding.table]
    where = [table.c[k] == v for k, v in finding.key.items()]
    session.execute(update(table).where(*where).values({finding.column: finding.value}))
    event = NewEvent("row_repaired", DOCTOR, detail=_detail(finding))
    append_system(session, [event], ctx.now())


def _note_audit_row(ctx: AppContext, session: Session, finding: Finding) -> None:
    row = session.execute(
        select(AUDIT_EVENT.c.stream, AUDIT_EVENT.c.seq).where(AUDIT_EVENT.c.id == finding.key["id"])
    ).one()
    noted = session.execute(
        select(AUDIT_EVENT.c.detail).where(
            AUDIT_EVENT.c.stream == SYSTEM_STREAM, AUDIT_EVENT.c.type == "audit_value_found"
        )
    ).scalars()
    if any(isinstance(d, dict) and d.get("event") == [row.stream, row.seq] for d in noted):
        return  # found by an earlier run: noted once
    detail = _detail(finding, event=[row.stream, row.seq], rewritten=False)
    append_system(session, [NewEvent("audit_value_found", DOCTOR, detail=detail)], ctx.now())


def run(ctx: AppContext, *, dry_run: bool) -> DoctorReport:
    findings = examine(ctx)
    if not dry_run:
        repair(ctx, findings)
    return DoctorReport(
        dry_run=dry_run,
        found=len(findings),
        repaired=sum(f.repaired for f in findings),
        findings=[f.view() for f in findings],
    )
