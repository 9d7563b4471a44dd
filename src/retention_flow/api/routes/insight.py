"""Process insight: the heatmap of a process version (services/insight/heatmap.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query

from retention_flow.services.insight import heatmap
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..insight_schemas import HeatmapPublic
from ..schemas import MAX_INT
from ..strict_body import api_router

router = api_router(prefix="/api", tags=["insight"])

Analyst = Annotated[Actor, Depends(require_role("process_owner", "auditor", "team_lead"))]


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get(
    "/processes/{process_id}/versions/{version}/heatmap",
    response_model=HeatmapPublic,
    response_model_by_alias=True,
)
def get_heatmap(
    ctx: CtxDep,
    _user: Analyst,
    process_id: Annotated[str, Path(max_length=200)],
    version: Annotated[int, Path(ge=1, le=MAX_INT)],
    start: Annotated[
        datetime | None, Query(alias="from", description="default: 30 days before `to`")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive; default now")] = None,
) -> dict[str, Any]:
    """Per element: cases passed, waits (p50/p95), SLA breaches, incidents; per sequence
    flow: how many cases took it. From the audit trail of the period ``[from, to)``."""
    return heatmap.heatmap(ctx, process_id, version, _utc(start), _utc(end))
