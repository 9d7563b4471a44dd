"""Cases: start (idempotent), list, read, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from ...services import cases, queries
from ...services.context import Actor
from ..deps import CtxDep, VisibleCase, require_role
from ..schemas import CaseCreate, CasePublic, CasesPublic, CaseStatus, HistoryPublic
from ..strict_body import api_router

router = api_router(prefix="/api/cases", tags=["cases"])

Starter = Annotated[Actor, Depends(require_role("agent", "back_office", "system"))]
Lister = Annotated[Actor, Depends(require_role("agent", "team_lead", "auditor", "partner"))]
Reader = Annotated[
    Actor,
    Depends(
        require_role(
            "agent",
            "team_lead",
            "back_office",
            "auditor",
            "partner",
            "system",
            "telemarketing",
            "inbound",
            "specialist",
        )
    ),
]
Historian = Annotated[Actor, Depends(require_role("auditor", "team_lead"))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("", response_model=CasePublic, status_code=201)
def start_case(
    ctx: CtxDep, user: Starter, body: CaseCreate, request: Request, key: IdempotencyKey = None
) -> dict[str, Any]:
    """Start a case. The same ``Idempotency-Key`` (header or body) answers the same case."""
    case = cases.start_case(
        ctx,
        user,
        body.process_id,
        body.data,
        business_key=body.business_key,
        idempotency_key=key or body.idempotency_key,
        version=body.version,
    )
    request.app.state.metrics.cases_started.inc()
    return case


@router.get("", response_model=CasesPublic)
def list_cases(
    ctx: CtxDep,
    user: Lister,
    status: CaseStatus | None = None,
    channel: Annotated[str | None, Query(max_length=100)] = None,
    customer: Annotated[str | None, Query(max_length=200, description="data.customer_id")] = None,
    business_key: Annotated[str | None, Query(max_length=200)] = None,
    process_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    items, count = queries.list_cases(
        ctx,
        user,
        status=status.value if status is not None else None,
        channel=channel,
        customer=customer,
        business_key=business_key,
        process_id=process_id,
        limit=limit,
        offset=offset,
    )
    return {"data": items, "count": count}


@router.get("/{case_id}", response_model=CasePublic)
def get_case(ctx: CtxDep, _user: Reader, case_id: VisibleCase) -> dict[str, Any]:
    return cases.get_case(ctx, case_id)


@router.get("/{case_id}/history", response_model=HistoryPublic)
def history(ctx: CtxDep, _user: Historian, case_id: VisibleCase) -> dict[str, Any]:
    events = queries.case_history(ctx, case_id)
    return {"data": events, "count": len(events)}
