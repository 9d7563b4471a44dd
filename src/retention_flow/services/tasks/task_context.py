"""What an agent sees beside a task's form: the case data, the customer and contract from
the customer register, and the case's previous attempts (its completed tasks).

``context`` is the case data with three keys added (they win over same-named data):

* ``customer``: the register's row for ``data["customer_id"]`` (None when the case names
  no customer, or one the register does not know);
* ``contract``: that customer's product, contract age and end, monthly revenue;
* ``previous_attempts``: the case's completed tasks, newest first: element, name, who,
  when, and the values the task recorded (from the audit trail, so it is what happened,
  not what the data says now).

``eligible_offers`` is the case data's own (the offer decision writes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, CUSTOMER
from retention_flow.services.platform.context import AppContext
from retention_flow.services.steps.save import WORK
from retention_flow.services.tasks.views import Assignment, TaskEnd

#: the most previous attempts shown (a case that looped that often is an outlier)
MAX_PREVIOUS_ATTEMPTS = 20

_CUSTOMER = select(CUSTOMER).where(CUSTOMER.c.id == bindparam("b_customer"))
_ATTEMPTS = (
    select(
        AUDIT_EVENT.c.element_id,
        AUDIT_EVENT.c.task_id,
        AUDIT_EVENT.c.actor,
        AUDIT_EVENT.c.at,
        AUDIT_EVENT.c.data_after,
        WORK.c.name,
    )
    .outerjoin(WORK, WORK.c.id == AUDIT_EVENT.c.task_id)
    .where(
        and_(AUDIT_EVENT.c.case_id == bindparam("b_case"), AUDIT_EVENT.c.type == "task_completed")
    )
    .order_by(AUDIT_EVENT.c.seq.desc())
    .limit(MAX_PREVIOUS_ATTEMPTS)
)


def task_context(session: Session, case_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    conn = session.connection()
    customer_id = data.get("customer_id")
    row = None
    if isinstance(customer_id, str) and customer_id:
        row = conn.execute(_CUSTOMER, {"b_customer": customer_id}).mappings().first()
    attempts = [
        {
            "element_id": a.element_id,
            "name": a.name,
            "task_id": a.task_id,
            "completed_by": a.actor,
            "completed_at": utc_iso(a.at),
            "recorded": a.data_after or {},
        }
        for a in conn.execute(_ATTEMPTS, {"b_case": case_id})
    ]
    return {
        **data,
        "customer": _customer(row),
        "contract": _contract(row),
        "previous_attempts": attempts,
    }


def _customer(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = ("id", "name", "region", "tenure_months", "churn_risk")
    return {k: row[k] for k in keys}


def _contract(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "product": row["product"],
        "contract_age_months": row["contract_age_months"],
        "contract_end": row["contract_end"].isoformat(),
        "monthly_revenue_cents": row["monthly_revenue_cents"],
    }


_END = select(WORK.c.state, WORK.c.ended_by, WORK.c.ended_at, WORK.c.claimed_by).where(
    WORK.c.id == bindparam("b_task")
)


def task_end(ctx: AppContext, task_id: str) -> TaskEnd:
    """Who ended a task and when (``ended_by``/``ended_at`` None while it is open), with its
    state and claimant: what a page says when a task can no longer be completed."""
    with read_session(ctx.db) as session:
        row = session.connection().execute(_END, {"b_task": task_id}).mappings().first()
    if row is None:
        return TaskEnd(state=None, ended_by=None, ended_at=None, claimed_by=None)
    ended = row["ended_at"]
    return TaskEnd(
        state=row["state"],
        ended_by=row["ended_by"],
        ended_at=utc_iso(ended) if ended is not None else None,
        claimed_by=row["claimed_by"],
    )


_ASSIGNED = (
    select(AUDIT_EVENT.c.actor, AUDIT_EVENT.c.at, AUDIT_EVENT.c.detail)
    .where(
        and_(
            AUDIT_EVENT.c.case_id == bindparam("b_case"),
            AUDIT_EVENT.c.task_id == bindparam("b_task"),
            AUDIT_EVENT.c.type == "task_assigned",
        )
    )
    .order_by(AUDIT_EVENT.c.seq.desc())
    .limit(1)
)


def last_assignment(ctx: AppContext, case_id: str, task_id: str) -> Assignment | None:
    """The latest reassignment of a task: by whom, when, to whom and why (None if never)."""
    params = {"b_case": case_id, "b_task": task_id}
    with read_session(ctx.db) as session:
        row = session.connection().execute(_ASSIGNED, params).first()
    if row is None:
        return None
    detail = row.detail if isinstance(row.detail, dict) else {}
    return Assignment(
        by=row.actor,
        at=utc_iso(row.at),
        assignee=detail.get("assignee"),
        reason=detail.get("reason"),
    )
