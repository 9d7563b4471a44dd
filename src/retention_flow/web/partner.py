"""The partner portal: a partner user sees only their organisation's leads and reports
the outcome of each. Another organisation's lead, even by URL, is a 404 page (the
services hide it exactly like a lead that does not exist)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from retention_flow.services.cases import reads as queries
from retention_flow.services.platform.context import Actor
from retention_flow.services.tasks import work_items as tasks

from ..core.errors import Conflict
from .queue import with_sla
from .session import PageCtx, page_router, require_page_role
from .task import complete_from_form, task_page
from .templating import render

router = page_router()

PartnerUser = Annotated[Actor, Depends(require_page_role("partner"))]
BASE = "/partner/leads"


@router.get("/partner", response_class=HTMLResponse)
def leads(request: Request, ctx: PageCtx, user: PartnerUser) -> Response:
    items = tasks.list_queue(ctx, user, queue="mine") + tasks.list_queue(ctx, user, role="partner")
    context = {"items": with_sla(ctx, items), "organisation": user.partner}
    return render(ctx, request, "partner.html", context, user=user)


@router.get("/partner/leads/{task_id}", response_class=HTMLResponse)
def lead(request: Request, ctx: PageCtx, user: PartnerUser, task_id: str) -> Response:
    queries.check_task_visible(ctx, user, task_id)
    # claimed or finished meanwhile: the page shows how it stands
    with contextlib.suppress(Conflict):
        tasks.open_for_work(ctx, user, task_id)  # handling time counts from here
    return task_page(ctx, request, user, task_id, base=BASE)


@router.post("/partner/leads/{task_id}/complete", response_class=HTMLResponse)
async def report_outcome(
    request: Request, ctx: PageCtx, user: PartnerUser, task_id: str
) -> Response:
    form = dict(await request.form())
    await run_in_threadpool(queries.check_task_visible, ctx, user, task_id)
    return await run_in_threadpool(
        complete_from_form, ctx, request, user, task_id, form, BASE, "/partner"
    )
