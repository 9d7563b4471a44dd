"""Partner settlement: monthly commission statements from validated retentions only.

``run_settlement`` takes the period's ``settlement_line`` rows (one per retained case,
written by the sales-partner process) and puts each one that checks out on the partner's
draft statement: the case ended ``retained``, its claim was validated (``validate_claim``
completed with ``claim_valid`` by someone other than the partner's reporter: four-eyes, read
from the audit trail), and the line's partner is the case's allocated partner. A case is
paid at most once (``pay_key`` is unique). Lines that do not check out are reported with
the reason and stay unpaid.

``approve_statement`` freezes a statement: its hash (sha256 over the canonical entries)
goes into the audit trail; nothing changes an approved statement afterwards. A correction
is a new entry referencing the corrected one, on the partner's next open statement.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from retention_flow.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import SETTLEMENT_ENTRY, SETTLEMENT_LINE, SETTLEMENT_STATEMENT
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.partners.settlement_checks import line_problem
from retention_flow.services.partners.views import (
    EntryView,
    SettlementRunView,
    StatementDetailView,
    StatementView,
)
from retention_flow.services.platform.context import Actor, AppContext

STATEMENT = SETTLEMENT_STATEMENT
ENTRY = SETTLEMENT_ENTRY


def period_bounds(period: str) -> tuple[date, date]:
    """``"2026-01"`` -> (2026-01-01, 2026-02-01)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = date(year, month, 1)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"period '{period}' is not YYYY-MM", errors=[{"field": "period", "message": "YYYY-MM"}]
        ) from exc
    end = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return start, end


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _open_statement(
    conn: Connection, actor: str, partner_id: str, period: str, now: datetime
) -> dict[str, Any]:
    rows = list(
        conn.execute(
            select(STATEMENT)
            .where(and_(STATEMENT.c.partner_id == partner_id, STATEMENT.c.period == period))
            .order_by(STATEMENT.c.seq.desc())
            .with_for_update()
        ).mappings()
    )
    if rows and rows[0]["status"] == "draft":
        return dict(rows[0])
    start, end = period_bounds(period)
    row = {
        "id": str(uuid.uuid4()),
        "partner_id": partner_id,
        "period": period,
        "period_start": start,
        "period_end": end,
        "seq": (rows[0]["seq"] + 1) if rows else 1,
        "status": "draft",
        "total_cents": 0,
        "entry_count": 0,
        "hash": None,
        "created_by": actor,
        "created_at": now,
        "approved_by": None,
        "approved_at": None,
    }
    conn.execute(insert(STATEMENT).values(**row))
    return row


def _add_entry(conn: Connection, statement: dict[str, Any], entry: dict[str, Any]) -> None:
    conn.execute(insert(ENTRY).values(statement_id=statement["id"], **entry))
    conn.execute(
        update(STATEMENT)
        .where(and_(STATEMENT.c.id == statement["id"], STATEMENT.c.status == "draft"))
        .values(
            total_cents=STATEMENT.c.total_cents + entry["amount_cents"],
            entry_count=STATEMENT.c.entry_count + 1,
        )
    )


def run_settlement(
    ctx: AppContext, actor: Actor, period: str, partner_id: str | None = None
) -> SettlementRunView:
    """Put the period's unpaid, validated lines on draft statements; report the rest."""
    start, end = period_bounds(period)
    now = ctx.now()
    added: dict[str, int] = {}
    rejected: list[dict[str, Any]] = []
    with write_session(ctx.db) as session:
        conn = session.connection()
        paid = select(ENTRY.c.pay_key)
        query = (
            select(SETTLEMENT_LINE)
            .where(
                and_(
                    SETTLEMENT_LINE.c.created_at >= _at(start),
                    SETTLEMENT_LINE.c.created_at < _at(end),
                    ("case:" + SETTLEMENT_LINE.c.case_id).not_in(paid),
                )
            )
            .order_by(SETTLEMENT_LINE.c.created_at, SETTLEMENT_LINE.c.id)
        )
        if partner_id is not None:
            query = query.where(SETTLEMENT_LINE.c.partner_id == partner_id)
        statements: dict[str, dict[str, Any]] = {}
        for line in conn.execute(query).all():
            problem = line_problem(conn, line)
            if problem is not None:
                rejected.append({"line_id": line.id, "case_id": line.case_id, "reason": problem})
                continue
            statement = statements.get(line.partner_id)
            if statement is None:
                statement = _open_statement(conn, actor.username, line.partner_id, period, now)
                statements[line.partner_id] = statement
            _add_entry(
                conn,
                statement,
                {
                    "id": str(uuid.uuid4()),
                    "pay_key": f"case:{line.case_id}",
                    "kind": "commission",
                    "line_id": line.id,
                    "case_id": line.case_id,
                    "partner_id": line.partner_id,
                    "amount_cents": line.commission_cents,
                    "corrects_entry_id": None,
                    "reason": None,
                    "detail": {"offer_code": line.offer_code, **(line.detail or {})},
                    "created_by": actor.username,
                    "created_at": now,
                },
            )
            added[line.partner_id] = added.get(line.partner_id, 0) + 1
        append_system(
            session,
            [
                NewEvent(
                    "settlement_run",
                    actor.username,
                    detail={
                        "period": period,
                        "partner_id": partner_id,
                        "added": added,
                        "statements": {p: s["id"] for p, s in statements.items()},
                        "rejected": rejected,
                    },
                )
            ],
            now,
        )
        session.commit()
    return SettlementRunView(
        period=period,
        added=added,
        statements=[get_statement(ctx, s["id"]) for s in statements.values()],
        rejected=rejected,
    )


def entry_rows(conn: Connection, statement_id: str) -> list[dict[str, Any]]:
    """A statement's entries as stored (with each line's ``detail``), oldest first."""
    return [
        dict(r)
        for r in conn.execute(
            select(ENTRY)
            .where(ENTRY.c.statement_id == statement_id)
            .order_by(ENTRY.c.created_at, ENTRY.c.id)
        ).mappings()
    ]


def statement_hash(statement: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """sha256 over the statement's identity and its entries (canonical JSON)."""
    body = {
        "id": statement["id"],
        "partner_id": statement["partner_id"],
        "period": statement["period"],
        "seq": statement["seq"],
        "total_cents": sum(e["amount_cents"] for e in entries),
        "entries": sorted(
            (
                {
                    "id": e["id"],
                    "kind": e["kind"],
                    "line_id": e["line_id"],
                    "case_id": e["case_id"],
                    "amount_cents": e["amount_cents"],
                    "corrects_entry_id": e["corrects_entry_id"],
                    "reason": e["reason"],
                }
                for e in entries
            ),
            key=lambda e: str(e["id"]),
        ),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def approve_statement(ctx: AppContext, actor: Actor, statement_id: str) -> StatementDetailView:
    """Freeze a draft statement; its hash goes into the audit trail."""
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        row = (
            conn.execute(select(STATEMENT).where(STATEMENT.c.id == statement_id).with_for_update())
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"statement {statement_id} not found")
        if row["status"] != "draft":
            raise Conflict(f"statement {statement_id} is already {row['status']}")
        if row["created_by"] == actor.username:
            raise Forbidden(
                f"four eyes: {actor.username} ran statement {statement_id}, so someone else "
                "must approve it"
            )
        entries = entry_rows(conn, statement_id)
        digest = statement_hash(dict(row), entries)
        total = sum(e["amount_cents"] for e in entries)
        conn.execute(
            update(STATEMENT)
            .where(and_(STATEMENT.c.id == statement_id, STATEMENT.c.status == "draft"))
            .values(
                status="approved",
                hash=digest,
                total_cents=total,
                entry_count=len(entries),
                approved_by=actor.username,
                approved_at=now,
            )
        )
        append_system(
            session,
            [
                NewEvent(
                    "settlement_approved",
                    actor.username,
                    detail={
                        "statement_id": statement_id,
                        "partner_id": row["partner_id"],
                        "period": row["period"],
                        "seq": row["seq"],
                        "total_cents": total,
                        "entries": len(entries),
                        "hash": digest,
                    },
                )
            ],
            now,
        )
        session.commit()
    return get_statement(ctx, statement_id)


def correct_entry(
    ctx: AppContext, actor: Actor, entry_id: str, amount_cents: int, reason: str
) -> dict[str, Any]:
    """Book a correction (``amount_cents`` is the difference, e.g. negative to reverse)
    referencing ``entry_id``, on the partner's open statement of the entry's period."""
    if not reason.strip():
        raise ValidationFailed("a correction needs a reason", errors=[{"field": "reason"}])
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        old = (
            conn.execute(
                select(ENTRY, STATEMENT.c.period)
                .join(STATEMENT, STATEMENT.c.id == ENTRY.c.statement_id)
                .where(ENTRY.c.id == entry_id)
            )
            .mappings()
            .first()
        )
        if old is None:
            raise NotFound(f"settlement entry {entry_id} not found")
        statement = _open_statement(conn, actor.username, old["partner_id"], old["period"], now)
        correction_id = str(uuid.uuid4())
        entry = {
            "id": correction_id,
            "pay_key": f"correction:{correction_id}",
            "kind": "correction",
            "line_id": old["line_id"],
            "case_id": old["case_id"],
            "partner_id": old["partner_id"],
            "amount_cents": int(amount_cents),
            "corrects_entry_id": entry_id,
            "reason": reason,
            "detail": {},
            "created_by": actor.username,
            "created_at": now,
        }
        _add_entry(conn, statement, entry)
        append_system(
            session,
            [
                NewEvent(
                    "settlement_corrected",
                    actor.username,
                    detail={
                        "entry_id": correction_id,
                        "corrects_entry_id": entry_id,
                        "statement_id": statement["id"],
                        "amount_cents": int(amount_cents),
                        "reason": reason,
                    },
                )
            ],
            now,
        )
        session.commit()
    return entry | {"statement_id": statement["id"]}


def get_statement(ctx: AppContext, statement_id: str) -> StatementDetailView:
    with read_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(select(STATEMENT).where(STATEMENT.c.id == statement_id)).mappings()
        found = row.first()
        if found is None:
            raise NotFound(f"statement {statement_id} not found")
        statement = dict(found)
        entries = entry_rows(conn, statement_id)
    hash_ok = None
    if statement["status"] == "approved":
        hash_ok = statement_hash(statement, entries) == statement["hash"]
    return StatementDetailView.of(
        statement, entries=[EntryView.of(e) for e in entries], hash_ok=hash_ok
    )


def list_statements(
    ctx: AppContext, *, period: str | None = None, partner_id: str | None = None
) -> list[StatementView]:
    query = select(STATEMENT).order_by(STATEMENT.c.period, STATEMENT.c.partner_id, STATEMENT.c.seq)
    if period is not None:
        query = query.where(STATEMENT.c.period == period)
    if partner_id is not None:
        query = query.where(STATEMENT.c.partner_id == partner_id)
    with read_session(ctx.db) as session:
        return [StatementView.of(r) for r in session.execute(query).mappings()]


def paid_cents(ctx: AppContext, case_id: str) -> int:
    """What a case has earned its partner across every statement (corrections included)."""
    with read_session(ctx.db) as session:
        total = session.execute(
            select(func.coalesce(func.sum(ENTRY.c.amount_cents), 0)).where(
                ENTRY.c.case_id == case_id
            )
        ).scalar_one()
    return int(total)
