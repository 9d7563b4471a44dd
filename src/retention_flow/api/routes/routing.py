"""Routing: agents' skills (kept by team leads), "next task" by outcome, and the record
of offer decisions for a fairness review."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Response

from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor
from retention_flow.services.routing import channel_choice, next_task, offer_review, skills
from retention_flow.services.routing.views import NextTask, OfferReview, SkillView
from retention_flow.services.tasks.queue_pages import QueueFilter

from ...core.roles import WorkRole
from ..deps import WORKER_ROLES, CtxDep, require_role
from ..routing_schemas import (
    SKILL_VALUE,
    AtRiskStart,
    NextTaskPublic,
    OfferDecisionsPublic,
    SkillPublic,
    SkillSet,
    SkillsPublic,
)
from ..schemas import CasePublic
from ..strict_body import api_router

router = api_router(tags=["routing"])

Worker = Annotated[Actor, Depends(require_role(WORKER_ROLES))]
Reader = Annotated[Actor, Depends(require_role(WORKER_ROLES, "admin"))]
Lead = Annotated[Actor, Depends(require_role("team_lead", "admin"))]
Starter = Annotated[Actor, Depends(require_role("agent", "back_office", "system"))]
Reviewer = Annotated[Actor, Depends(require_role("team_lead", "admin", "auditor"))]
Username = Annotated[str, Path(min_length=1, max_length=200)]
Kind = Literal["product", "segment", "language", "channel"]
Value = Annotated[str, Path(min_length=1, max_length=100, pattern=SKILL_VALUE)]


@router.post("/api/tasks/next", response_model=NextTaskPublic)
def take_next(ctx: CtxDep, user: Worker, role: WorkRole | None = None) -> NextTask:
    """Claim the task you should do next: your claimed one, else the one routing offers
    (SLA urgency, then your expected outcome for its segment; see ``offer.reason``)."""
    flt = QueueFilter(role=role.value) if role else None
    return next_task.next_task(ctx, user, claim=True, flt=flt)


@router.get("/api/skills", response_model=SkillsPublic)
def list_skills(
    ctx: CtxDep, user: Reader, username: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """Your skills; a team lead's team's (an admin: everyone's)."""
    data = skills.list_skills(ctx, user, username)
    return {"data": data, "count": len(data)}


@router.put("/api/skills/{username}/{kind}/{value}", response_model=SkillPublic)
def set_skill(
    ctx: CtxDep, user: Lead, username: Username, kind: Kind, value: Value, body: SkillSet
) -> SkillView:
    """Give an agent a skill or change its proficiency (audited)."""
    return skills.set_skill(ctx, user, username, kind, value, body.proficiency)


@router.delete("/api/skills/{username}/{kind}/{value}", status_code=204, response_class=Response)
def remove_skill(ctx: CtxDep, user: Lead, username: Username, kind: Kind, value: Value) -> Response:
    """Take a skill away (audited; a skill not held is already gone: 204 all the same)."""
    skills.remove_skill(ctx, user, username, kind, value)
    return Response(status_code=204)


@router.get("/api/routing/offers", response_model=OfferDecisionsPublic)
def offers(
    ctx: CtxDep,
    user: Reviewer,
    username: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OfferReview:
    """Recent offer decisions (inputs, score, rule) and a summary per agent."""
    return offer_review.review(ctx, user, username=username, limit=limit)


@router.post("/api/cases/at-risk", response_model=CasePublic, status_code=201)
def start_at_risk(ctx: CtxDep, user: Starter, body: AtRiskStart) -> CaseView:
    """Start a new at-risk customer's case in the channel with the best expected value
    (``first_channel`` table + learned rates); ``channel_reason`` says why."""
    return channel_choice.start_at_risk(ctx, user, body.data)
