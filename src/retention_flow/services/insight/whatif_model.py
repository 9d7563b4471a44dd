"""What the what-if simulation (services/insight/whatif_sim.py) learns from a recorded period.

From the cases that started in ``[start, end)`` and their work items (the human tasks the
engine created for them, which the audit trail records as ``task_ready`` /
``task_completed``):

- arrivals: when each case started, per process;
- routing, per process: the first human task of a case and, after each task, the next
  one or the end of the case (the branch probabilities of the process model as the cases
  took them; work items are the model's user tasks, ordered by creation);
- handling time per task (``handling_seconds``, work time without pauses; a task without
  a measured time falls back to the median of its element, then of its role, then
  ``DEFAULT_HANDLING``), and the due offset (median ``due_at - created_at``);
- outcome rates: the ended cases' ``outcome`` by the last task they passed;
- per role: the business calendar of the bundle (``defaults.<role>.calendar``, else the
  settings' calendar), the recorded staffing (people who completed a task of the role,
  per local hour, averaged over the period's open days and rounded up) and the recorded
  SLA adherence (tasks created in the period and completed by their due time).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select

from retention_flow.core.calendar import BusinessCalendar
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, WORK_ITEM
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models.deployments import bundle_for

#: handling time of a task when nothing of its element or role was measured (seconds)
DEFAULT_HANDLING = 300.0
#: due offset of a task whose element has no recorded work item (seconds)
DEFAULT_DUE = 4 * 3600.0

Key = tuple[str, str]  # (process id, element id)


@dataclass
class Model:
    start: datetime
    end: datetime
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    first: dict[str, Counter[str | None]] = field(default_factory=dict)
    after: dict[Key, Counter[str | None]] = field(default_factory=dict)
    role: dict[Key, str] = field(default_factory=dict)
    handling: dict[Key, list[float]] = field(default_factory=dict)
    due: dict[Key, float] = field(default_factory=dict)
    outcomes: dict[tuple[str, str | None], Counter[str]] = field(default_factory=dict)
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    recorded_staffing: dict[str, list[int]] = field(default_factory=dict)
    recorded_sla: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def summary(self) -> dict[str, Any]:
        """What was measured, for the answer (counts and medians, not the samples)."""
        return {
            "cases": {p: len(a) for p, a in sorted(self.arrivals.items())},
            "tasks": [
                {
                    "process_id": p,
                    "element_id": e,
                    "role": self.role[(p, e)],
                    "handling_seconds_median": round(statistics.median(self.handling[(p, e)]), 1),
                    "due_seconds": round(self.due[(p, e)], 1),
                    "next": {str(k): v for k, v in self.after.get((p, e), Counter()).items()},
                }
                for p, e in sorted(self.role)
            ],
            "outcomes": {
                p: dict(sum((c for (q, _), c in self.outcomes.items() if q == p), Counter()))
                for p in sorted(self.arrivals)
            },
            "recorded_staffing": self.recorded_staffing,
            "recorded_sla": self.recorded_sla,
        }


def _cases(session: Any, start: datetime, end: datetime, only: list[str] | None) -> list[Any]:
    where = [CASE.c.created_at >= start, CASE.c.created_at < end]
    if only:
        where.append(CASE.c.process_id.in_(only))
    query = select(
        CASE.c.id,
        CASE.c.process_id,
        CASE.c.deployment_id,
        CASE.c.created_at,
        CASE.c.ended_at,
        CASE.c.outcome,
    ).where(and_(*where))
    return list(session.execute(query).all())


def _items(session: Any, case_ids: list[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    w = WORK_ITEM.c
    columns = [w.case_id, w.process_id, w.element_id, w.role, w.state, w.due_at]
    columns += [w.created_at, w.ended_at, w.ended_by, w.handling_seconds]
    for chunk in range(0, len(case_ids), 500):
        query = select(*columns).where(w.case_id.in_(case_ids[chunk : chunk + 500]))
        for row in session.execute(query):
            found[row.case_id].append(row)
    for rows in found.values():
        rows.sort(key=lambda r: r.created_at)
    return found


def _route(model: Model, case: Any, items: list[Any]) -> None:
    p = case.process_id
    model.arrivals.setdefault(p, []).append((case.created_at - model.start).total_seconds())
    model.first.setdefault(p, Counter())[items[0].element_id if items else None] += 1
    for i, item in enumerate(items):
        key = (p, item.element_id)
        model.role[key] = item.role
        nxt = items[i + 1].element_id if i + 1 < len(items) else None
        if nxt is not None or case.ended_at is not None:
            model.after.setdefault(key, Counter())[nxt] += 1
    if case.ended_at is not None and case.outcome:
        last = items[-1].element_id if items else None
        model.outcomes.setdefault((p, last), Counter())[case.outcome] += 1


def _times(model: Model, items: list[Any]) -> None:
    """Handling samples and due offsets per element (fallbacks: module docstring)."""
    samples: dict[Key, list[float]] = defaultdict(list)
    dues: dict[Key, list[float]] = defaultdict(list)
    by_role: dict[str, list[float]] = defaultdict(list)
    for item in items:
        key = (item.process_id, item.element_id)
        dues[key].append((item.due_at - item.created_at).total_seconds())
        if item.handling_seconds:
            samples[key].append(float(item.handling_seconds))
            by_role[item.role].append(float(item.handling_seconds))
    for key, role in model.role.items():
        fallback = by_role.get(role) or [DEFAULT_HANDLING]
        model.handling[key] = samples.get(key) or [statistics.median(fallback)]
        model.due[key] = statistics.median(dues[key]) if dues.get(key) else DEFAULT_DUE


def _open_days(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    local = start.astimezone(calendar.zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(calendar.zone).date()
    days = 0
    while local <= last:
        days += calendar.is_workday(local)
        local += timedelta(days=1)
    return max(days, 1)


def _staffing_and_sla(model: Model, items: list[Any]) -> None:
    people: dict[str, dict[tuple[Any, int], set[str]]] = defaultdict(lambda: defaultdict(set))
    sla: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        sla[item.role]["tasks"] += 1
        if item.ended_at is not None and item.ended_at <= item.due_at:
            sla[item.role]["met"] += 1
        ended = item.ended_at
        if (
            ended
            and model.start <= ended < model.end
            and item.ended_by
            and item.state == "completed"
        ):
            local = ended.astimezone(model.calendars[item.role].zone)
            people[item.role][(local.date(), local.hour)].add(item.ended_by)
    for role, calendar in model.calendars.items():
        days = _open_days(calendar, model.start, model.end)
        hours = [0.0] * 24
        for (_day, hour), who in people[role].items():
            hours[hour] += len(who)
        model.recorded_staffing[role] = [math.ceil(h / days) for h in hours]
        counts = sla[role]
        model.recorded_sla[role] = {
            "tasks": counts["tasks"],
            "met": counts["met"],
            "adherence": round(counts["met"] / counts["tasks"], 4) if counts["tasks"] else None,
        }


def measure(
    ctx: AppContext, start: datetime, end: datetime, processes: list[str] | None = None
) -> Model:
    """The model of the recorded period ``[start, end)`` (see the module docstring)."""
    model = Model(start, end)
    with read_session(ctx.db) as session:
        cases = _cases(session, start, end, processes)
        items = _items(session, [c.id for c in cases])
        bundles = {c.deployment_id: bundle_for(ctx, session, c.deployment_id) for c in cases}
    every: list[Any] = []
    for case in sorted(cases, key=lambda c: (c.created_at, c.id)):
        mine = items.get(case.id, [])
        _route(model, case, mine)
        every.extend(mine)
        for item in mine:
            if item.role not in model.calendars:
                bundle = bundles[case.deployment_id]
                model.calendars[item.role] = ctx.calendar_for(bundle, item.role)
    _times(model, every)
    _staffing_and_sla(model, [i for i in every if start <= i.created_at < end])
    return model
