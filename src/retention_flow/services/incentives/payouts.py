"""Incentive payouts: one statement per agent and period (``YYYY-MM``), computed from the
agent's KPIs and QA scores with the incentive plan (``core/incentive_plan.py``), every
component shown.

- The plan of a period is the one in the newest deployment made *before* the period
  starts: a plan change applies from the next period, and a statement keeps the plan it
  was computed with (its deployment, hash and a copy).
- ``run`` computes draft statements (running again replaces drafts, never approved ones).
- ``approve`` freezes a draft with its hash, by someone other than whoever ran it (four
  eyes, as for partner settlements: 403 with the reason).
- ``correct`` adds a correction of an approved statement as a new entry (an amount and a
  reason), itself a draft to approve by a second person.
- ``payroll_csv``: the approved entries of a period, for payroll.
Every run, approval and correction is audited on the system stream.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from retention_flow.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from retention_flow.core.incentive_plan import IncentivePlan
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import PAYOUT_STATEMENT
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.incentives.plan_lookup import canonical, plan_in_force
from retention_flow.services.incentives.qa import period_bounds, quality_by_agent
from retention_flow.services.incentives.views import PayoutStatementDetailView, PayoutStatementView
from retention_flow.services.insight import kpis
from retention_flow.services.platform.context import Actor, AppContext

PAYOUT_ROLES = frozenset({"team_lead", "back_office", "admin"})
FROZEN_FIELDS = (
    "id",
    "period",
    "agent",
    "kind",
    "corrects",
    "reason",
    "plan_deployment_id",
    "plan_hash",
    "components",
    "points",
    "amount_cents",
    "created_by",
)


def plan_for(conn: Any, period: str) -> tuple[str, dict[str, Any], str]:
    """(deployment id, plan, plan hash) in force for ``period``."""
    start, _end = period_bounds(period)
    found = plan_in_force(conn, start)
    if found is None:
        raise Conflict(f"no incentive plan was deployed before {period} started")
    return found


def _achievement(component: Any, value: float | None) -> tuple[float, str]:
    if value is None:
        return 0.0, "no data"
    if component.threshold is not None and (
        value > component.threshold if component.lower_is_better else value < component.threshold
    ):
        return 0.0, "below the threshold"
    if component.lower_is_better:
        ratio = component.target / value if value else component.cap
    else:
        ratio = value / component.target
    return min(ratio, component.cap), "capped" if ratio > component.cap else ""


def compute_statement(plan_data: dict[str, Any], values: dict[str, float | None]) -> dict[str, Any]:
    """Components, points and amount of one agent under a plan (see the module docs)."""
    plan = IncentivePlan.model_validate(plan_data)
    components = []
    points = 0.0
    for component in plan.components:
        value = values.get(component.kpi)
        achievement, note = _achievement(component, value)
        earned = round(component.weight * achievement, 6)
        points += earned
        components.append(
            {
                "kpi": component.kpi,
                "value": value,
                "target": component.target,
                "threshold": component.threshold,
                "cap": component.cap,
                "weight": component.weight,
                "achievement": round(achievement, 6),
                "points": earned,
                "note": note,
            }
        )
    points = round(points, 6)
    multiplier = 1.0
    for tier in sorted(plan.tiers, key=lambda t: t.from_points):
        if points >= tier.from_points:
            multiplier = tier.multiplier
    amount = round(points * multiplier * plan.money_per_point_cents)
    capped = plan.max_payout_cents is not None and amount > plan.max_payout_cents
    if capped and plan.max_payout_cents is not None:
        amount = plan.max_payout_cents
    return {
        "components": components
        + [{"kpi": "tier_multiplier", "value": multiplier, "points": None, "note": ""}]
        + (
            [{"kpi": "payout_cap", "value": plan.max_payout_cents, "note": "capped"}]
            if capped
            else []
        ),
        "points": points,
        "amount_cents": int(amount),
    }


def _agent_values(ctx: AppContext, period: str) -> dict[str, dict[str, float | None]]:
    start, end = period_bounds(period)
    quality = quality_by_agent(ctx, start, end)
    out: dict[str, dict[str, float | None]] = {}
    for row in kpis.compute(ctx, start=start, end=end, group_by=["agent"]):
        agent = row.group["agent"]
        if agent == kpis.NONE or not (row.tasks_completed or row.ended):
            continue
        out[agent] = {
            "retention_rate": row.retention_rate,
            "service_level": row.service_level,
            "first_contact_resolution": row.first_contact_resolution,
            "answered_in_time": row.answered_in_time,
            "avg_handling_seconds": row.avg_handling_seconds,
            "quality": quality.get(agent, (None, 0))[0],
        }
    return out


def _shown(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("created_at", "approved_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


def run(ctx: AppContext, actor: Actor, period: str) -> list[PayoutStatementView]:
    """Draft statements for every agent with work in the period (drafts replaced,
    approved statements kept)."""
    values = _agent_values(ctx, period)
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        deployment_id, plan, plan_hash = plan_for(conn, period)
        approved = set(
            conn.execute(
                select(PAYOUT_STATEMENT.c.agent).where(
                    and_(
                        PAYOUT_STATEMENT.c.period == period,
                        PAYOUT_STATEMENT.c.kind == "statement",
                        PAYOUT_STATEMENT.c.status == "approved",
                    )
                )
            ).scalars()
        )
        conn.execute(
            delete(PAYOUT_STATEMENT).where(
                and_(
                    PAYOUT_STATEMENT.c.period == period,
                    PAYOUT_STATEMENT.c.kind == "statement",
                    PAYOUT_STATEMENT.c.status == "draft",
                )
            )
        )
        rows = [
            {
                "id": str(uuid.uuid4()),
                "period": period,
                "agent": agent,
                "kind": "statement",
                "corrects": None,
                "reason": None,
                "plan_deployment_id": deployment_id,
                "plan_hash": plan_hash,
                "plan": plan,
                **compute_statement(plan, agent_values),
                "status": "draft",
                "created_by": actor.username,
                "created_at": now,
            }
            for agent, agent_values in sorted(values.items())
            if agent not in approved
        ]
        if rows:
            conn.execute(insert(PAYOUT_STATEMENT), rows)
        detail = {"period": period, "statements": len(rows), "plan_hash": plan_hash}
        append_system(session, [NewEvent("payout_run", actor.username, detail=detail)], now)
        session.commit()
    return list_statements(ctx, actor, period=period)


def list_statements(
    ctx: AppContext, actor: Actor, *, period: str | None = None
) -> list[PayoutStatementView]:
    """Statements and corrections; an agent without a payout role sees only their own."""
    statement = select(PAYOUT_STATEMENT).order_by(
        PAYOUT_STATEMENT.c.period.desc(), PAYOUT_STATEMENT.c.agent, PAYOUT_STATEMENT.c.created_at
    )
    if period:
        period_bounds(period)
        statement = statement.where(PAYOUT_STATEMENT.c.period == period)
    if not actor.roles & PAYOUT_ROLES:
        statement = statement.where(PAYOUT_STATEMENT.c.agent == actor.username)
    with read_session(ctx.db) as session:
        rows = session.execute(statement.limit(2000))
        return [PayoutStatementView.of(_shown(r)) for r in rows]


def get_statement(ctx: AppContext, actor: Actor, statement_id: str) -> PayoutStatementDetailView:
    with read_session(ctx.db) as session:
        row = session.execute(
            select(PAYOUT_STATEMENT).where(PAYOUT_STATEMENT.c.id == statement_id)
        ).first()
    if row is None or not (actor.roles & PAYOUT_ROLES or row.agent == actor.username):
        raise NotFound(f"payout statement {statement_id} not found")
    shown = _shown(row)
    hash_ok = None if row.hash is None else statement_hash(shown) == row.hash
    return PayoutStatementDetailView.of(shown, hash_ok=hash_ok)


def statement_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: row[k] for k in FROZEN_FIELDS}).encode()).hexdigest()


def approve(ctx: AppContext, actor: Actor, statement_id: str) -> PayoutStatementDetailView:
    """Freeze a draft with its hash; whoever ran (or corrected) it may not approve it."""
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(
            select(PAYOUT_STATEMENT).where(PAYOUT_STATEMENT.c.id == statement_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"payout statement {statement_id} not found")
        if row.status != "draft":
            raise Conflict(f"payout statement {statement_id} is already {row.status}")
        if row.created_by == actor.username:
            raise Forbidden(
                f"four eyes: {actor.username} ran payout statement {statement_id}, so someone "
                "else must approve it"
            )
        digest = statement_hash(dict(row._mapping))
        conn.execute(
            update(PAYOUT_STATEMENT)
            .where(
                and_(PAYOUT_STATEMENT.c.id == statement_id, PAYOUT_STATEMENT.c.status == "draft")
            )
            .values(status="approved", hash=digest, approved_by=actor.username, approved_at=now)
        )
        detail = {
            "statement": statement_id,
            "period": row.period,
            "agent": row.agent,
            "kind": row.kind,
            "amount_cents": row.amount_cents,
            "hash": digest,
        }
        append_system(session, [NewEvent("payout_approved", actor.username, detail=detail)], now)
        session.commit()
    return get_statement(ctx, actor, statement_id)


def correct(
    ctx: AppContext, actor: Actor, statement_id: str, amount_cents: int, reason: str
) -> PayoutStatementDetailView:
    """A correction of an approved statement, as a new draft entry."""
    if not reason or not reason.strip():
        raise ValidationFailed(
            "a correction needs a reason", errors=[{"field": "reason", "message": "required"}]
        )
    if not isinstance(amount_cents, int) or amount_cents == 0:
        raise ValidationFailed(
            "a correction moves money", errors=[{"field": "amount_cents", "message": "non-zero"}]
        )
    now = ctx.now()
    with write_session(ctx.db) as session:
        conn = session.connection()
        row = conn.execute(
            select(PAYOUT_STATEMENT).where(PAYOUT_STATEMENT.c.id == statement_id)
        ).first()
        if row is None:
            raise NotFound(f"payout statement {statement_id} not found")
        if row.status != "approved" or row.kind != "statement":
            raise Conflict(
                "only an approved statement can be corrected; change a draft by running again"
            )
        new_id = str(uuid.uuid4())
        conn.execute(
            insert(PAYOUT_STATEMENT).values(
                id=new_id,
                period=row.period,
                agent=row.agent,
                kind="correction",
                corrects=statement_id,
                reason=reason.strip()[:1000],
                plan_deployment_id=row.plan_deployment_id,
                plan_hash=row.plan_hash,
                plan=row.plan,
                components=[{"kpi": "correction", "value": amount_cents, "note": reason.strip()}],
                points=0.0,
                amount_cents=amount_cents,
                status="draft",
                created_by=actor.username,
                created_at=now,
            )
        )
        detail = {"statement": new_id, "corrects": statement_id, "amount_cents": amount_cents}
        append_system(session, [NewEvent("payout_corrected", actor.username, detail=detail)], now)
        session.commit()
    return get_statement(ctx, actor, new_id)


PAYROLL_COLUMNS = (
    "period",
    "agent",
    "entry",
    "kind",
    "corrects",
    "amount_cents",
    "amount_eur",
    "plan_version",
    "plan_hash",
    "approved_by",
    "approved_at",
    "hash",
)


def payroll_csv(ctx: AppContext, actor: Actor, period: str) -> str:
    """The approved statements and corrections of a period, one line each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAYROLL_COLUMNS)
    for row in list_statements(ctx, actor, period=period):
        if row.status != "approved":
            continue
        euros = f"{row.amount_cents / 100:.2f}"
        writer.writerow(
            [
                row.period,
                row.agent,
                row.id,
                row.kind,
                row.corrects or "",
                row.amount_cents,
                euros,
                row.plan_deployment_id,
                row.plan_hash,
                row.approved_by,
                row.approved_at,
                row.hash,
            ]
        )
    return out.getvalue()
