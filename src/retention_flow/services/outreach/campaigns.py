"""Daily outbound campaigns: the campaign process's timer fires each day, its service
task queues a batch job (in the step's transaction), and the worker runs the job: it
picks the customers most at risk who have no open case and starts an outbound case for
each. A batch starts exactly its size, whenever its worker dies: each start records its
slot in the case's own transaction, and a re-run only fills the free slots."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import Select, and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core.errors import ScriptError
from retention_flow.db.tables import CAMPAIGN_START, CASE, CASE_KEY, CUSTOMER, JOB
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.operators import RISK_LEVELS
from retention_flow.services.steps.scope import current_step

CAMPAIGN_PROCESS = "outbound_telemarketing"
CAMPAIGN_ACTOR = Actor("campaign", frozenset({"system", "agent"}))

log = logging.getLogger(__name__)


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
                    "batch": job_id,
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
    """Job: start outbound cases for the riskiest customers without an open case, exactly
    ``batch_size`` of them (fewer only when fewer customers qualify).

    Each start writes its ``campaign_start`` row (batch, slot, customer) in the case's own
    transaction, so the rows are exactly the cases started: a run after the worker died
    at any moment fills only the free slots. Two runs of one batch at once (a lease that
    ran out on a slow worker) collide on a slot or a customer; the loser's start rolls
    back and it looks again.
    """
    batch = str(payload.get("batch") or f"{payload['campaign']}:{payload['day']}")
    size = int(payload["batch_size"])
    for _round in range(2 * size + 2):  # a round starts a case, or another run did
        with ctx.db.connect() as conn:
            taken = set(
                conn.execute(
                    select(CAMPAIGN_START.c.slot).where(CAMPAIGN_START.c.batch_id == batch)
                ).scalars()
            )
            free = [slot for slot in range(size) if slot not in taken]
            if not free:
                return
            customers = [
                dict(r)
                for r in conn.execute(_candidates(payload, batch).limit(len(free))).mappings()
            ]
        if not customers:
            log.info(
                "campaign batch %s: %d of %d started, no one else qualifies",
                batch,
                len(taken),
                size,
            )
            return
        try:
            for slot, customer in zip(free, customers, strict=False):
                _start_in_slot(ctx, payload, batch, slot, customer)
        except IntegrityError:  # another run took this slot or customer: look again
            log.info("campaign batch %s: a concurrent run took a slot, looking again", batch)


def _candidates(payload: dict[str, Any], batch: str) -> Select[Any]:
    """Customers at the batch's risk level or above, with no open case and not yet
    started by this batch, most urgent first."""
    levels = RISK_LEVELS[RISK_LEVELS.index(payload["min_churn_risk"]) :]
    open_case_customers = (
        select(CASE_KEY.c.value)
        .join(CASE, CASE.c.id == CASE_KEY.c.case_id)
        .where(and_(CASE_KEY.c.key == "customer_id", CASE.c.status.in_(("active", "incident"))))
    )
    in_batch = select(CAMPAIGN_START.c.customer_id).where(CAMPAIGN_START.c.batch_id == batch)
    return (
        select(CUSTOMER)
        .where(
            and_(
                CUSTOMER.c.churn_risk.in_(levels),
                CUSTOMER.c.id.not_in(open_case_customers),
                CUSTOMER.c.id.not_in(in_batch),
            )
        )
        .order_by(CUSTOMER.c.contract_end, CUSTOMER.c.id)
    )


def _start_in_slot(
    ctx: AppContext, payload: dict[str, Any], batch: str, slot: int, customer: dict[str, Any]
) -> None:
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

    def record(session: Session, case: CaseView) -> None:
        session.execute(
            insert(CAMPAIGN_START).values(
                batch_id=batch,
                slot=slot,
                customer_id=customer["id"],
                case_id=case.id,
                started_at=ctx.now(),
            )
        )

    cases.start_case(ctx, CAMPAIGN_ACTOR, CAMPAIGN_PROCESS, data, before_commit=record)
