"""Incidents: list, read, retry one (with a data correction), retry in bulk."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query

from retention_flow.services.cases import incident_batches, incidents
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..ops_schemas import (
    BulkRetryIn,
    IncidentBatchPublic,
    IncidentDetail,
    IncidentsPublic,
    RetryIn,
)
from ..schemas import MAX_INT, CasePublic
from ..strict_body import api_router

router = api_router(prefix="/api/incidents", tags=["incidents"])

Reader = Annotated[Actor, Depends(require_role("process_owner", "admin", "auditor"))]
Operator = Annotated[Actor, Depends(require_role("process_owner", "admin"))]


@router.get("", response_model=IncidentsPublic)
def list_incidents(
    ctx: CtxDep,
    _user: Reader,
    process_id: Annotated[str | None, Query(max_length=200)] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    element_id: Annotated[str | None, Query(max_length=200)] = None,
    error_code: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="raised at or after")] = None,
    status: Literal["open", "resolved", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Incidents, newest first (open ones unless ``status`` says otherwise)."""
    items, count = incidents.list_incidents(
        ctx,
        process_id=process_id,
        version=version,
        element_id=element_id,
        error_code=error_code,
        since=since,
        status=status,
        limit=limit,
        offset=offset,
    )
    return {"data": items, "count": count}


@router.post("/retry", response_model=IncidentBatchPublic, status_code=202)
def bulk_retry(ctx: CtxDep, user: Operator, body: BulkRetryIn) -> IncidentBatchPublic:
    """Retry every open incident matching the filter, as a worker job; follow its
    progress at ``GET /api/incidents/retry/{batch_id}``."""
    filters = body.model_dump(exclude={"reason"})
    return incident_batches.start_batch(ctx, user, filters, body.reason)


@router.get("/retry/{batch_id}", response_model=IncidentBatchPublic)
def bulk_retry_progress(ctx: CtxDep, _user: Reader, batch_id: str) -> IncidentBatchPublic:
    return incident_batches.get_batch(ctx, batch_id)


@router.get("/{incident_id}", response_model=IncidentDetail)
def get_incident(ctx: CtxDep, _user: Reader, incident_id: str) -> IncidentDetail:
    """The failed element, the error, when, and the case data at failure."""
    return incidents.get_incident(ctx, incident_id)


@router.post("/{incident_id}/retry", response_model=CasePublic)
def retry(ctx: CtxDep, user: Operator, incident_id: str, body: RetryIn | None = None) -> CaseView:
    """Run the failed element again, after merging ``patch`` into the case data. The
    incident is resolved; if the step fails again, a new incident is raised."""
    body = body or RetryIn()
    return incidents.retry_incident(ctx, user, incident_id, body.patch, body.reason)
