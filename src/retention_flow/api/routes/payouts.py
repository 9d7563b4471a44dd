"""Incentive payouts: run a period's statements, approve (four eyes), correct, export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel, Field

from retention_flow.services.incentives import payouts
from retention_flow.services.incentives.views import PayoutStatementDetailView
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..strict_body import api_router

router = api_router(prefix="/api/payouts", tags=["payouts"])

Payroll = Annotated[Actor, Depends(require_role(payouts.PAYOUT_ROLES))]
Reader = Annotated[Actor, Depends(require_role(payouts.PAYOUT_ROLES, "agent"))]
Period = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class RunIn(BaseModel):
    model_config = {"extra": "forbid"}
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class CorrectionIn(BaseModel):
    model_config = {"extra": "forbid"}
    amount_cents: int
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/run", status_code=201)
def run(ctx: CtxDep, user: Payroll, body: RunIn) -> dict[str, Any]:
    """Draft statements of the period under the plan in force for it."""
    data = payouts.run(ctx, user, body.period)
    return {"data": data, "count": len(data)}


@router.get("")
def statements(
    ctx: CtxDep, user: Reader, period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None
) -> dict[str, Any]:
    """Statements and corrections (an agent sees their own)."""
    data = payouts.list_statements(ctx, user, period=period)
    return {"data": data, "count": len(data)}


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export(ctx: CtxDep, user: Payroll, period: Period) -> Response:
    """The period's approved entries as CSV for payroll."""
    return Response(
        payouts.payroll_csv(ctx, user, period),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="payouts-{period}.csv"'},
    )


@router.get("/{statement_id}")
def statement(ctx: CtxDep, user: Reader, statement_id: str) -> PayoutStatementDetailView:
    return payouts.get_statement(ctx, user, statement_id)


@router.post("/{statement_id}/approve")
def approve(ctx: CtxDep, user: Payroll, statement_id: str) -> PayoutStatementDetailView:
    """Freeze with its hash; 403 for whoever ran it (four eyes)."""
    return payouts.approve(ctx, user, statement_id)


@router.post("/{statement_id}/corrections", status_code=201)
def correct(
    ctx: CtxDep, user: Payroll, statement_id: str, body: CorrectionIn
) -> PayoutStatementDetailView:
    """A correction of an approved statement, as a new entry to approve."""
    return payouts.correct(ctx, user, statement_id, body.amount_cents, body.reason)
