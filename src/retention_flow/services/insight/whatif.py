"""What-if for volume and staffing: a recorded period's model (whatif_model.py) run by the
simulation (whatif_sim.py) at ``volume`` times its cases with a staffing plan; per queue
(role) SLA adherence, waiting time and backlog over time, outcomes, a CSV, and the
smallest flat staffing per role that meets the SLA target.

SLA adherence counts the tasks created in the period: met when completed by their due
time, the same rule as the recorded adherence (``recorded_sla``), so that a 1x run with
the recorded staffing can be set against what happened.
"""

from __future__ import annotations

import csv
import io
import math
import time
from datetime import datetime
from typing import Any

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import ValidationFailed
from retention_flow.services.insight.views import (
    HourPoint,
    QueueResult,
    StaffingSuggestion,
    WhatIfAnswer,
)
from retention_flow.services.insight.whatif_model import Model, measure
from retention_flow.services.platform.context import AppContext

__all__ = ["measure", "suggest", "to_csv", "what_if"]
from retention_flow.services.insight.whatif_sim import Task, hour_of, period_hours, simulate

#: the largest flat staffing per role the suggestion tries
MAX_SUGGESTED = 4096


def staffing_plan(model: Model, given: dict[str, list[int] | int] | None) -> dict[str, list[int]]:
    """Agents per role per local hour: the recorded staffing, overridden per role by
    ``given`` (24 numbers, or one for every hour; the calendar closes the rest)."""
    plan = {role: list(hours) for role, hours in model.recorded_staffing.items()}
    for role, hours in (given or {}).items():
        if role not in model.calendars:
            raise ValidationFailed(
                f"no task of role {role!r} in the period",
                errors=[{"field": f"staffing.{role}", "message": "unknown role"}],
            )
        plan[role] = [hours] * 24 if isinstance(hours, int) else list(hours)
    return plan


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)


def _queue(role: str, tasks: list[Task], period: float) -> QueueResult:
    mine = [t for t in tasks if t.created < period]
    met = sum(1 for t in mine if t.ended is not None and t.ended <= t.due)
    waits = [t.started - t.created for t in mine if t.started is not None]
    return QueueResult(
        role=role,
        tasks=len(mine),
        met=met,
        adherence=round(met / len(mine), 4) if mine else None,
        wait_mean_seconds=round(sum(waits) / len(waits), 1) if waits else None,
        wait_p95_seconds=_p95(waits),
        unfinished=sum(1 for t in mine if t.ended is None),
    )


def _series(model: Model, tasks: list[Task], until: float) -> list[HourPoint]:
    """Per hour: arrivals, completions, backlog at the hour's end, mean wait of the tasks
    started in the hour and the SLA adherence of those completed in it."""
    hours = period_hours(model, until)
    rows = [
        {"arrivals": 0, "completed": 0, "met": 0, "waits": 0.0, "started": 0} for _ in range(hours)
    ]
    delta = [0] * (hours + 1)
    for t in tasks:
        created = min(int(t.created // 3600), hours - 1)
        rows[created]["arrivals"] += 1
        delta[created] += 1
        if t.started is not None:
            started = rows[min(int(t.started // 3600), hours - 1)]
            started["started"] += 1
            started["waits"] += t.started - t.created
        if t.ended is not None:
            ended = min(int(t.ended // 3600), hours - 1)
            rows[ended]["completed"] += 1
            rows[ended]["met"] += t.ended <= t.due
            delta[ended] -= 1
    out, backlog = [], 0
    for hour, row in enumerate(rows):
        backlog += delta[hour]
        out.append(
            HourPoint(
                hour=utc_iso(hour_of(model, hour)),
                arrivals=int(row["arrivals"]),
                completed=int(row["completed"]),
                backlog=backlog,
                wait_mean_seconds=round(row["waits"] / row["started"], 1)
                if row["started"]
                else None,
                adherence=round(row["met"] / row["completed"], 4) if row["completed"] else None,
            )
        )
    return out


def _run(model: Model, volume: float, plan: dict[str, list[int]], seed: int) -> dict[str, Any]:
    began = time.perf_counter()
    tasks, outcomes, until = simulate(model, volume, plan, seed)
    by_role: dict[str, list[Task]] = {role: [] for role in model.calendars}
    for t in tasks:
        by_role[t.role].append(t)
    result: dict[str, Any] = {
        "queues": [_queue(r, by_role[r], model.seconds) for r in sorted(by_role)],
        "series": {r: _series(model, by_role[r], until) for r in sorted(by_role)},
        "outcomes": {},
        "simulated_hours": round(until / 3600, 2),
        "runtime_seconds": round(time.perf_counter() - began, 3),
    }
    for (process, outcome), n in sorted(outcomes.items()):
        result["outcomes"].setdefault(process, {})[outcome] = n
    return result


def suggest(model: Model, volume: float, seed: int, target: float) -> StaffingSuggestion:
    """The smallest number of agents per role, the same in every open hour, at which each
    role's SLA adherence reaches ``target``: all roles searched at once (doubling, then
    bisection), each role's bracket moved by its own adherence in each joint run; the
    roles interact only through the timing of the next tasks."""
    roles = sorted(model.calendars)
    lo, hi = dict.fromkeys(roles, 0), dict.fromkeys(roles, 1)
    runs = 0

    def meets(counts: dict[str, int]) -> dict[str, bool]:
        nonlocal runs
        runs += 1
        queues = _run(model, volume, {r: [counts[r]] * 24 for r in roles}, seed)["queues"]
        return {q.role: q.adherence is None or q.adherence >= target for q in queues}

    while True:
        ok = meets(hi)
        short = [r for r in roles if not ok[r] and hi[r] < MAX_SUGGESTED]
        if not short:
            break
        for r in roles:
            if ok[r]:
                continue
            lo[r], hi[r] = hi[r], min(hi[r] * 2, MAX_SUGGESTED)
    while any(hi[r] - lo[r] > 1 for r in roles):
        mid = {r: (lo[r] + hi[r]) // 2 if hi[r] - lo[r] > 1 else hi[r] for r in roles}
        ok = meets(mid)
        for r in roles:
            if hi[r] - lo[r] > 1:
                lo[r], hi[r] = (lo[r], mid[r]) if ok[r] else (mid[r], hi[r])
    check: list[QueueResult] = _run(model, volume, {r: [hi[r]] * 24 for r in roles}, seed)["queues"]
    return StaffingSuggestion(
        target=target,
        agents=hi,
        adherence={q.role: q.adherence for q in check},
        met=all(q.adherence is None or q.adherence >= target for q in check),
        runs=runs + 1,
    )


def what_if(
    ctx: AppContext,
    start: datetime,
    end: datetime,
    *,
    volume: float = 1.0,
    staffing: dict[str, list[int] | int] | None = None,
    processes: list[str] | None = None,
    seed: int = 1,
    sla_target: float = 0.8,
    with_suggestion: bool = True,
) -> WhatIfAnswer:
    """Simulate the recorded period ``[start, end)`` (see the module docstring)."""
    if start >= end:
        raise ValidationFailed(
            "the period is empty", errors=[{"field": "from", "message": "from must be before to"}]
        )
    model = measure(ctx, start, end, processes)
    plan = staffing_plan(model, staffing)
    result = _run(model, volume, plan, seed)
    recorded = model.recorded_sla
    result["queues"] = [
        q.model_copy(update={"recorded_adherence": recorded.get(q.role, {}).get("adherence")})
        for q in result["queues"]
    ]
    return WhatIfAnswer(
        from_=utc_iso(start),
        to=utc_iso(end),
        volume=volume,
        seed=seed,
        staffing=plan,
        **result,
        suggestion=suggest(model, volume, seed, sla_target) if with_suggestion else None,
        measured=model.summary(),
    )


def to_csv(answer: WhatIfAnswer) -> str:
    """The series of every queue, one row per role and hour."""
    out = io.StringIO()
    fields = ["role", "hour", "arrivals", "completed", "backlog", "wait_mean_seconds", "adherence"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for role, rows in answer.series.items():
        for row in rows:
            writer.writerow({"role": role, **row.model_dump()})
    return out.getvalue()
