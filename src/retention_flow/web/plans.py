"""The incentive plan and the QA checklist as a page for the process owner
(``/incentives/plan``): the plan in force and its history, both files to edit, and Save,
which deploys them as a new version of their bundle (``services.plan_editing``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.incentives import plan_editing
from retention_flow.services.platform.context import Actor, AppContext

from ..core.errors import Conflict, InvalidProcess, ValidationFailed
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

Owner = Annotated[Actor, Depends(require_page_role("process_owner"))]


def _page(
    ctx: AppContext,
    request: Request,
    user: Actor,
    edited: dict[str, str] | None = None,
    problems: list[str] | None = None,
) -> Response:
    found = plan_editing.source(ctx)
    context: dict[str, Any] = {
        "found": found,
        "plan_text": (edited or {}).get("plan", found.plan_text if found else ""),
        "checklist_text": (edited or {}).get("checklist", found.checklist_text if found else None),
        "problems": problems or [],
        "applies_from": plan_editing.next_period(ctx.now()),
    }
    status = 422 if problems else 200
    return render(ctx, request, "incentive_plan.html", context, user=user, status_code=status)


@router.get("/incentives/plan", response_class=HTMLResponse)
def plan_page(request: Request, ctx: PageCtx, user: Owner) -> Response:
    return _page(ctx, request, user)


@router.post("/incentives/plan", response_class=HTMLResponse)
async def save_plan(request: Request, ctx: PageCtx, user: Owner) -> Response:
    form = await request.form()
    edited = {k: str(form.get(k) or "") for k in ("plan", "checklist") if k in form}
    try:
        result, applies_from = plan_editing.save(
            ctx, user, edited.get("plan", ""), edited.get("checklist")
        )
    except Conflict as exc:
        return _page(ctx, request, user, edited, [exc.detail])
    except ValidationFailed as exc:
        problems = [f"{e['field']}: {e['message']}" for e in exc.errors] or [exc.detail]
        return _page(ctx, request, user, edited, problems)
    except InvalidProcess as exc:
        problems = [f"{e.get('file') or ''}: {e.get('message')}" for e in exc.errors or []]
        return _page(ctx, request, user, edited, problems or [exc.detail])
    response = RedirectResponse("/incentives/plan", status_code=303)
    if result.created:
        message = (
            f"Saved as deployment {result.deployment_id[:8]}: the plan applies from "
            f"{applies_from}; statements already run keep the plan they were computed with."
        )
    else:
        message = "Nothing changed: this plan and checklist are already deployed."
    flash(ctx, response, message, "ok")
    return response
