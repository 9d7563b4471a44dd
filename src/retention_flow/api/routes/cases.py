"""Cases: start (idempotent), list, read, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from retention_flow.services.cases import keyed_starts as case_requests
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import reads as queries
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, VisibleCase, require_role
from ..idempotency import IdempotencyKeyHeader, mark, replay_responses, request_key
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


@router.post("", response_model=CasePublic, status_code=201, responses=replay_responses(201))
def start_case(
    ctx: CtxDep,
    user: Starter,
    body: CaseCreate,
    request: Request,
    response: Response,
    header_key: IdempotencyKeyHeader = None,
) -> dict[str, Any]:
    """Start a case. An ``Idempotency-Key`` (header, or ``idempotency_key`` in the body)
    makes it once per user: a repeat answers the first answer again."""
    key = request_key(header_key, body.idempotency_key)
    answer = case_requests.start_case_once(
        ctx,
        user,
        body.process_id,
        body.data,
        key=key,
        business_key=body.business_key,
        version=body.version,
    )
    mark(response, answer, key)
    if not answer.replayed:
        request.app.state.metrics.cases_started.inc()
    return answer.body


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
def get_case(ctx: CtxDep, _user: Reader, case_id: VisibleCase) -> CaseView:
    return cases.get_case(ctx, case_id)


@router.get("/{case_id}/history", response_model=HistoryPublic)
def history(ctx: CtxDep, _user: Historian, case_id: VisibleCase) -> dict[str, Any]:
    events = queries.case_history(ctx, case_id)
    return {"data": events, "count": len(events)}
