"""The what-if's discrete-event simulation (SimPy) of a recorded period's model
(services/insight/whatif_model.py) at a multiple of its volume with a staffing plan.

Time is seconds from the period's start. Each recorded case arrival becomes
``floor(volume)`` cases, plus one more with the probability of the fraction: the first
copy at the recorded moment, the others moved by up to half an hour either way. A case
walks its process's routing: a human task joins its role's queue (earliest due first),
an agent of the role handles it for a handling time drawn from the measured ones, then
the next task (or the end, with an outcome) is drawn from the measured branch counts.

Agents of a role work in the hours whose start the role's business calendar has open, as
many per local hour as the plan says (``staffing[role][hour]``); a task in hand is
finished past the shift. The run goes on after the period (same plan every day) until
every case has ended, nobody on duty from now on could work what is left, or ``DRAIN``
has passed. Everything random comes from one ``random.Random(seed)``, and SimPy
orders simultaneous events by their scheduling order: the same seed gives the same answer.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

import simpy

from retention_flow.services.insight.whatif_model import Model

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
    capacity: dict[str, list[int]] = field(default_factory=dict)
    serial: int = 0
    open_cases: int = 0
    busy: int = 0
    #: per branch counter (by id: the model's counters live as long as the run)
    cumulative: dict[int, tuple[list[Any], list[int]]] = field(default_factory=dict)

    def draw(self, counts: Counter[Any]) -> Any:
        found = self.cumulative.get(id(counts))
        if found is None:
            keys = list(counts)
            found = self.cumulative[id(counts)] = (keys, list(accumulate(counts[k] for k in keys)))
        return self.rng.choices(found[0], cum_weights=found[1])[0]


def _capacity(model: Model, plan: list[int], role: str, hours: int) -> list[int]:
    """Agents of ``role`` on duty in each hour from the period's start: the plan's number
    for the local hour, where the role's calendar is open at the hour's start."""
    calendar = model.calendars[role]
    out = []
    for hour in range(hours):
        local = (model.start + timedelta(hours=hour)).astimezone(calendar.zone)
        open_ = (
            calendar.is_workday(local.date()) and calendar.opens <= local.time() < calendar.closes
        )
        out.append(plan[local.hour] if open_ else 0)
    return out


def _until(capacity: list[int], hour: int, agent: int, on: bool) -> int:
    """The first hour from ``hour`` at which agent ``agent`` is (``on``) or is not on duty."""
    while hour < len(capacity) and (capacity[hour] > agent) != on:
        hour += 1
    return hour


def _agent(run: Run, role: str, agent: int) -> Any:
    """One agent: off duty, sleep until the next shift; on duty, take the earliest-due
    task (or wait for one until the shift ends) and handle it (past the shift's end)."""
    env, queue, capacity = run.env, run.queues[role], run.capacity[role]
    while True:
        hour = int(env.now // 3600)
        if hour >= len(capacity):
            return
        if capacity[hour] <= agent:
            yield env.timeout(max(_until(capacity, hour, agent, True) * 3600 - env.now, 1.0))
            continue
        get = queue.get()
        ends = _until(capacity, hour, agent, False) * 3600
        got = yield get | env.timeout(max(ends - env.now, 1.0))
        if get not in got:
            get.cancel()
            continue
        _due, _serial, task, key, case = got[get].item
        task.started = env.now
        run.busy += 1
        yield env.timeout(run.rng.choice(run.model.handling[key]))
        run.busy -= 1
        task.ended = env.now
        _next(run, key[0], key[1], case)


def _stuck(run: Run) -> bool:
    """Nobody is busy and no queue holding tasks has anyone on duty from now on."""
    if run.busy:
        return False
    hour = int(run.env.now // 3600)
    return all(
        not run.queues[role].items or max(cap[hour:], default=0) == 0
        for role, cap in run.capacity.items()
    )


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
    horizon = model.seconds + DRAIN.total_seconds()
    hours = math.ceil(horizon / 3600)
    for role in sorted(model.calendars):
        run.queues[role] = simpy.PriorityStore(run.env)
        run.capacity[role] = _capacity(model, staffing.get(role) or [0] * 24, role, hours)
        for agent in range(max(run.capacity[role], default=0)):
            run.env.process(_agent(run, role, agent))
    run.env.process(_arrivals(run))
    step = 3600.0
    while run.env.now < horizon:
        run.env.run(until=min(run.env.now + step, horizon))
        if run.env.now >= model.seconds and (run.open_cases == 0 or _stuck(run)):
            break
    return run.tasks, run.outcomes, run.env.now


def period_hours(model: Model, until: float) -> int:
    return max(1, math.ceil(until / 3600))


def hour_of(model: Model, hour: int) -> datetime:
    return model.start + timedelta(hours=hour)
