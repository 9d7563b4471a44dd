"""Daily outbound campaigns: the campaign process's timer fires each day, its service
task queues a batch job (in the step's transaction), and the worker runs the job: it
picks the customers most at risk who have no open case and starts an outbound case for
each, idempotently (a re-run of the job starts nobody twice)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, insert, select

from ..core.errors import ScriptError
from ..db.tables import CASE, CASE_KEY, CUSTOMER, JOB
from . import cases
from .context import Actor, AppContext
from .handlers import current_step

RISK_LEVELS = ("low", "medium", "high")
CAMPAIGN_PROCESS = "outbound_telemarketing"
CAMPAIGN_ACTOR = Actor("campaign", frozenset({"system", "agent"}))


def enqueue_campaign_batch(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Service task: queue today's batch (once per campaign case and day)."""
    step = current_step()
    risk = str(params.get("min_churn_risk") or "high")
    if risk not in RISK_LEVELS:
        raise ScriptError(f"min_churn_risk must be one of {', '.join(RISK_LEVELS)}")
    size = int(params.get("batch_size") or 200)
    if not 1 <= size <= 10_000:
        raise ScriptError("batch_size must be between 1 and 10000")
    day = step.now.date().isoformat()
    job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"campaign:{step.case_id}:{day}"))
    conn = step.connection()
    if conn.execute(select(JOB.c.id).where(JOB.c.id == job_id)).first() is None:
        conn.execute(
            insert(JOB).values(
                id=job_id,
                kind="campaign_batch",
                payload={
                    "campaign": str(params.get("campaign") or "campaign"),
                    "day": day,
                    "batch_size": size,
                    "min_churn_risk": risk,
                },
                state="queued",
                run_at=step.now,
                attempts=0,
                max_attempts=5,
                created_at=step.now,
            )
        )
    return {"status": "queued", "job_id": job_id, "day": day}


def run_campaign_batch(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Job: start outbound cases for the riskiest customers without an open case."""
    levels = RISK_LEVELS[RISK_LEVELS.index(payload["min_churn_risk"]) :]
    open_case_customers = (
        select(CASE_KEY.c.value)
        .join(CASE, CASE.c.id == CASE_KEY.c.case_id)
        .where(and_(CASE_KEY.c.key == "customer_id", CASE.c.status.in_(("active", "incident"))))
    )
    query = (
        select(CUSTOMER)
        .where(and_(CUSTOMER.c.churn_risk.in_(levels), CUSTOMER.c.id.not_in(open_case_customers)))
        .order_by(CUSTOMER.c.contract_end, CUSTOMER.c.id)
        .limit(int(payload["batch_size"]))
    )
    with ctx.db.connect() as conn:
        customers = [dict(r) for r in conn.execute(query).mappings()]
    for customer in customers:
        key = f"{payload['campaign']}:{payload['day']}:{customer['id']}"
        data = {
            "customer_id": customer["id"],
            "case_number": f"RC-{payload['day'].replace('-', '')}-{customer['id']}",
            "customer_name": customer["name"],
            "tenure_months": customer["tenure_months"],
            "monthly_revenue_cents": customer["monthly_revenue_cents"],
            "contract_end": customer["contract_end"].isoformat(),
            "churn_risk": customer["churn_risk"],
            "product": customer["product"],
            "region": customer["region"],
            "contract_age_months": customer["contract_age_months"],
            "campaign": payload["campaign"],
        }
        cases.start_case(ctx, CAMPAIGN_ACTOR, CAMPAIGN_PROCESS, data, idempotency_key=key)
