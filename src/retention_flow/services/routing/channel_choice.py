"""The first channel for a new at-risk customer, by expected outcome and cost.

The bundle's ``first_channel`` decision table lists the channels the customer may be
approached through (self-service link, mail, telemarketing, partner), each with its
process, a retention rate to expect before any is learned and the cost of one contact.
For each option the expected value is ``p x value - cost``: ``value`` is a year of the
customer's revenue, ``p`` the retention rate learned from ended cases that started in
that channel for the customer's segment, shrunk towards the table's rate like the agents'
rates (``routing_prior_strength`` cases of prior). The best option starts the case; the
reason (the winner's figures against the runner-up's) is kept on the case
(``case.channel_reason``) and, with the channel, in its data (``first_channel``,
``channel_reason``: audited with the start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlmodel import Session

from retention_flow.core.errors import NotFound, ValidationFailed
from retention_flow.db.json_sql import json_text
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE
from retention_flow.engine.bundle import CompiledBundle
from retention_flow.engine.decide import decide
from retention_flow.services.cases.lifecycle import start_case
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for, resolve_version
from retention_flow.services.routing.segments import segment_of

CHANNEL_DECISION = "first_channel"
#: months of revenue a retained customer is worth
VALUE_MONTHS = 12
#: the process whose deployment holds the table
ANCHOR_PROCESS = "outbound_telemarketing"


@dataclass(frozen=True)
class Option:
    channel: str
    process: str
    p: float
    cases: int
    cost_cents: int
    value_cents: int

    @property
    def expected_cents(self) -> float:
        return self.p * self.value_cents - self.cost_cents

    def words(self) -> str:
        basis = f"learned from {self.cases} cases" if self.cases else "the table's rate"
        return (
            f"{self.channel} expects {100 * self.p:.0f} % ({basis}) x "
            f"{self.value_cents / 100:.2f} - {self.cost_cents / 100:.2f} = "
            f"{self.expected_cents / 100:.2f}"
        )


def learned(ctx: AppContext, segment: str | None) -> dict[str, tuple[int, int]]:
    """(retained, ended) per first channel, for the segment's cases."""
    first = json_text(CASE.c.data, "first_channel")
    query = (
        select(first, func.sum(case((CASE.c.outcome == "retained", 1), else_=0)), func.count())
        .where(and_(first.is_not(None), CASE.c.outcome.is_not(None), CASE.c.segment == segment))
        .group_by(first)
    )
    with read_session(ctx.db) as session:
        return {str(c): (int(r or 0), int(n)) for c, r, n in session.execute(query)}


def _cents(raw: Any) -> int:
    """Monthly revenue in cents as given, 0 when it is not a number."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return 0
    return max(0, int(raw))


def options(
    ctx: AppContext, bundle: CompiledBundle, data: dict[str, Any], segment: str | None
) -> list[Option]:
    rows = decide(bundle, CHANNEL_DECISION, {"churn_risk": "low", "product": "", **data}) or []
    value = VALUE_MONTHS * _cents(data.get("monthly_revenue_cents"))
    strength = ctx.settings.routing_prior_strength
    rates = learned(ctx, segment)
    out = []
    for row in rows:
        channel, prior = str(row["channel"]), float(row["prior_rate"])
        retained, n = rates.get(channel, (0, 0))
        p = (retained + strength * prior) / (n + strength) if n + strength > 0 else prior
        out.append(Option(channel, str(row["process"]), p, n, int(row["cost_cents"]), value))
    return sorted(out, key=lambda o: -o.expected_cents)


def start_at_risk(ctx: AppContext, actor: Actor, data: dict[str, Any]) -> CaseView:
    """Start the case of a new at-risk customer in the channel with the best expected
    value; answers the case view with its ``channel_reason``."""
    with read_session(ctx.db) as session:
        try:
            _version, deployment_id = resolve_version(session, ANCHOR_PROCESS, None)
        except NotFound as exc:
            raise ValidationFailed(
                f"no retention bundle is deployed ({ANCHOR_PROCESS} holds the channel table)",
                errors=[{"field": "data", "message": "no channel table deployed"}],
            ) from exc
        bundle = bundle_for(ctx, session, deployment_id)
    found = options(ctx, bundle, data, segment_of(bundle, data))
    if not found:
        raise ValidationFailed(
            "no channel fits this customer (the first_channel table has no matching row)",
            errors=[{"field": "data", "message": "no channel option"}],
        )
    best = found[0]
    reason = best.words()
    if len(found) > 1:
        reason += f"; next best {found[1].words()}"
    reason = reason[:400]

    def keep(session: Session, view: CaseView) -> None:
        session.execute(update(CASE).where(CASE.c.id == view.id).values(channel_reason=reason))

    chosen = {**data, "first_channel": best.channel, "channel_reason": reason}
    started = start_case(ctx, actor, best.process, chosen, before_commit=keep)
    return started.model_copy(update={"channel_reason": reason})
