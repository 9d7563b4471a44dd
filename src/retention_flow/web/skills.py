"""The team lead's skills and routing page: their agents' skills with a proficiency
(give, change, take away; each change audited), and the record of "next task" offers per
agent (by rule and by segment) with the latest decisions, for a fairness review."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.routing import offer_review, skills
from retention_flow.services.routing.views import SkillView

from ..core.errors import Forbidden, NotFound, ValidationFailed
from ..core.skills import SKILL_KINDS
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

LeadUser = Annotated[Actor, Depends(require_page_role("team_lead", "admin"))]
PAGE = "/skills"


@router.get(PAGE, response_class=HTMLResponse)
def skills_page(request: Request, ctx: PageCtx, user: LeadUser) -> Response:
    held = skills.list_skills(ctx, user)
    people = sorted({n for names in queries.assignable_users(ctx, user).values() for n in names})
    by_agent: dict[str, list[SkillView]] = {name: [] for name in people}
    for skill in held:
        by_agent.setdefault(skill.username, []).append(skill)
    review = offer_review.review(ctx, user, limit=20)
    context = {
        "agents": sorted(by_agent.items()),
        "kinds": SKILL_KINDS,
        "review": review,
    }
    return render(ctx, request, "team_skills.html", context, user=user)


@router.post(PAGE)
def set_skill(
    ctx: PageCtx,
    user: LeadUser,
    username: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    proficiency: Annotated[int, Form(ge=1, le=5)] = 3,
    remove: Annotated[str, Form()] = "",
) -> Response:
    response = RedirectResponse(PAGE, status_code=303)
    name, value = username.strip(), value.strip().lower()
    try:
        if remove:
            skills.remove_skill(ctx, user, name, kind, value)
            flash(ctx, response, f"{name} no longer has {kind} {value}.", "ok")
        else:
            skills.set_skill(ctx, user, name, kind, value, proficiency)
            flash(ctx, response, f"{name}: {kind} {value} at level {proficiency}.", "ok")
    except (ValidationFailed, Forbidden, NotFound) as exc:
        flash(ctx, response, f"Not changed: {exc.detail}.", "error")
    return response
