"""The what-if's discrete-event simulation (SimPy) of a recorded period's model
(services/whatif_model.py) at a multiple of its volume with a staffing plan.

Time is seconds from the period's start. Each recorded case arrival becomes
``floor(volume)`` cases, plus one more with the probability of the fraction: the first
copy at the recorded moment, the others moved by up to half an hour either way. A case
walks its process's routing: a human task joins its role's queue (earliest due first),
an agent of the role handles it for a handling time drawn from the measured ones, then
the next task (or the end, with an outcome) is drawn from the measured branch counts.

Agents of a role work while the role's business calendar is open, as many per local hour
as the plan says (``staffing[role][hour]``); a task in hand is finished past the hour. The
run goes on after the period (same plan every day) until every task is done or
``DRAIN`` has passed. Everything random comes from one ``random.Random(seed)``, and SimPy
orders simultaneous events by their scheduling order: the same seed gives the same answer.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy

from .whatif_model import Model

#: how long after the period the simulation may run to finish the period's tasks
DRAIN = timedelta(days=14)
JITTER = 1800.0


@dataclass
class Task:
    role: str
    created: float
    due: float
    started: float | None = None
    ended: float | None = None


@dataclass
class Run:
    model: Model
    volume: float
    staffing: dict[str, list[int]]
    rng: random.Random
    env: simpy.Environment = field(default_factory=simpy.Environment)
    queues: dict[str, simpy.PriorityStore] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    serial: int = 0
    open_cases: int = 0

    def draw(self, counts: Counter[Any]) -> Any:
        keys = list(counts)
        return self.rng.choices(keys, [counts[k] for k in keys])[0]


def _working(run: Run, role: str, now: float, agent: int) -> tuple[bool, float]:
    """Whether agent ``agent`` of ``role`` works at ``now``, and when the hour ends."""
    moment = run.model.start + timedelta(seconds=now)
    calendar = run.model.calendars[role]
    local = moment.astimezone(calendar.zone)
    hour_end = now + 3600 - (local.minute * 60 + local.second + local.microsecond / 1e6)
    plan = run.staffing.get(role) or [0] * 24
    if agent >= plan[local.hour] or not calendar.is_workday(local.date()):
        return False, hour_end
    return calendar.opens <= local.time() < calendar.closes, hour_end


def _agent(run: Run, role: str, agent: int) -> Any:
    env, queue = run.env, run.queues[role]
    while True:
        working, hour_end = _working(run, role, env.now, agent)
        if not working:
            yield env.timeout(max(hour_end - env.now, 1.0))
            continue
        get = queue.get()
        got = yield get | env.timeout(max(hour_end - env.now, 1.0))
        if get not in got:
            get.cancel()
            continue
        _due, _serial, task, key, case = got[get].item
        task.started = env.now
        yield env.timeout(run.rng.choice(run.model.handling[key]))
        task.ended = env.now
        _next(run, key[0], key[1], case)


def _enqueue(run: Run, process: str, element: str | None, case: dict[str, Any]) -> None:
    if element is None:
        last = case.get("last")
        counts = run.model.outcomes.get((process, last))
        if counts:
            run.outcomes[(process, run.draw(counts))] += 1
        run.open_cases -= 1
        return
    key = (process, element)
    now = run.env.now
    task = Task(run.model.role[key], now, now + run.model.due[key])
    run.tasks.append(task)
    run.serial += 1
    case["last"] = element
    item = (task.due, run.serial, task, key, case)
    run.queues[task.role].put(simpy.PriorityItem(item[:2], item))


def _next(run: Run, process: str, element: str, case: dict[str, Any]) -> None:
    counts = run.model.after.get((process, element))
    _enqueue(run, process, run.draw(counts) if counts else None, case)


def _arrivals(run: Run) -> Any:
    moments: list[tuple[float, str]] = []
    whole, fraction = math.floor(run.volume), run.volume - math.floor(run.volume)
    for process in sorted(run.model.arrivals):
        for at in run.model.arrivals[process]:
            copies = whole + (1 if run.rng.random() < fraction else 0)
            for n in range(copies):
                shift = 0.0 if n == 0 else run.rng.uniform(-JITTER, JITTER)
                moments.append((min(max(at + shift, 0.0), run.model.seconds - 1), process))
    moments.sort()
    run.open_cases = len(moments)
    for at, process in moments:
        if at > run.env.now:
            yield run.env.timeout(at - run.env.now)
        _enqueue(run, process, run.draw(run.model.first[process]), {})


def simulate(
    model: Model, volume: float, staffing: dict[str, list[int]], seed: int
) -> tuple[list[Task], Counter[tuple[str, str]], float]:
    """Run the model; the tasks (with their times), outcomes and the time simulated."""
    run = Run(model, volume, staffing, random.Random(seed))  # noqa: S311 -- a seeded simulation
    for role in sorted(model.calendars):
        run.queues[role] = simpy.PriorityStore(run.env)
        for agent in range(max(staffing.get(role) or [0])):
            run.env.process(_agent(run, role, agent))
    run.env.process(_arrivals(run))
    horizon = model.seconds + DRAIN.total_seconds()
    step = 3600.0
    while run.env.now < horizon:
        run.env.run(until=min(run.env.now + step, horizon))
        if run.open_cases == 0 and run.env.now >= model.seconds:
            break
    return run.tasks, run.outcomes, run.env.now


def period_hours(model: Model, until: float) -> int:
    return max(1, math.ceil(until / 3600))


def hour_of(model: Model, hour: int) -> datetime:
    return model.start + timedelta(hours=hour)
