"""Sales partners: master data, allocation runs, settlement statements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Response

from retention_flow.services.partners import allocation_runs as partner_allocation
from retention_flow.services.partners import organisations as partners
from retention_flow.services.partners import settlement, settlement_export
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..partner_schemas import (
    AllocateIn,
    AllocationPublic,
    PartnerPublic,
    PartnerSave,
    PartnersPublic,
    SettlementRunIn,
    SettlementRunPublic,
    StatementDetail,
    StatementsPublic,
)
from ..strict_body import api_router

router = api_router(prefix="/api/partners", tags=["partners"])

Manager = Annotated[Actor, Depends(require_role("admin", "back_office"))]
Reviewer = Annotated[Actor, Depends(require_role("admin", "back_office", "auditor"))]
StatementId = Annotated[str, Path(max_length=36)]


@router.get("", response_model=PartnersPublic)
def list_partners(
    ctx: CtxDep,
    _user: Manager,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Partners with their capacity used and left this month."""
    data, count = partners.list_partners(ctx, limit=limit, offset=offset)
    return {"data": data, "count": count}


@router.post("", response_model=PartnerPublic)
def save_partner(
    ctx: CtxDep, user: Manager, body: PartnerSave, response: Response
) -> PartnerPublic:
    """Create a partner (201) or change the fields given of an existing one (200)."""
    values = body.model_dump(exclude={"id"}, exclude_unset=True)
    saved = partners.save_partner(ctx, user, body.id, values)
    response.status_code = 201 if saved.created else 200
    return saved


@router.post("/allocate", response_model=AllocationPublic)
def allocate(ctx: CtxDep, user: Manager, body: AllocateIn) -> AllocationPublic:
    """Allocate leads to partners (HiGHS MILP; a greedy fallback is reported as such)."""
    leads = [lead.model_dump() for lead in body.leads]
    return partner_allocation.allocate_leads(
        ctx, user, leads, method=body.method, dry_run=body.dry_run
    )


@router.get("/settlements", response_model=StatementsPublic)
def statements(
    ctx: CtxDep,
    _user: Reviewer,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    partner_id: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    data = settlement.list_statements(ctx, period=period, partner_id=partner_id)
    return {"data": data, "count": len(data)}


@router.post("/settlements/run", response_model=SettlementRunPublic)
def run_settlement(ctx: CtxDep, user: Manager, body: SettlementRunIn) -> dict[str, Any]:
    """Put the month's validated, unpaid commission lines on draft statements."""
    run = settlement.run_settlement(ctx, user, body.period, body.partner_id)
    return run.model_dump(exclude={"statements": {"__all__": {"entries", "hash_ok"}}})


@router.get("/settlements/{statement_id}", response_model=StatementDetail)
def statement(ctx: CtxDep, _user: Reviewer, statement_id: StatementId) -> StatementDetail:
    """A statement with its entries; for an approved one, whether its hash still holds."""
    return settlement.get_statement(ctx, statement_id)


@router.post("/settlements/{statement_id}/approve", response_model=StatementDetail)
def approve(ctx: CtxDep, user: Manager, statement_id: StatementId) -> StatementDetail:
    """Freeze a draft statement with its hash (audited); 409 when it is not a draft."""
    return settlement.approve_statement(ctx, user, statement_id)


@router.get(
    "/settlements/{statement_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export(ctx: CtxDep, _user: Reviewer, statement_id: StatementId) -> Response:
    """The statement as CSV, each line traced to its case."""
    body = settlement_export.export_csv(ctx, statement_id)
    name = f"settlement-{statement_id}.csv"
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
