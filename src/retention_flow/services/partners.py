"""Sales-partner organisations and lead allocation runs.

Capacity is per calendar month (UTC): a partner's remaining capacity is its
``capacity_per_period`` minus the ``lead_allocation`` rows of the month. Every allocation
run (the API's, the CLI's, and the sales-partner process's allocation step) is written to
the audit trail with its inputs and its answer, so an auditor can see why a lead went where.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..core.errors import Conflict, NotFound, ValidationFailed
from ..db.json_sql import json_text
from ..db.session import read_session, write_session
from ..db.tables import CASE, LEAD_ALLOCATION, PARTNER
from . import readable
from .allocation import AllocationResult, Lead, PartnerOffer, allocate
from .audit import NewEvent, append_system
from .context import Actor, AppContext
from .partner_rules import validate_partner

#: outcomes of leads a partner actually worked (not: no partner, lost to its SLA)
WORKED_OUTCOMES = ("retained", "lost", "claim_rejected")
PARTNER_FIELDS = (
    "name",
    "capacity_per_period",
    "products",
    "regions",
    "min_contract_age_months",
    "max_contract_age_months",
    "cost_per_lead_cents",
    "commission_cents",
    "quality",
    "min_share",
    "active",
)


def month_start(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def save_partner(ctx: AppContext, actor: Actor, partner_id: str, values: dict[str, Any]) -> dict:
    """Create a partner, or change the given fields of an existing one (audited)."""
    values = {k: v for k, v in values.items() if k in PARTNER_FIELDS}
    validate_partner(values)
    now = ctx.now()
    with write_session(ctx.db) as session:
        row = (
            session.execute(select(PARTNER).where(PARTNER.c.id == partner_id).with_for_update())
            .mappings()
            .first()
        )
        if row is None:
            missing = [
                f
                for f in ("name", "capacity_per_period", "cost_per_lead_cents", "commission_cents")
                if f not in values
            ]
            if missing:
                raise ValidationFailed(
                    "a new partner needs " + ", ".join(missing),
                    errors=[{"field": f, "message": "required"} for f in missing],
                )
            new = {
                "products": [],
                "regions": [],
                "min_contract_age_months": None,
                "max_contract_age_months": None,
                "quality": 0.3,
                "min_share": 0.0,
                "active": True,
                **values,
                "id": partner_id,
                "created_at": now,
                "updated_at": now,
            }
            session.execute(insert(PARTNER).values(**new))
            before: dict[str, Any] = {}
            after = {k: new[k] for k in PARTNER_FIELDS}
            created = True
        else:
            before = {k: row[k] for k in values if row[k] != values[k]}
            after = {k: values[k] for k in before}
            if after:
                session.execute(
                    update(PARTNER)
                    .where(PARTNER.c.id == partner_id)
                    .values(**after, updated_at=now)
                )
            created = False
        if created or after:
            append_system(
                session,
                [
                    NewEvent(
                        "partner_saved",
                        actor.username,
                        data_before=before or None,
                        data_after=after,
                        detail={"partner_id": partner_id, "created": created},
                    )
                ],
                now,
            )
        session.commit()
    return {**get_partner(ctx, partner_id), "created": created}


def _used(conn: Connection, since: datetime, ids: Iterable[str] | None = None) -> dict[str, int]:
    query = (
        select(LEAD_ALLOCATION.c.partner_id, func.count())
        .where(LEAD_ALLOCATION.c.allocated_at >= since)
        .group_by(LEAD_ALLOCATION.c.partner_id)
    )
    if ids is not None:
        query = query.where(LEAD_ALLOCATION.c.partner_id.in_(list(ids)))
    return {str(r[0]): int(r[1]) for r in conn.execute(query)}


def _view(row: Any, used: int) -> dict[str, Any]:
    out = readable.partner_row(row)
    out["used_this_period"] = used
    out["remaining_capacity"] = max(0, out["capacity_per_period"] - used)
    return out


def list_partners(ctx: AppContext, *, limit: int = 100, offset: int = 0) -> tuple[list, int]:
    with read_session(ctx.db) as session:
        conn = session.connection()
        rows = conn.execute(
            select(PARTNER).order_by(PARTNER.c.id).limit(limit).offset(offset)
        ).mappings()
        used = _used(conn, month_start(ctx.now()))
        data = [_view(r, used.get(r["id"], 0)) for r in rows]
        total = int(conn.execute(select(func.count()).select_from(PARTNER)).scalar_one())
    return data, total


def get_partner(ctx: AppContext, partner_id: str) -> dict[str, Any]:
    with read_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(select(PARTNER).where(PARTNER.c.id == partner_id)).mappings().first()
        if row is None:
            raise NotFound(f"partner {partner_id} not found")
        used = _used(conn, month_start(ctx.now()), [partner_id])
        return _view(row, used.get(partner_id, 0))


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
    used = _used(conn, month_start(now), [r["id"] for r in rows])
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
) -> dict[str, Any]:
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
        answer = {"run_id": run_id, "dry_run": dry_run, **result.as_dict()}
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


def commission_of(conn: Connection, partner_id: str) -> int | None:
    return conn.execute(
        select(PARTNER.c.commission_cents).where(PARTNER.c.id == partner_id)
    ).scalar_one_or_none()


def refresh_quality(ctx: AppContext, actor: Actor, prior: float = 0.3, weight: int = 20) -> dict:
    """Learn each partner's quality from its ended leads: retained and validated claims
    over all leads it worked (smoothed towards ``prior`` with ``weight`` pseudo-leads)."""
    partner_col = json_text(CASE.c.data, "allocated_partner")
    with write_session(ctx.db) as session:
        rows = session.execute(
            select(partner_col, CASE.c.outcome, func.count())
            .where(and_(CASE.c.process_id == "sales_partner", CASE.c.status == "completed"))
            .group_by(partner_col, CASE.c.outcome)
        ).all()
        stats: dict[str, dict[str, int]] = {}
        for partner_id, outcome, count in rows:
            if partner_id:
                stats.setdefault(partner_id, {})[str(outcome)] = int(count)
        changed = {}
        for partner_id, outcomes in stats.items():
            worked = sum(v for k, v in outcomes.items() if k in WORKED_OUTCOMES)
            retained = outcomes.get("retained", 0)
            quality = round((retained + prior * weight) / (worked + weight), 4)
            result = session.connection().execute(
                update(PARTNER).where(PARTNER.c.id == partner_id).values(quality=quality)
            )
            if result.rowcount:
                changed[partner_id] = {"quality": quality, "worked": worked, "retained": retained}
        if changed:
            append_system(
                session,
                [NewEvent("partner_quality_refreshed", actor.username, detail=changed)],
                ctx.now(),
            )
        session.commit()
    return changed
