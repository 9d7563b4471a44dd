"""KPIs from work items and audit events, as JSON or CSV; the agent scorecard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response

from retention_flow.services.insight import kpi_definitions, kpis
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..partner_schemas import KpisPublic, ScorecardsPublic
from ..strict_body import api_router

router = api_router(prefix="/api/kpis", tags=["kpis"])

Steward = Annotated[Actor, Depends(require_role("team_lead", "auditor", "process_owner"))]
Start = Annotated[datetime | None, Query(description="from (default: start of this month)")]
End = Annotated[datetime | None, Query(description="until, exclusive (default: now)")]


def _period(ctx: Any, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = ctx.now()
    end = end or now
    start = start or datetime(end.year, end.month, 1, tzinfo=UTC)
    return (
        start if start.tzinfo else start.replace(tzinfo=UTC),
        end if end.tzinfo else end.replace(tzinfo=UTC),
    )


@router.get("/definitions")
def definitions(_user: Steward) -> Any:
    """The written definition of every KPI (the same text as docs/kpis.md)."""
    data = [{"kpi": k, "name": n, "definition": d} for k, n, d in kpi_definitions.DEFINITIONS]
    return {"data": data, "count": len(data)}


@router.get("", response_model=KpisPublic, responses={200: {"content": {"text/csv": {}}}})
def get_kpis(
    ctx: CtxDep,
    _user: Steward,
    start: Start = None,
    end: End = None,
    group_by: Annotated[
        str, Query(max_length=100, description="comma separated: " + ", ".join(kpis.GROUPS))
    ] = "channel",
    granularity: Literal["day", "week", "month"] = "day",
    format: Literal["json", "csv"] = "json",
) -> Any:
    start, end = _period(ctx, start, end)
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    rows = kpis.compute(ctx, start=start, end=end, group_by=groups, granularity=granularity)
    if format == "csv":
        return Response(kpis.to_csv(rows, groups), media_type="text/csv")
    as_of = kpis.as_of(ctx, end)
    return {"data": rows, "count": len(rows), "start": start, "end": end, "as_of": as_of}


@router.get("/scorecard", response_model=ScorecardsPublic)
def scorecard(ctx: CtxDep, _user: Steward, start: Start = None, end: End = None) -> Any:
    """Each agent's weighted score, every component shown (weights: the incentive plan in
    force at the start, else the kpi_scorecard_weights setting)."""
    start, end = _period(ctx, start, end)
    data = kpis.scorecard(ctx, start=start, end=end)
    as_of = kpis.as_of(ctx, end)
    return {"data": data, "count": len(data), "start": start, "end": end, "as_of": as_of}
