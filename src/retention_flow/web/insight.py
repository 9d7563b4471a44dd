"""The heatmap page: a process version's diagram coloured by what the audit trail
recorded (services/insight/heatmap.py), one version or two side by side with the deltas.

For process owners, auditors and team leads (the same readers as the heatmap API).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.insight import heatmap
from retention_flow.services.insight.heatmap_marks import WAIT_TOLERANCE
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes

from ..core.errors import ValidationFailed
from .dashboard import parse_day
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Analyst = Annotated[Actor, Depends(require_page_role("process_owner", "auditor", "team_lead"))]
ProcessId = Annotated[str, Path(max_length=200)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
METRICS = {
    "cases": "Cases passed",
    "wait_p95_seconds": "Wait p95",
    "wait_p50_seconds": "Wait p50",
    "sla_breaches": "SLA breaches",
    "incidents": "Incidents",
}


def _period(ctx: AppContext, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """Whole days: ``from`` 00:00 UTC to the end of ``to`` (default: the last 30 days)."""
    first, last = parse_day(start, "from"), parse_day(end, "to")
    stop = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC) if last else ctx.now()
    begin = (
        datetime.combine(first, time(), tzinfo=UTC)
        if first
        else stop - timedelta(days=heatmap.DEFAULT_DAYS)
    )
    return heatmap.period(ctx.now(), begin, stop)


def _version(value: str | None) -> int | None:
    """The form's "compare with" select: empty for none."""
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) < 2**31:
        raise ValidationFailed(
            f"'{value}' is not a version", errors=[{"field": "compare", "message": "a version"}]
        )
    return int(value)


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap_index(request: Request, ctx: PageCtx, user: Analyst) -> Response:
    """Every deployed version, each linking to its heatmap."""
    found = processes.list_versions(ctx)
    return render(ctx, request, "heatmap_index.html", {"versions": found}, user=user)


@router.get("/heatmap/{process_id}/{version}", response_class=HTMLResponse)
def heatmap_page(
    request: Request,
    ctx: PageCtx,
    user: Analyst,
    process_id: ProcessId,
    version: Version,
    compare: Annotated[str | None, Query(max_length=10, description="a version, or empty")] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    metric: Annotated[str, Query(max_length=40)] = "cases",
) -> Response:
    begin, stop = _period(ctx, start, end)
    other = _version(compare)
    known = [v.version for v in processes.list_versions(ctx, process_id)]
    if other is not None and other != version:
        both = heatmap.compare(ctx, process_id, other, version, begin, stop)
        sides = [both["old"], both["new"]]
        deltas, flow_deltas = both["deltas"], both["flow_deltas"]
    else:
        sides, deltas, flow_deltas = (
            [heatmap.heatmap(ctx, process_id, version, begin, stop)],
            {},
            {},
        )
    context: dict[str, Any] = {
        "process_id": process_id,
        "version": version,
        "compare": other if len(sides) == 2 else None,
        "known": known,
        "sides": sides,
        "deltas": deltas,
        "metric": metric if metric in METRICS else "cases",
        "metrics": METRICS,
        "wait_tolerance": WAIT_TOLERANCE,  # the page says how far a wait may be off
        "day_from": begin.date().isoformat(),
        "day_to": (stop - timedelta(microseconds=1)).date().isoformat(),
        "page_data": {"sides": sides, "deltas": deltas, "flow_deltas": flow_deltas},
    }
    return render(ctx, request, "heatmap.html", context, user=user)


@router.get("/heatmap/{process_id}/{version}/diagram")
def heatmap_diagram(
    ctx: PageCtx, _user: Analyst, process_id: ProcessId, version: Version
) -> Response:
    """The version's BPMN XML for the viewer."""
    xml = processes.version_xml(ctx, process_id, version)
    return Response(xml, media_type="application/xml", headers={"Cache-Control": "no-store"})
