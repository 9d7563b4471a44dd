"""The KPI dashboard: volume, retention rate, handling time, service level and backlog
by channel, offer, partner, agent, team or process over a chosen period, as charts
(chart.js) with the numbers in a table beside them, and the same numbers as CSV; the
period's headline figures (automation share, manual work per case) with their "as of"
moment; the written definitions of every figure (``/kpis/definitions``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.incentives import qa
from retention_flow.services.insight import kpi_definitions, kpis
from retention_flow.services.platform.context import Actor

from ..core.errors import ValidationFailed
from .session import PageCtx, page_router, require_page_role
from .templating import AGENT_ROLES, render

router = page_router()

Steward = Annotated[Actor, Depends(require_page_role("team_lead", "auditor", "process_owner"))]
Grouping = Literal[
    "channel",
    "offer",
    "partner",
    "agent",
    "team",
    "process",
    "version",
    "segment",
    "routing_rule",
]
#: the groupings the dashboard offers, in its order (the same list as ``Grouping``)
GROUPINGS: tuple[str, ...] = get_args(Grouping)
Granularity = Literal["day", "week", "month"]
Day = Annotated[str, Query(max_length=10)]
DEFAULT_DAYS = 30


def parse_day(value: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` form value (empty: None)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"'{value}' is not a date", errors=[{"field": field, "message": "YYYY-MM-DD"}]
        ) from None


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


@dataclass(frozen=True)
class KpiQuery:
    first: date  # both days inclusive
    last: date
    by: str
    granularity: str

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return day_start(self.first), day_start(self.last + timedelta(days=1))


def kpi_query(
    ctx: PageCtx,
    start: Day = "",
    end: Day = "",
    by: Grouping = "channel",
    granularity: Granularity = "day",
) -> KpiQuery:
    """The chosen period (the last 30 days by default) and grouping."""
    last = parse_day(end, "end") or ctx.now().astimezone(UTC).date()
    first = parse_day(start, "start") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed(
            "the period starts after it ends",
            errors=[{"field": "start", "message": "on or before the end"}],
        )
    return KpiQuery(first, last, by, granularity)


Chosen = Annotated[KpiQuery, Depends(kpi_query)]


@router.get("/kpis", response_class=HTMLResponse)
def dashboard(request: Request, ctx: PageCtx, user: Steward, q: Chosen) -> Response:
    lo, hi = q.bounds
    data = kpis.dashboard(ctx, start=lo, end=hi, by=q.by, granularity=q.granularity)
    context: dict[str, Any] = {
        "data": data,
        "form": {"start": q.first.isoformat(), "end": q.last.isoformat(), "by": q.by},
        "granularity": q.granularity,
        "groupings": GROUPINGS,
        "definitions": kpi_definitions.DEFINITIONS,
    }
    return render(ctx, request, "kpis.html", context, user=user)


Month = Annotated[str, Query(pattern=r"^(\d{4}-\d{2})?$")]


@router.get("/kpis/scorecard", response_class=HTMLResponse)
def scorecard(request: Request, ctx: PageCtx, user: Steward, period: Month = "") -> Response:
    """Every agent's score for a month with its components, the month's automation share
    and the "as of" moment."""
    now = ctx.now().astimezone(UTC)
    chosen = period or f"{now.year}-{now.month:02d}"
    start, end = qa.period_bounds(chosen)
    context = {
        "period": chosen,
        "as_of": kpis.as_of(ctx, end),
        "cards": kpis.scorecard(ctx, start=start, end=end),
        "components": kpis.SCORE_COMPONENTS,
        "overall": kpis.overall(ctx, start=start, end=end),
    }
    return render(ctx, request, "scorecard.html", context, user=user)


#: the settings the definitions name, shown with their values beside them
DEFINITION_SETTINGS = (
    "kpi_fcr_days",
    "kpi_answer_seconds",
    "kpi_manual_target_seconds",
    "kpi_offer_cost_cents",
)


#: the definitions are read by everyone whose figures or pay they describe
Reader = Annotated[
    Actor,
    Depends(
        require_page_role(
            "team_lead", "auditor", "process_owner", "qa", "back_office", "admin", AGENT_ROLES
        )
    ),
]


@router.get("/kpis/definitions", response_class=HTMLResponse)
def definitions(request: Request, ctx: PageCtx, user: Reader) -> Response:
    context = {
        "definitions": kpi_definitions.DEFINITIONS,
        "settings": [(name, getattr(ctx.settings, name)) for name in DEFINITION_SETTINGS],
    }
    return render(ctx, request, "kpi_definitions.html", context, user=user)


@router.get("/kpis/export.csv")
def export(ctx: PageCtx, _user: Steward, q: Chosen) -> Response:
    lo, hi = q.bounds
    rows = kpis.compute(ctx, start=lo, end=hi, group_by=[q.by], granularity=q.granularity)
    name = f"kpis-{q.by}-{q.first.isoformat()}-{q.last.isoformat()}.csv"
    return Response(
        kpis.to_csv(rows, [q.by]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
