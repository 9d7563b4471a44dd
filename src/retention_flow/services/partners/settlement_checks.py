"""Whether a settlement line may be paid: the case ended retained, its allocated partner
is the line's, and its claim was validated as valid by someone other than the partner's
reporter (four-eyes, read from the audit trail)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select

from retention_flow.db.tables import AUDIT_EVENT, CASE


def line_problem(conn: Connection, line: Any) -> str | None:
    """Why a settlement line must not be paid (None: it may)."""
    case = conn.execute(
        select(CASE.c.status, CASE.c.outcome, CASE.c.data).where(CASE.c.id == line.case_id)
    ).first()
    if case is None:
        return "case not found"
    if case.status != "completed" or case.outcome != "retained":
        return f"case is {case.status} with outcome {case.outcome}, not retained"
    if (case.data or {}).get("allocated_partner") != line.partner_id:
        return "the line's partner is not the case's allocated partner"
    completions = conn.execute(
        select(AUDIT_EVENT.c.element_id, AUDIT_EVENT.c.actor, AUDIT_EVENT.c.data_after)
        .where(
            and_(
                AUDIT_EVENT.c.stream == line.case_id,
                AUDIT_EVENT.c.type == "task_completed",
                AUDIT_EVENT.c.element_id.in_(("work_lead", "validate_claim")),
            )
        )
        .order_by(AUDIT_EVENT.c.seq)
    ).all()
    reporters = {c.actor for c in completions if c.element_id == "work_lead"}
    validations = [c for c in completions if c.element_id == "validate_claim"]
    if not validations:
        return "the claim was never validated"
    last = validations[-1]
    if (last.data_after or {}).get("claim_valid") is not True:
        return "the claim was not validated as valid"
    if last.actor in reporters:
        return "the claim was validated by its own reporter (four-eyes)"
    return None
