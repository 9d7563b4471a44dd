"""A recorded period for the what-if: ``three_steps`` cases run through the real services
by a fixed team, so the audit trail holds what a what-if at 1x must reproduce.

``cases`` cases arrive between the calendar's opening and two hours before it closes on
one workday; ``agents`` people of the telemarketing role work the queue earliest-due
first during the settings' business hours: claim a task (work starts), then complete it
after a handling time drawn from an exponential distribution (mean ``handling``
minutes). Offers are accepted with probability 0.4. Used by tests/api/test_whatif.py and
bench/whatif.py.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta
from typing import Any

from retention_flow.core.clock import FrozenClock
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks import claims
from retention_flow.services.tasks import work_items as tasks

STARTER = Actor("desk", frozenset({"telemarketing"}))
ANSWER = {
    "call_customer": {"call_result": "reached"},
    "confirm_change": {"confirmation_channel": "sms"},
}


def _open(ctx: AppContext, moment: datetime) -> tuple[bool, datetime]:
    """Whether the calendar is open at ``moment``, else when it opens next."""
    cal = ctx.calendar
    local = moment.astimezone(cal.zone)
    if cal.is_workday(local.date()) and cal.opens <= local.time() < cal.closes:
        return True, moment
    day = local.date() + timedelta(days=0 if local.time() < cal.opens else 1)
    while not cal.is_workday(day):
        day += timedelta(days=1)
    return False, datetime.combine(day, cal.opens, cal.zone)


def record_period(
    ctx: AppContext,
    clock: FrozenClock,
    day: datetime,
    cases_n: int,
    agents: int,
    handling: float,
    seed: int,
) -> tuple[datetime, datetime]:
    """Run the period; returns it as ``(start, end)`` (the day, local midnight to midnight)."""
    rng = random.Random(seed)
    cal = ctx.calendar
    opens = datetime.combine(day.date(), cal.opens, cal.zone)
    span = (datetime.combine(day.date(), cal.closes, cal.zone) - opens).total_seconds() - 7200
    events: list[tuple[datetime, int, str, Any]] = []
    serial = 0

    def push(when: datetime, kind: str, payload: Any) -> None:
        nonlocal serial
        serial += 1
        heapq.heappush(events, (when, serial, kind, payload))

    for _ in range(cases_n):
        push(opens + timedelta(seconds=rng.uniform(0, span)), "arrive", None)
    people = [Actor(f"agent-{n}", frozenset({"telemarketing"})) for n in range(agents)]
    for person in people:
        push(opens, "free", person)
    queue: list[tuple[str | None, int, str]] = []  # (due_at, serial, task id)
    idle: list[Actor] = []

    def offer(found: list[TaskView]) -> None:
        nonlocal serial
        for task in found:
            serial += 1
            heapq.heappush(queue, (task.due_at, serial, task.id))
            push(clock.now(), "wake", None)

    while events:
        when, _, kind, payload = heapq.heappop(events)
        clock.set(max(when, clock.now()))
        if kind == "arrive":
            offer(cases.start_case(ctx, STARTER, "three_steps", {}, version=1).open_tasks)
            continue
        if kind == "done":
            person, task_id, element = payload
            data = ANSWER.get(element) or {
                "offer_response": "accepted" if rng.random() < 0.4 else "declined"
            }
            offer(tasks.complete(ctx, person, task_id, data).next_tasks)
            idle.append(person)
        elif kind == "free":
            idle.append(payload)
        while idle and queue:
            is_open, next_open = _open(ctx, clock.now())
            if not is_open:
                for person in idle:
                    push(next_open, "free", person)
                idle.clear()
                break
            person = idle.pop(0)
            _due, _, task_id = heapq.heappop(queue)
            claimed = claims.claim(ctx, person, task_id)
            duration = timedelta(minutes=rng.expovariate(1 / handling))
            push(clock.now() + duration, "done", (person, task_id, claimed.element_id))
    start = datetime.combine(day.date(), datetime.min.time(), cal.zone)
    return start, start + timedelta(days=1)
