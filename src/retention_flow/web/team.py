"""The team lead's page: escalations to them, overdue work of every queue, the queue
sizes, one queue's open work, and reassigning a task (with the reason on record) to a
user picked from those eligible (the task's role; the lead's team)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks

from ..core.errors import Conflict, Forbidden, ValidationFailed
from ..core.roles import WorkRole
from .errors import plain_words
from .queue import with_sla
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

LeadUser = Annotated[Actor, Depends(require_page_role("team_lead", "admin"))]


@router.get("/team", response_class=HTMLResponse)
def team_page(
    request: Request, ctx: PageCtx, user: LeadUser, role: WorkRole | None = None
) -> Response:
    sizes: dict[str, dict[str, int]] = {}
    for queue_role, state, count in queries.queue_sizes(ctx):
        sizes.setdefault(queue_role, {"ready": 0, "claimed": 0})[state] = count
    escalations = queries.open_work(ctx, role="team_lead", limit=50)
    context = {
        "sizes": sorted(sizes.items()),
        "escalations": with_sla(ctx, escalations),
        "overdue": with_sla(ctx, queries.open_work(ctx, due_before=ctx.now(), limit=50)),
        "role": role.value if role else None,
        "work": with_sla(ctx, queries.open_work(ctx, role=role.value, limit=100)) if role else [],
        "assignable": queries.assignable_users(ctx, user),
    }
    return render(ctx, request, "team.html", context, user=user)


@router.post("/team/tasks/{task_id}/assign")
def assign_task(
    ctx: PageCtx,
    user: LeadUser,
    task_id: str,
    assignee: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/team",
) -> Response:
    target = back if back.startswith("/team") else "/team"
    # the form is data-keep-scroll: app.js brings the page back to where the lead was
    response = RedirectResponse(target, status_code=303)
    try:
        task = tasks.assign(ctx, user, task_id, assignee.strip(), reason.strip())
    except (ValidationFailed, Forbidden) as exc:  # no such user, wrong role, other team
        flash(ctx, response, f"Not reassigned: {exc.detail}.", "error")
    except Conflict as exc:  # a skill missing names it; otherwise a race
        words = f"Not reassigned: {exc.detail}." if exc.errors else plain_words(exc)
        flash(ctx, response, words, "error")
    else:
        name = task.name or task.element_id
        flash(ctx, response, f"“{name}” ({task.business_key}) is now with {assignee}.", "ok")
    return response
