"""Partner settlements for auditors (read-only): the monthly statements, each with its
entries (every one traceable to its case's history) and, once approved, whether its
frozen hash still matches; the statement as CSV for finance."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..services import settlement, settlement_export
from ..services.context import Actor
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Reviewer = Annotated[Actor, Depends(require_page_role("auditor", "admin"))]
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
    return render(ctx, request, "settlement.html", {"statement": found}, user=user)


@router.get("/settlements/{statement_id}/export.csv")
def export(ctx: PageCtx, _user: Reviewer, statement_id: StatementId) -> Response:
    found = settlement.get_statement(ctx, statement_id)
    name = f"settlement-{found['partner_id']}-{found['period']}-{found['seq']}.csv"
    return Response(
        settlement_export.export_csv(ctx, statement_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
