"""Partner settlements: the monthly statements, each with its entries (every one
traceable to its case's history) and, once approved, whether its frozen hash still
matches; the statement as CSV for finance. Admins and the back office approve a draft
(four eyes: not the person who ran it); auditors read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retention_flow.services.partners import settlement, settlement_export
from retention_flow.services.platform.context import Actor

from ..core.errors import Conflict, Forbidden
from .errors import plain_words
from .session import PageCtx, flash, page_router, require_page_role
from .templating import render

router = page_router()

Reviewer = Annotated[Actor, Depends(require_page_role("auditor", "admin", "back_office"))]
Approver = Annotated[Actor, Depends(require_page_role("admin", "back_office"))]
StatementId = Annotated[str, Path(max_length=36)]
Period = Annotated[str, Query(pattern=r"^(\d{4}-\d{2})?$")]
Partner = Annotated[str, Query(max_length=100)]


@router.get("/settlements", response_class=HTMLResponse)
def statements(
    request: Request, ctx: PageCtx, user: Reviewer, period: Period = "", partner_id: Partner = ""
) -> Response:
    found = settlement.list_statements(
        ctx, period=period or None, partner_id=partner_id.strip() or None
    )
    context = {"statements": found, "form": {"period": period, "partner_id": partner_id}}
    return render(ctx, request, "settlements.html", context, user=user)


@router.get("/settlements/{statement_id}", response_class=HTMLResponse)
def statement(
    request: Request, ctx: PageCtx, user: Reviewer, statement_id: StatementId
) -> Response:
    found = settlement.get_statement(ctx, statement_id)
    context = {
        "statement": found,
        "may_approve": found.status == "draft"
        and (user.has_role("admin") or user.has_role("back_office")),
    }
    return render(ctx, request, "settlement.html", context, user=user)


@router.post("/settlements/{statement_id}/approve")
def approve(ctx: PageCtx, user: Approver, statement_id: StatementId) -> Response:
    response = RedirectResponse(f"/settlements/{statement_id}", status_code=303)
    try:
        found = settlement.approve_statement(ctx, user, statement_id)
    except Forbidden as exc:  # four eyes: the person who ran it
        flash(ctx, response, f"Not approved: {exc.detail}.", "error")
    except Conflict as exc:
        flash(ctx, response, plain_words(exc), "error")
    else:
        flash(ctx, response, f"Approved and frozen with hash {(found.hash or '')[:12]}….", "ok")
    return response


@router.get("/settlements/{statement_id}/export.csv")
def export(ctx: PageCtx, _user: Reviewer, statement_id: StatementId) -> Response:
    found = settlement.get_statement(ctx, statement_id)
    name = f"settlement-{found.partner_id}-{found.period}-{found.seq}.csv"
    return Response(
        settlement_export.export_csv(ctx, statement_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
