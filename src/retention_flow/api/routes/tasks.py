"""Work items: queues, detail, claim / unclaim / assign / complete."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks
from retention_flow.services.tasks.views import Completed
from retention_flow.services.tasks.views import TaskDetail as TaskDetailView

from ...core.roles import WorkRole
from ..deps import READ_ALL_ROLES, WORKER_ROLES, CtxDep, VisibleTask, require_role
from ..schemas import (
    AssignIn,
    CompleteIn,
    CompleteResult,
    TaskDetail,
    TaskPublic,
    TasksPublic,
)
from ..strict_body import api_router

router = api_router(prefix="/api/tasks", tags=["tasks"])

Worker = Annotated[Actor, Depends(require_role(WORKER_ROLES))]
#: admins read the tasks they may assign
Reader = Annotated[Actor, Depends(require_role(WORKER_ROLES, READ_ALL_ROLES, "admin"))]
Lead = Annotated[Actor, Depends(require_role("team_lead", "admin"))]


@router.get("", response_model=TasksPublic)
def queue(
    ctx: CtxDep,
    user: Worker,
    queue: Literal["available", "mine"] = "available",
    role: WorkRole | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    """My queue sorted by due time, then priority (high first). ``count`` is the queue's
    total, counted up to 1,000 (a count of 1,000 means "at least")."""
    items, count = tasks.queue_page(
        ctx, user, queue=queue, role=role.value if role else None, limit=limit, offset=offset
    )
    return {"data": items, "count": count}


@router.get("/{task_id}", response_model=TaskDetail)
def get_task(ctx: CtxDep, user: Reader, task_id: VisibleTask) -> TaskDetailView:
    return tasks.get_task(ctx, user, task_id)


@router.post("/{task_id}/claim", response_model=TaskPublic)
def claim(ctx: CtxDep, user: Worker, task_id: VisibleTask) -> TaskView:
    return tasks.claim(ctx, user, task_id)


@router.post("/{task_id}/unclaim", response_model=TaskPublic)
def unclaim(ctx: CtxDep, user: Worker, task_id: VisibleTask) -> TaskView:
    return tasks.unclaim(ctx, user, task_id)


@router.post("/{task_id}/assign", response_model=TaskPublic)
def assign(ctx: CtxDep, user: Lead, task_id: VisibleTask, body: AssignIn) -> TaskView:
    return tasks.assign(ctx, user, task_id, body.assignee, body.reason)


@router.post("/{task_id}/complete", response_model=CompleteResult)
def complete(
    ctx: CtxDep, user: Worker, task_id: VisibleTask, body: CompleteIn, request: Request
) -> Completed:
    """Complete with ``{"data": ...}`` validated against the form: 409 on a conflict
    (claimed by someone else, already done), 422 on invalid data."""
    result = tasks.complete(ctx, user, task_id, body.data)
    if result.case.status == "completed":
        request.app.state.metrics.cases_completed.inc()
    return result
