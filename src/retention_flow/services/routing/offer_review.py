"""The record of "next task" offers, for a team lead's fairness review: the latest
decisions with their inputs and scores, and per agent how many offers they got by rule
and by segment (a team lead with a team sees their team's; admins and auditors all)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from retention_flow.core.clock import utc_iso
from retention_flow.db.session import read_session
from retention_flow.db.tables import OFFER_DECISION, USER
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.views import AgentOffers, OfferDecisionView, OfferReview

OD = OFFER_DECISION


def review(
    ctx: AppContext, actor: Actor, *, username: str | None = None, limit: int = 100
) -> OfferReview:
    with read_session(ctx.db) as session:
        where: list[Any] = []
        if "team_lead" in actor.roles and not actor.roles & {"admin", "auditor"}:
            team = session.execute(
                select(USER.c.team).where(USER.c.username == actor.username)
            ).scalar_one_or_none()
            if team is not None:
                where.append(OD.c.username.in_(select(USER.c.username).where(USER.c.team == team)))
        if username:
            where.append(OD.c.username == username)
        rows = session.execute(
            select(OD).where(*where).order_by(OD.c.id.desc()).limit(max(1, min(limit, 500)))
        ).mappings()
        data = [OfferDecisionView(**{**r, "at": utc_iso(r["at"])}) for r in rows]
        count = int(
            session.execute(select(func.count()).select_from(OD).where(*where)).scalar_one()
        )
        agents: dict[str, dict[str, Any]] = {}
        for column, key in ((OD.c.rule, "by_rule"), (OD.c.segment, "by_segment")):
            grouped = session.execute(
                select(OD.c.username, column, func.count(), func.avg(OD.c.score))
                .where(*where)
                .group_by(OD.c.username, column)
            )
            for name, value, n, _avg in grouped:
                agent = agents.setdefault(name, {"username": name, "offers": 0})
                agent.setdefault(key, {})[str(value or "-")] = int(n)
                if key == "by_rule":
                    agent["offers"] += int(n)
    by_agent = [AgentOffers(**a) for a in sorted(agents.values(), key=lambda a: a["username"])]
    return OfferReview(data=data, count=count, by_agent=by_agent)
