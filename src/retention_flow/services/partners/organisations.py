"""Sales-partner organisations: master data, capacity used this month, quality.

Capacity is per calendar month (UTC): a partner's remaining capacity is its
``capacity_per_period`` minus the ``lead_allocation`` rows of the month. Allocation runs
are in ``services/partners/allocation_runs.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from retention_flow.core.errors import NotFound, ValidationFailed
from retention_flow.db.json_sql import json_text
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE, LEAD_ALLOCATION, PARTNER
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.partners.rules import validate_partner
from retention_flow.services.partners.views import PartnerView
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import Actor, AppContext

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


def save_partner(
    ctx: AppContext, actor: Actor, partner_id: str, values: dict[str, Any]
) -> PartnerView:
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
    return get_partner(ctx, partner_id).model_copy(update={"created": created})


def used_since(
    conn: Connection, since: datetime, ids: Iterable[str] | None = None
) -> dict[str, int]:
    """Leads allocated per partner since ``since`` (the month's start: capacity used)."""
    query = (
        select(LEAD_ALLOCATION.c.partner_id, func.count())
        .where(LEAD_ALLOCATION.c.allocated_at >= since)
        .group_by(LEAD_ALLOCATION.c.partner_id)
    )
    if ids is not None:
        query = query.where(LEAD_ALLOCATION.c.partner_id.in_(list(ids)))
    return {str(r[0]): int(r[1]) for r in conn.execute(query)}


def _view(row: Any, used: int) -> PartnerView:
    out = readable.partner_row(row)
    remaining = max(0, out["capacity_per_period"] - used)
    return PartnerView.of(out, used_this_period=used, remaining_capacity=remaining)


def list_partners(
    ctx: AppContext, *, limit: int = 100, offset: int = 0
) -> tuple[list[PartnerView], int]:
    with read_session(ctx.db) as session:
        conn = session.connection()
        rows = conn.execute(
            select(PARTNER).order_by(PARTNER.c.id).limit(limit).offset(offset)
        ).mappings()
        used = used_since(conn, month_start(ctx.now()))
        data = [_view(r, used.get(r["id"], 0)) for r in rows]
        total = int(conn.execute(select(func.count()).select_from(PARTNER)).scalar_one())
    return data, total


def get_partner(ctx: AppContext, partner_id: str) -> PartnerView:
    with read_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(select(PARTNER).where(PARTNER.c.id == partner_id)).mappings().first()
        if row is None:
            raise NotFound(f"partner {partner_id} not found")
        used = used_since(conn, month_start(ctx.now()), [partner_id])
        return _view(row, used.get(partner_id, 0))


def commission_of(conn: Connection, partner_id: str) -> int | None:
    return conn.execute(
        select(PARTNER.c.commission_cents).where(PARTNER.c.id == partner_id)
    ).scalar_one_or_none()


def refresh_quality(
    ctx: AppContext, actor: Actor, prior: float = 0.3, weight: int = 20
) -> dict[str, dict[str, float]]:
    """Learn each partner's quality from its ended leads: retained and validated claims
    over all leads it worked (smoothed towards ``prior`` with ``weight`` pseudo-leads).
    The answer is the audit event's detail: partner id → its quality, leads worked and
    retained."""
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
        changed: dict[str, dict[str, float]] = {}
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
