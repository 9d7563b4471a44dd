"""The what-if page: pick a recorded period, a volume multiple, a staffing per role and a
SLA target; see SLA adherence, waits and backlog per queue over time as inline SVG charts
(services/insight/whatif.py), the suggested staffing, and a CSV of the series.

For team leads and process owners (the readers of ``POST /api/whatif``). The form is a
plain GET form: it works without script and with the keyboard alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from retention_flow.services.insight import whatif
from retention_flow.services.insight.views import WhatIfAnswer
from retention_flow.services.platform.context import Actor, AppContext

from ..core.errors import ValidationFailed
from .dashboard import parse_day
from .session import PageCtx, page_router, require_page_role
from .templating import render
from .whatif_charts import legend, line_chart

router = page_router()

Planner = Annotated[Actor, Depends(require_page_role("team_lead", "process_owner"))]


def _period(ctx: AppContext, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """Whole UTC days, ``to`` included (default: yesterday)."""
    today = ctx.now().date()
    first = parse_day(start, "from") or today - timedelta(days=1)
    last = parse_day(end, "to") or first
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


def _staffing(request: Request) -> dict[str, list[int] | int]:
    """``staff.<role>`` fields: one number of agents for every open hour (empty: recorded)."""
    out: dict[str, list[int] | int] = {}
    for key, value in request.query_params.items():
        if not key.startswith("staff.") or not value.strip():
            continue
        if not value.strip().isdigit() or int(value) > 10_000:
            raise ValidationFailed(
                f"'{value}' is not a number of agents",
                errors=[{"field": key, "message": "0 to 10000"}],
            )
        out[key[6:]] = int(value)
    return out


def _charts(answer: WhatIfAnswer) -> list[dict[str, Any]]:
    series = answer.series
    hours = next(([r.hour for r in rows] for rows in series.values()), [])
    charts = []
    for key, title, unit in (
        ("backlog", "Backlog per queue (open tasks at the end of each hour)", "tasks"),
        ("wait_mean_seconds", "Mean wait per queue (tasks started in the hour)", "s"),
        ("adherence", "SLA adherence per queue (tasks completed in the hour)", ""),
    ):
        data = {role: [getattr(r, key) for r in rows] for role, rows in series.items()}
        charts.append(
            {"id": f"chart-{key}", "svg": line_chart(f"chart-{key}", title, data, hours, unit)}
        )
    return charts


def _run(ctx: AppContext, request: Request, form: dict[str, Any]) -> dict[str, Any]:
    start, end = _period(ctx, form["from"], form["to"])
    answer = whatif.what_if(
        ctx,
        start,
        end,
        volume=form["volume"],
        staffing=_staffing(request) or None,
        seed=form["seed"],
        sla_target=form["target"],
        with_suggestion=form["suggest"],
    )
    return {"answer": answer, "charts": _charts(answer), "legend": legend(answer.series)}


def _form(
    ctx: PageCtx,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    volume: Annotated[float, Query(ge=1, le=50)] = 1.0,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 1,
    target: Annotated[float, Query(ge=0, le=1)] = 0.8,
    suggest: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """The form's fields (the page and its CSV read the same ones)."""
    begin, stop = _period(ctx, start, end)
    form: dict[str, Any] = {"from": begin.date().isoformat()}
    form["to"] = (stop - timedelta(days=1)).date().isoformat()
    return form | {"volume": volume, "seed": seed, "target": target, "suggest": suggest}


Form = Annotated[dict[str, Any], Depends(_form)]


@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(
    request: Request,
    ctx: PageCtx,
    user: Planner,
    form: Form,
    run: Annotated[bool, Query()] = False,
) -> Response:
    """The form; with ``run``, the simulation's answer below it."""
    context: dict[str, Any] = {"form": form, "result": None}
    if run:
        context["result"] = _run(ctx, request, form)
    context["roles"] = sorted(context["result"]["answer"].staffing) if run else []
    context["staff"] = _staffing(request)
    context["query"] = str(request.query_params)
    return render(ctx, request, "whatif.html", context, user=user)


@router.get("/whatif.csv")
def whatif_csv(request: Request, ctx: PageCtx, _user: Planner, form: Form) -> Response:
    """The hourly series of every queue as CSV (the page's "Download CSV")."""
    answer = _run(ctx, request, form | {"suggest": False})["answer"]
    return Response(
        whatif.to_csv(answer),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="whatif.csv"'},
    )
