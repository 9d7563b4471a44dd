"""The agent's queue: their claimed tasks, then a page of the tasks open to their roles,
sorted by due time then priority, with the SLA state; refreshed live by htmx polling.

The open tasks can be narrowed to one role, one process and a due state (overdue, due
today, later) and searched by business key or customer (id or name); the page says how
many match and pages through them. The filter is remembered per user in the ``rf_queue``
cookie (``/queue`` without a query string shows the last one; ``?clear=1`` forgets it), and
"next task" takes the next task of the filtered queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.next_task import next_task as routing_next
from retention_flow.services.scans import review as scan_review
from retention_flow.services.scans.outcome import EXCEPTION_PROCESS
from retention_flow.services.tasks import work_items as tasks
from retention_flow.services.tasks.queue_pages import (
    DUE_STATES,
    QueueFilter,
    filtered_page,
    queue_facets,
)

from ..core.errors import Forbidden, ValidationFailed
from ..core.roles import SKILL_GROUPS
from .session import PageCtx, flash, page_router, read_flash, require_page_role
from .templating import render

router = page_router()

QUEUE_ROLES = frozenset({"agent", "back_office"} | SKILL_GROUPS)
QueueUser = Annotated[Actor, Depends(require_page_role(QUEUE_ROLES))]
#: a task due within this time is "due soon"
DUE_SOON = timedelta(hours=1)
QUEUE_LIMIT = 50
QUEUE_COOKIE = "rf_queue"
FILTER_KEYS = ("role", "process", "due", "q")
DUE_LABELS = {"overdue": "Overdue", "today": "Due today", "later": "Due later"}


def sla_state(due_at: str | None, now: datetime) -> str:
    """``overdue`` | ``soon`` | ``ok`` for a work item's due time (ISO, UTC)."""
    if not due_at:
        return "ok"
    due = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    if due <= now:
        return "overdue"
    return "soon" if due - now <= DUE_SOON else "ok"


def with_sla(ctx: AppContext, items: Sequence[TaskView]) -> list[dict[str, Any]]:
    """The page's rows: each item's fields with its SLA state; a scan exception's task
    also with ``title`` and ``label`` (what happened to which page: its case has no
    business key to show)."""
    now = ctx.now()
    named = scan_review.exception_titles(
        ctx, [i.case_id for i in items if i.process_id == EXCEPTION_PROCESS]
    )
    return [
        {**dict(item), "sla": sla_state(item.due_at, now), **named.get(item.case_id, {})}
        for item in items
    ]


def _filter_of(params: dict[str, str]) -> QueueFilter:
    def get(key: str) -> str | None:
        return (params.get(key) or "").strip()[:200] or None

    return QueueFilter(role=get("role"), process_id=get("process"), due=get("due"), search=get("q"))


def _query_of(flt: QueueFilter) -> str:
    pairs = zip(FILTER_KEYS, (flt.role, flt.process_id, flt.due, flt.search), strict=True)
    return urlencode([(k, v) for k, v in pairs if v])


def chosen_filter(request: Request, user: Actor) -> QueueFilter:
    """The filter in the query string, else the one this user last used (the cookie,
    which names its user so another login in the same browser does not inherit it)."""
    params = {k: v for k, v in request.query_params.items() if k in FILTER_KEYS}
    if params or request.query_params.get("clear"):
        return _filter_of(params)
    saved = request.cookies.get(QUEUE_COOKIE, "")
    owner, _, query = saved.partition("|")
    if owner != user.username:
        return QueueFilter()
    flt = _filter_of(dict(parse_qsl(query)))
    valid = (flt.role is None or flt.role in user.roles) and flt.due in (None, *DUE_STATES)
    return flt if valid else QueueFilter()


def remember(ctx: AppContext, response: Response, user: Actor, flt: QueueFilter) -> None:
    response.set_cookie(
        QUEUE_COOKIE,
        f"{user.username}|{_query_of(flt)}",
        max_age=90 * 24 * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.session_cookie_secure,
    )


def queue_items(
    ctx: AppContext, user: Actor, flt: QueueFilter | None = None, page: int = 1
) -> dict[str, Any]:
    """Claimed by the user (all of them, first), then a page of the matching open work."""
    flt = flt or QueueFilter()
    mine = tasks.list_queue(ctx, user, queue="mine", limit=QUEUE_LIMIT)
    if flt.role or flt.process_id:
        mine = [
            t
            for t in mine
            if (flt.role in (None, t.role)) and (flt.process_id in (None, t.process_id))
        ]
    offset = (page - 1) * QUEUE_LIMIT
    if flt.process_id or flt.due or flt.search:
        available, count = filtered_page(ctx, user, flt, limit=QUEUE_LIMIT, offset=offset)
    else:  # the common case: one range scan of the queue index per role, merged
        if flt.role is not None and flt.role not in user.roles:
            raise Forbidden(f"you do not hold the role '{flt.role}'")
        available, total = tasks.queue_page(
            ctx, user, queue="available", role=flt.role, limit=QUEUE_LIMIT, offset=offset
        )
        count = total or 0
    return {
        "mine": with_sla(ctx, mine),
        "items": with_sla(ctx, available),
        "count": count,
        "page": page,
        "pages": max(1, -(-count // QUEUE_LIMIT)),
    }


def next_task_id(
    ctx: AppContext, user: Actor, flt: QueueFilter | None = None, after: str | None = None
) -> str | None:
    """The task an agent should do next: their own claimed one first, else the one
    routing offers them from the selected queue (``services/routing/next_task.py``: SLA urgency,
    then their expected outcome; recorded, and shown on the task page). ``after``, the
    task just left, is skipped."""
    if flt is not None and flt.role is not None and flt.role not in user.roles:
        raise Forbidden(f"you do not hold the role '{flt.role}'")
    found = routing_next(ctx, user, claim=False, flt=flt, after=after)
    return found.task.id if found.task else None


def _page_context(ctx: AppContext, request: Request, user: Actor) -> tuple[dict[str, Any], Any]:
    flt = chosen_filter(request, user)
    try:
        page = max(1, min(int(request.query_params.get("page") or 1), 10_000))
    except ValueError:
        page = 1
    try:
        found = queue_items(ctx, user, flt, page)
    except (Forbidden, ValidationFailed):
        flt = QueueFilter()
        found = queue_items(ctx, user, flt, page)
    facets = queue_facets(ctx, user)
    query = _query_of(flt)
    context = {
        **found,
        "filter": asdict(flt),
        "query": query,
        "roles": sorted(r for r in user.roles if r in QUEUE_ROLES | {"partner"}),
        "facets": facets,
        "due_labels": DUE_LABELS,
        "filtered": bool(query),
    }
    return context, flt


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, ctx: PageCtx, user: QueueUser) -> Response:
    context, flt = _page_context(ctx, request, user)
    response = render(ctx, request, "queue.html", context, user=user)
    remember(ctx, response, user, flt)
    return response


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(request: Request, ctx: PageCtx, user: QueueUser) -> Response:
    """The queue table's body, for the live refresh (same filter and page)."""
    context, _flt = _page_context(ctx, request, user)
    return render(ctx, request, "_queue_rows.html", context, user=user)


@router.get("/next")
def next_task(
    request: Request, ctx: PageCtx, user: QueueUser, after: str | None = None
) -> Response:
    try:
        task_id = next_task_id(ctx, user, chosen_filter(request, user), after)
    except (Forbidden, ValidationFailed):
        task_id = next_task_id(ctx, user, None, after)
    if task_id is None:
        response = RedirectResponse("/queue", status_code=303)
        if read_flash(ctx, request) is None:  # keep a message on its way ("Done: ...")
            flash(ctx, response, "Your queue is empty. New tasks appear here by themselves.")
        return response
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)
