"""The KPI dashboard: volume, retention rate, handling time, service level and backlog
by channel, offer, partner, agent, team or process over a chosen period, as charts
(chart.js) with the numbers in a table beside them, and the same numbers as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..core.errors import ValidationFailed
from ..services import kpis
from ..services.context import Actor, AppContext
from .session import PageCtx, page_router, require_page_role
from .templating import render

router = page_router()

Steward = Annotated[Actor, Depends(require_page_role("team_lead", "auditor", "process_owner"))]
GROUPINGS = ("channel", "offer", "partner", "agent", "team", "process")
Grouping = Literal["channel", "offer", "partner", "agent", "team", "process"]
Granularity = Literal["day", "week", "month"]
Day = Annotated[str, Query(max_length=10)]
DEFAULT_DAYS = 30


def period(ctx: AppContext, start: str, end: str) -> tuple[date, date]:
    """The chosen days (both inclusive); the last 30 days by default."""
    today = ctx.now().astimezone(UTC).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise ValidationFailed(
            "dates are written YYYY-MM-DD", errors=[{"field": "start", "message": "YYYY-MM-DD"}]
        ) from None
    if first > last:
        raise ValidationFailed(
            "the period starts after it ends",
            errors=[{"field": "start", "message": "on or before the end"}],
        )
    return first, last


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    midnight = datetime.min.time()
    return (
        datetime.combine(first, midnight, UTC),
        datetime.combine(last + timedelta(days=1), midnight, UTC),
    )


@router.get("/kpis", response_class=HTMLResponse)
def dashboard(
    request: Request,
    ctx: PageCtx,
    user: Steward,
    start: Day = "",
    end: Day = "",
    by: Grouping = "channel",
    granularity: Granularity = "day",
) -> Response:
    first, last = period(ctx, start, end)
    lo, hi = _bounds(first, last)
    data = kpis.dashboard(ctx, start=lo, end=hi, by=by, granularity=granularity)
    context: dict[str, Any] = {
        "data": data,
        "form": {"start": first.isoformat(), "end": last.isoformat(), "by": by},
        "granularity": granularity,
        "groupings": GROUPINGS,
    }
    return render(ctx, request, "kpis.html", context, user=user)


@router.get("/kpis/export.csv")
def export(
    ctx: PageCtx,
    _user: Steward,
    start: Day = "",
    end: Day = "",
    by: Grouping = "channel",
    granularity: Granularity = "day",
) -> Response:
    first, last = period(ctx, start, end)
    lo, hi = _bounds(first, last)
    rows = kpis.compute(ctx, start=lo, end=hi, group_by=[by], granularity=granularity)
    name = f"kpis-{by}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        kpis.to_csv(rows, [by]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
