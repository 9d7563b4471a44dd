"""What-if for volume and staffing (services/insight/whatif.py): ``POST /api/whatif``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.insight import whatif
from retention_flow.services.platform.context import Actor

from ..deps import CtxDep, require_role
from ..strict_body import api_router

router = api_router(prefix="/api", tags=["insight"])

Planner = Annotated[Actor, Depends(require_role("team_lead", "process_owner"))]
Hours = Annotated[list[Annotated[int, Field(ge=0, le=10_000)]], Field(min_length=24, max_length=24)]


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: datetime = Field(alias="from", description="the recorded period's start")
    end: datetime = Field(alias="to", description="its end (exclusive)")
    volume: float = Field(default=1.0, ge=1.0, le=50.0, description="multiple of its cases")
    staffing: dict[str, Hours | Annotated[int, Field(ge=0, le=10_000)]] | None = Field(
        default=None,
        description="agents per role: 24 numbers (local hours) or one for every hour; "
        "roles left out keep the recorded staffing; the role's calendar closes the rest",
    )
    processes: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=50, description="only these processes (default: all)"
    )
    seed: int = Field(default=1, ge=0, le=2**31 - 1)
    sla_target: float = Field(default=0.8, ge=0.0, le=1.0)
    suggest: bool = Field(default=True, description="search the smallest staffing per role")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.post(
    "/whatif",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def post_whatif(
    ctx: CtxDep,
    _user: Planner,
    body: WhatIfIn,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """Simulate the recorded period at ``volume`` times its cases with a staffing plan:
    per queue SLA adherence, waits and backlog per hour, outcomes, and the smallest
    staffing per role meeting ``sla_target``. ``?format=csv``: the hourly series."""
    answer = whatif.what_if(
        ctx,
        _utc(body.start),
        _utc(body.end),
        volume=body.volume,
        staffing=body.staffing,
        processes=body.processes,
        seed=body.seed,
        sla_target=body.sla_target,
        with_suggestion=body.suggest and format == "json",
    )
    if format == "csv":
        return Response(
            whatif.to_csv(answer),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="whatif.csv"'},
        )
    return answer
