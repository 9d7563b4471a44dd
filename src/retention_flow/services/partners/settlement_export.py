"""A settlement statement as CSV for finance: one row per entry, traced to its case."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from retention_flow.core.clock import utc_iso
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE
from retention_flow.services.partners.settlement import entry_rows, get_statement
from retention_flow.services.platform.context import AppContext

CSV_COLUMNS = (
    "statement_id",
    "partner_id",
    "period",
    "seq",
    "status",
    "statement_hash",
    "entry_id",
    "kind",
    "case_id",
    "business_key",
    "line_id",
    "offer_code",
    "amount_cents",
    "corrects_entry_id",
    "reason",
    "created_at",
)


def export_csv(ctx: AppContext, statement_id: str) -> str:
    """The statement as CSV for finance: one row per entry, with the case's business key
    so each line can be traced to the case history."""
    statement = get_statement(ctx, statement_id)
    with read_session(ctx.db) as session:
        entries = entry_rows(session.connection(), statement_id)  # with each line's offer
        case_ids = [e["case_id"] for e in entries]
        keys = (
            dict(
                session.execute(
                    select(CASE.c.id, CASE.c.business_key).where(CASE.c.id.in_(case_ids))
                ).all()
            )
            if case_ids
            else {}
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                statement.id,
                statement.partner_id,
                statement.period,
                statement.seq,
                statement.status,
                statement.hash or "",
                e["id"],
                e["kind"],
                e["case_id"],
                keys.get(e["case_id"]) or "",
                e["line_id"] or "",
                (e["detail"] or {}).get("offer_code") or "",
                e["amount_cents"],
                e["corrects_entry_id"] or "",
                e["reason"] or "",
                utc_iso(e["created_at"]),
            ]
        )
    return out.getvalue()
