"""The agent's queue: their claimed tasks and the tasks available to their roles, sorted
by due time then priority, with the SLA state; refreshed live by htmx polling."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..core.roles import SKILL_GROUPS
from ..services import tasks
from ..services.context import Actor, AppContext
from .session import PageCtx, flash, page_router, read_flash, require_page_role
from .templating import render

router = page_router()

QUEUE_ROLES = frozenset({"agent", "back_office"} | SKILL_GROUPS)
QueueUser = Annotated[Actor, Depends(require_page_role(QUEUE_ROLES))]
#: a task due within this time is "due soon"
DUE_SOON = timedelta(hours=1)
QUEUE_LIMIT = 50


def sla_state(due_at: str | None, now: datetime) -> str:
    """``overdue`` | ``soon`` | ``ok`` for a work item's due time (ISO, UTC)."""
    if not due_at:
        return "ok"
    due = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    if due <= now:
        return "overdue"
    return "soon" if due - now <= DUE_SOON else "ok"


def with_sla(ctx: AppContext, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = ctx.now()
    return [{**item, "sla": sla_state(item["due_at"], now)} for item in items]


def queue_items(ctx: AppContext, user: Actor) -> list[dict[str, Any]]:
    """Claimed by the user, then available; each group by due time, then priority."""
    mine = tasks.list_queue(ctx, user, queue="mine", limit=QUEUE_LIMIT)
    available = tasks.list_queue(ctx, user, queue="available", limit=QUEUE_LIMIT)
    return with_sla(ctx, mine + available)


def next_task_id(ctx: AppContext, user: Actor, after: str | None = None) -> str | None:
    """The task an agent should do next: their own claimed one first, else the first
    available (``after``, the task just left, is skipped)."""
    for item in queue_items(ctx, user):
        if item["id"] != after:
            return str(item["id"])
    return None


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, ctx: PageCtx, user: QueueUser) -> Response:
    return render(ctx, request, "queue.html", {"items": queue_items(ctx, user)}, user=user)


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(request: Request, ctx: PageCtx, user: QueueUser) -> Response:
    """The queue table's body, for the live refresh."""
    return render(ctx, request, "_queue_rows.html", {"items": queue_items(ctx, user)}, user=user)


@router.get("/next")
def next_task(
    request: Request, ctx: PageCtx, user: QueueUser, after: str | None = None
) -> Response:
    task_id = next_task_id(ctx, user, after)
    if task_id is None:
        response = RedirectResponse("/queue", status_code=303)
        if read_flash(ctx, request) is None:  # keep a message on its way ("Done: ...")
            flash(ctx, response, "Your queue is empty. New tasks appear here by themselves.")
        return response
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)
