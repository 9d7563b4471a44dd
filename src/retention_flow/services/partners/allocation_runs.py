"""Lead allocation runs: which sales partner gets which lead.

Every allocation run (the API's, the CLI's, and the sales-partner process's allocation
step) is written to the audit trail with its inputs and its answer, so an auditor can see
why a lead went where. Capacity left is the partner's monthly capacity minus this month's
allocations (``services/partners/organisations.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from retention_flow.core.errors import Conflict, ValidationFailed
from retention_flow.db.session import write_session
from retention_flow.db.tables import LEAD_ALLOCATION, PARTNER
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.partners.allocation import (
    AllocationResult,
    Lead,
    PartnerOffer,
    allocate,
)
from retention_flow.services.partners.organisations import month_start, used_since
from retention_flow.services.partners.views import AllocationView
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import Actor, AppContext


def offers(
    conn: Connection, now: datetime, ids: Sequence[str] | None = None, *, lock: bool = False
) -> list[PartnerOffer]:
    """Active partners as the solver sees them, with the capacity left this month."""
    query = select(PARTNER).where(PARTNER.c.active.is_(True)).order_by(PARTNER.c.id)
    if ids is not None:
        query = query.where(PARTNER.c.id.in_(list(ids)))
    if lock:
        query = query.with_for_update()
    rows = [readable.partner_row(r) for r in conn.execute(query).mappings()]
    used = used_since(conn, month_start(now), [r["id"] for r in rows])
    return [
        PartnerOffer(
            id=r["id"],
            capacity=max(0, r["capacity_per_period"] - used.get(r["id"], 0)),
            cost_per_lead_cents=r["cost_per_lead_cents"],
            quality=float(r["quality"]),
            products=frozenset(r["products"] or ()),
            regions=frozenset(r["regions"] or ()),
            min_contract_age_months=r["min_contract_age_months"],
            max_contract_age_months=r["max_contract_age_months"],
            min_share=float(r["min_share"] or 0.0),
        )
        for r in rows
    ]


def lead_from(data: dict[str, Any], lead_id: str) -> Lead:
    """A lead from case data (or an API body): value = 12 months of revenue by default."""
    try:
        eligible = data.get("eligible_partners")
        value = data.get("value_cents")
        if value is None:
            value = 12 * int(data.get("monthly_revenue_cents") or 0)
        return Lead(
            id=lead_id,
            product=str(data.get("product") or ""),
            region=str(data.get("region") or ""),
            contract_age_months=int(data.get("contract_age_months") or 0),
            value_cents=int(value),
            eligible=frozenset(str(p) for p in eligible) if eligible is not None else None,
        )
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"lead {lead_id}: {exc}") from exc


def _offer_snapshot(partners: Sequence[PartnerOffer]) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "remaining_capacity": p.capacity,
            "cost_per_lead_cents": p.cost_per_lead_cents,
            "quality": p.quality,
            "products": sorted(p.products),
            "regions": sorted(p.regions),
            "min_contract_age_months": p.min_contract_age_months,
            "max_contract_age_months": p.max_contract_age_months,
            "min_share": p.min_share,
        }
        for p in partners
    ]


def _lead_snapshot(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "product": lead.product,
        "region": lead.region,
        "contract_age_months": lead.contract_age_months,
        "value_cents": lead.value_cents,
        "eligible": sorted(lead.eligible) if lead.eligible is not None else None,
    }


def allocate_leads(
    ctx: AppContext,
    actor: Actor,
    leads: Sequence[dict[str, Any]],
    *,
    method: str = "milp",
    dry_run: bool = False,
) -> AllocationView:
    """Allocate a batch of leads (``{"lead_id", "product", "region", "contract_age_months",
    "value_cents" | "monthly_revenue_cents", "eligible_partners"?, "case_id"?}``) to the
    partners' remaining capacity; record the allocations (unless ``dry_run``) and audit
    the run with its inputs, in one transaction."""
    if method not in ("milp", "greedy"):
        raise ValidationFailed(f"unknown method '{method}'", errors=[{"field": "method"}])
    parsed = [lead_from(item, str(item.get("lead_id") or "")) for item in leads]
    if any(not lead.id for lead in parsed):
        raise ValidationFailed("every lead needs a lead_id", errors=[{"field": "lead_id"}])
    now = ctx.now()
    run_id = str(uuid.uuid4())
    with write_session(ctx.db) as session:
        conn = session.connection()
        partners = offers(conn, now, lock=not dry_run)
        known = (
            set(
                conn.execute(
                    select(LEAD_ALLOCATION.c.lead_id).where(
                        LEAD_ALLOCATION.c.lead_id.in_([lead.id for lead in parsed])
                    )
                ).scalars()
            )
            if parsed
            else set()
        )
        if known:
            raise Conflict(f"leads already allocated: {', '.join(sorted(known)[:10])}")
        try:
            result = allocate(parsed, partners, method=method)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
        cases = {str(item.get("lead_id")): item.get("case_id") for item in leads}
        scores = {p.id: p for p in partners}
        by_id = {lead.id: lead for lead in parsed}
        if not dry_run and result.assignments:
            rows = [
                {
                    "id": str(uuid.uuid4()),
                    "lead_id": lead_id,
                    "case_id": cases.get(lead_id),
                    "run_id": run_id,
                    "partner_id": partner_id,
                    "score_cents": round(scores[partner_id].score(by_id[lead_id])),
                    "allocated_by": actor.username,
                    "allocated_at": now,
                }
                for lead_id, partner_id in result.assignments.items()
            ]
            for start in range(0, len(rows), 2000):
                conn.execute(insert(LEAD_ALLOCATION), rows[start : start + 2000])
        answer = AllocationView(run_id=run_id, dry_run=dry_run, **result.as_dict())
        append_system(
            session,
            [_run_event(actor.username, run_id, parsed, partners, result, dry_run)],
            now,
        )
        try:
            session.commit()
        except IntegrityError as exc:
            raise Conflict("some leads were allocated meanwhile; run again") from exc
    return answer


def _run_event(
    actor: str,
    run_id: str,
    leads: Sequence[Lead],
    partners: Sequence[PartnerOffer],
    result: AllocationResult,
    dry_run: bool,
    case_id: str | None = None,
) -> NewEvent:
    return NewEvent(
        "partners_allocated",
        actor,
        detail={
            "run_id": run_id,
            "case_id": case_id,
            "dry_run": dry_run,
            "inputs": {
                "leads": [_lead_snapshot(lead) for lead in leads],
                "partners": _offer_snapshot(partners),
            },
            **result.as_dict(),
        },
    )


def allocate_case_lead(
    conn: Connection,
    *,
    case_id: str,
    actor: str,
    now: datetime,
    data: dict[str, Any],
    eligible: list[str],
    exclude: set[str],
) -> tuple[dict[str, Any], NewEvent] | None:
    """The sales-partner step's allocation, on the step's connection.

    None when the partner table is empty (no master data yet: the caller keeps the rules'
    order). Idempotent: the case's n-th allocation (n = partners tried) is stored under
    ``<case id>#<n>`` and found again when the step is retried.
    """
    lead_id = f"{case_id}#{len(exclude)}"
    found = conn.execute(
        select(LEAD_ALLOCATION.c.partner_id).where(LEAD_ALLOCATION.c.lead_id == lead_id)
    ).scalar_one_or_none()
    if found is not None:
        return {"partner_id": found, "reason": None, "solver": "recorded"}, NewEvent(
            "partner_allocation_reused", actor, detail={"lead_id": lead_id, "partner_id": found}
        )
    if conn.execute(select(func.count()).select_from(PARTNER)).scalar_one() == 0:
        return None
    candidates = [p for p in dict.fromkeys(eligible) if p not in exclude]
    partners = offers(conn, now, candidates, lock=True)
    lead = lead_from({**data, "eligible_partners": candidates}, lead_id)
    result = allocate([lead], partners, method="greedy")  # one lead: greedy is exact
    choice = result.assignments.get(lead_id)
    reason = None
    if choice is None:
        unknown = sorted(set(candidates) - {p.id for p in partners})
        reason = (
            "no eligible partner"
            if not eligible
            else "all eligible partners tried"
            if not candidates
            else result.unassigned.get(lead_id, "no partner")
            + (f"; not in the partner table or inactive: {', '.join(unknown)}" if unknown else "")
        )
    else:
        conn.execute(
            insert(LEAD_ALLOCATION).values(
                id=str(uuid.uuid4()),
                lead_id=lead_id,
                case_id=case_id,
                run_id=str(uuid.uuid4()),
                partner_id=choice,
                score_cents=round(next(p for p in partners if p.id == choice).score(lead)),
                allocated_by=actor,
                allocated_at=now,
            )
        )
    event = _run_event(actor, lead_id, [lead], partners, result, False, case_id)
    event.detail = {**(event.detail or {}), "excluded": sorted(exclude), "reason": reason}
    return {"partner_id": choice, "reason": reason, "solver": result.solver}, event
