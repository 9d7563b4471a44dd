"""A day of retention volume through the service layer, on processes/retention.

``--cases`` cases (a full day is about 20,000) arrive across the four channels
(``--mix``): outbound cases in two campaign batches (08:00 and 13:00), the others
between 08:00 and 18:00 with late-morning and afternoon peaks. Simulated people
work their queues from 08:00 to 20:00 with a staff scaled to the volume: ``list_queue``
by role (partners see only their own organisation's leads), then ``complete``, with
outcomes drawn at realistic rates from a fixed seed. The worker (``fire_timers_once``)
fires what is due as a FrozenClock moves in 5-minute steps through the day and the
following days (retries the next day, call and callback SLAs, partner SLAs of 3 days,
mail deadlines of 14 + 14 days). Returned mail response forms come back as
``response_form_received`` messages (correlated by case number) days after the letter
was written. The simulation runs until every case has ended.

Prints cases/s and tasks/s (over the wall time of the whole run, and over the time spent
inside the service layer alone, so that a full day can be extrapolated), the mean cost
per service call, SLA adherence (share of work items completed before their due_at, from
the work_item table) per role, and outcomes and retention rate per channel (from the
case table). On SQLite (temp file) and, when RETENTION_FLOW_BENCH_PG_URL is set, on
PostgreSQL (a schema of its own, dropped afterwards).

    python bench/simulate_day.py [--cases 2000] [--seed 7]
                                 [--mix outbound=40,inbound=30,mail=20,partner=10]

HTTP mode (``--http``, bench/day_http.py): the same day, people and answers driven over
loopback HTTP (httpx.AsyncClient, at most ``--concurrency`` requests in flight) against
``retention-flow up --api N --workers M`` running on a simulated clock, at ``--multiples``
of the baseline volume (below), each on a fresh database: a scratch PostgreSQL database
``daysim_*`` (dropped afterwards), or a SQLite file with 1 API process (``--sqlite``).
Prints per multiple throughput, p95 per endpoint, case starts behind plan, SLA adherence
and backlog per queue at the end of the simulated day and the load average, then the
headroom: the highest multiple sustained (starts at most 5 simulated minutes late at p95,
every endpoint's p95 under ``--p95-limit-ms``, backlog per case at most 1.5x the lowest
multiple's), and the multiple computed from the saturation point.

    python bench/simulate_day.py --http [--multiples 1,10,50] [--speed 240] [--api 2]
                                 [--workers 1] [--pg-url URL | --sqlite | --db-url URL]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, select

from _common import backends, customer, make_context, pg_url
from retention_flow.core.clock import FrozenClock
from retention_flow.core.errors import MessageNotCorrelated, RetentionFlowError
from retention_flow.db.tables import CASE, LETTER, TIMER, WORK_ITEM
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.tasks import work_items as tasks

T = TypeVar("T")

DAY = datetime.fromisoformat("2026-01-05T00:00:00+00:00")  # a Monday
OPEN, CLOSE = 8, 20  # people work 08:00-20:00 every day
#: cases arrive 08:00-18:00 on the first day, with peaks late morning and afternoon ...
ARRIVAL_HOURS = {8: 6, 9: 10, 10: 12, 11: 12, 12: 9, 13: 9, 14: 11, 15: 12, 16: 10, 17: 9}
#: ... except outbound cases: the campaign's batch job starts them at 08:00 and 13:00
CAMPAIGN_BATCHES = (8, 13)
TICK = timedelta(minutes=5)
HORIZON = timedelta(days=45)
FULL_DAY = 20_000

PROCESS = {
    "outbound": "outbound_telemarketing",
    "inbound": "inbound_callcentre",
    "mail": "mail_response",
    "partner": "sales_partner",
}
STARTER = {
    "outbound": Actor("campaign", frozenset({"telemarketing"})),
    "inbound": Actor("ib-desk", frozenset({"inbound"})),
    "mail": Actor("mail-desk", frozenset({"back_office"})),
    "partner": Actor("partner-desk", frozenset({"back_office"})),
}
#: tasks per hour the staff of each queue completes on a 20,000-case day (scaled down
#: with --cases); partner organisations each work their own leads
STAFF = {
    "inbound": 1500.0,
    "telemarketing": 950.0,
    "specialist": 280.0,
    "team_lead": 400.0,
    "back_office": 300.0,
    "partner:p_alpha": 70.0,
    "partner:p_beta": 70.0,
    "partner:p_gamma": 45.0,
    "partner:p_delta": 35.0,
}
OFFERS = ("NEW_DEVICE", "DISCOUNT_20", "UPGRADE_DATA", "DISCOUNT_10", "LOYALTY_BONUS")
REASONS = ("price", "competitor_offer", "service", "coverage", "moving", "other")
REASON_WEIGHTS = (35, 20, 15, 10, 10, 10)
PARTNER_NEGLECTS = 0.08  # leads a partner never works: its 3-day SLA re-allocates them
OCR = Actor("ocr-intake", frozenset({"back_office"}))


class Timed:
    """Wall time spent inside service-layer calls, by operation."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def __call__(self, kind: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[kind] += time.perf_counter() - started
            self.calls[kind] += 1

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Sim:
    ctx: AppContext
    clock: FrozenClock
    seed: int
    scale: float
    timed: Timed = field(default_factory=Timed)
    #: (when, serial, kind, payload): case arrivals and returned forms, in time order
    events: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)
    serial: int = 0
    arriving: int = 0
    budget: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    leads_seen: set[str] = field(default_factory=set)
    neglected: set[str] = field(default_factory=set)
    letters_seen: set[str] = field(default_factory=set)
    letters_since: datetime = DAY
    counts: Counter[str] = field(default_factory=Counter)
    draws: Counter[tuple[str, str]] = field(default_factory=Counter)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # the arrival plan

    def now(self) -> datetime:
        return self.clock.now()

    def rng_for(self, subject: str, what: str) -> random.Random:
        """The n-th draw about one case: the same whatever order the queues come in."""
        self.draws[subject, what] += 1
        return random.Random(f"{self.seed}/{subject}/{what}/{self.draws[subject, what]}")

    def schedule(self, when: datetime, kind: str, payload: dict[str, Any]) -> None:
        self.serial += 1
        heapq.heappush(self.events, (when, self.serial, kind, payload))


# --------------------------------------------------------------------------- people


def people(queue: str) -> tuple[Actor, str | None]:
    """Who works a queue (a rotating name is not needed: nobody works both sides of a
    four-eyes pair), and the role to list."""
    if queue.startswith("partner:"):
        org = queue.split(":", 1)[1]
        return Actor(f"{org}-agent", frozenset({"partner"}), org), None
    return Actor(f"{queue}-agent", frozenset({queue})), queue


def answer(sim: Sim, actor: Actor, item: TaskView) -> dict[str, Any]:
    """What the person enters in the task's form (some read the case first)."""
    element = item.element_id
    rng = sim.rng_for(item.business_key or item.case_id, element)
    return choose(rng, element, sim.now(), lambda: context(sim, actor, item))


def choose(
    rng: random.Random,
    element: str,
    now: datetime,
    read_context: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """The form data for task ``element``, drawn from ``rng`` at realistic rates;
    ``read_context`` gives the task's context (the case data) where the answer needs it.
    Shared by the in-process simulation and its HTTP mode (bench/day_http.py)."""
    if element == "call_customer":
        if rng.random() >= 0.6:
            return {"reached": False}
        outcome = rng.choices(("accepted", "declined", "callback", "do_not_call"), (33, 40, 17, 10))
        data: dict[str, Any] = {"reached": True, "call_outcome": outcome[0]}
        if outcome[0] == "declined":
            data["reason"] = rng.choices(REASONS, REASON_WEIGHTS)[0]
        return data
    if element == "escalate_overdue_call":
        actions = ("reminded_agent", "reassigned", "called_myself", "no_action")
        return {"action_taken": rng.choices(actions, (50, 25, 15, 10))[0]}
    if element == "capture_reason":
        return {"cancellation_reason": rng.choices(REASONS, REASON_WEIGHTS)[0]}
    if element == "present_offer":
        return {"offer_response": "accepted" if rng.random() < 0.42 else "declined"}
    if element == "specialist_callback":
        if rng.random() >= 0.45:
            return {"final_response": "declined", "note": "insists on cancelling"}
        eligible = read_context().get("eligible_offers") or ["LOYALTY_BONUS"]
        offer = rng.choice(eligible) if rng.random() < 0.95 else rng.choice(OFFERS)
        return {"final_response": "accepted", "final_offer": offer}
    if element == "overdue_callback":
        return {"overdue_action": rng.choices(("assign", "extend", "close"), (50, 30, 20))[0]}
    if element == "confirm_cancellation":
        effective = (now + timedelta(days=30)).date().isoformat()
        return {"cancellation_confirmed": True, "effective_date": effective}
    if element == "verify_response_form":
        form = read_context().get("response_form") or {}
        chosen = form.get("chosen_offer", "none") if rng.random() < 0.9 else "none"
        return {"chosen_offer": chosen, "signed": bool(form.get("signed"))}
    if element == "work_lead":
        result = rng.choices(("retained", "declined", "not_reached"), (45, 35, 20))[0]
        if result == "retained":
            return {"partner_outcome": result, "offer_code": rng.choice(OFFERS[1:])}
        return {"partner_outcome": result}
    if element == "validate_claim":
        if rng.random() < 0.92:
            return {"claim_valid": True}
        return {"claim_valid": False, "note": "customer denies having agreed"}
    raise AssertionError(f"no simulated answer for {element}")


def context(sim: Sim, actor: Actor, item: TaskView) -> dict[str, Any]:
    view = sim.timed("get_task", tasks.get_task, sim.ctx, actor, item.id)
    return dict(view.context or {})


def work_queue(sim: Sim, queue: str, hours: float) -> None:
    """The queue's staff completes what it can in ``hours`` (earliest due first)."""
    sim.budget[queue] += STAFF[queue] * sim.scale * hours
    actor, role = people(queue)
    while sim.budget[queue] >= 1:
        want = min(500, math.floor(sim.budget[queue]) + len(sim.neglected))
        page = sim.timed("list_queue", tasks.list_queue, sim.ctx, actor, role=role, limit=want)
        if role is None:  # a partner: some leads are never worked
            for item in page:
                if item.id not in sim.leads_seen:
                    sim.leads_seen.add(item.id)
                    draw = sim.rng_for(item.business_key or item.case_id, "neglect")
                    if draw.random() < PARTNER_NEGLECTS:
                        sim.neglected.add(item.id)
        page = [t for t in page if t.id not in sim.neglected]
        if not page:
            sim.budget[queue] = 0  # idle: capacity is not saved up
            return
        for item in page[: math.floor(sim.budget[queue])]:
            follow = [item]
            while follow and sim.budget[queue] >= 1:  # e.g. present_offer in the same call
                current = follow.pop()
                sim.budget[queue] -= 1
                data = answer(sim, actor, current)
                try:
                    result = sim.timed("complete", tasks.complete, sim.ctx, actor, current.id, data)
                except RetentionFlowError as exc:
                    sim.counts[f"refused: {exc.code}"] += 1
                    continue
                sim.counts["tasks"] += 1
                follow.extend(result.next_tasks)


# --------------------------------------------------------------------------- the day


def plan_arrivals(sim: Sim, total: int, mix: dict[str, float]) -> None:
    channels = list(mix)
    weights = [mix[c] for c in channels]
    hours = list(ARRIVAL_HOURS)
    for serial in range(1, total + 1):
        channel = sim.rng.choices(channels, weights)[0]
        if channel == "outbound":  # the batch job takes a quarter of an hour
            hour = sim.rng.choice(CAMPAIGN_BATCHES)
            when = DAY + timedelta(hours=hour + sim.rng.random() / 4)
        else:
            hour = sim.rng.choices(hours, [ARRIVAL_HOURS[h] for h in hours])[0]
            when = DAY + timedelta(hours=hour + sim.rng.random())
        sim.schedule(when, "arrival", {"serial": serial, "channel": channel})
    sim.arriving = total


def run_events(sim: Sim, until: datetime) -> None:
    """Cases arriving and forms coming back up to ``until``, each at its own time."""
    while sim.events and sim.events[0][0] <= until:
        when, _serial, kind, payload = heapq.heappop(sim.events)
        sim.clock.set(when)
        if kind == "arrival":
            channel = payload["channel"]
            serial = payload["serial"]
            data = customer(random.Random(f"{sim.seed}/customer/{serial}"), serial, when.date())
            sim.timed(
                "start_case",
                cases.start_case,
                sim.ctx,
                STARTER[channel],
                PROCESS[channel],
                data,
                business_key=data["case_number"],
            )
            sim.arriving -= 1
            sim.counts[f"started {channel}"] += 1
            continue
        try:
            sim.timed(
                "message",
                cases.correlate_message,
                sim.ctx,
                OCR,
                "response_form_received",
                {"case_number": payload["case_number"]},
                payload,
            )
            sim.counts["messages"] += 1
        except MessageNotCorrelated:
            sim.counts["forms too late"] += 1


def post_returned_forms(sim: Sim) -> None:
    """Letters with a response form written since the last look: decide whether and when
    the customer sends the form back (a message, some days later)."""
    with sim.ctx.db.connect() as conn:
        rows = conn.execute(
            select(
                LETTER.c.id, LETTER.c.case_number, LETTER.c.offer_codes, LETTER.c.created_at
            ).where(
                and_(LETTER.c.kind == "response_form", LETTER.c.created_at >= sim.letters_since)
            )
        ).all()
    sim.letters_since = sim.now()
    for row in rows:
        if row.id in sim.letters_seen:
            continue
        sim.letters_seen.add(row.id)
        rng = sim.rng_for(row.case_number, "response_form")
        draw = rng.random()
        if draw < 0.55:  # back before the 14-day deadline
            delay = timedelta(days=rng.uniform(2, 13))
        elif draw < 0.65:  # back after the reminder
            delay = timedelta(days=rng.uniform(15, 27))
        else:
            continue
        offers = list(row.offer_codes or [])
        pick = rng.random()
        if pick < 0.85 and offers:
            chosen = rng.choice(offers)
        elif pick < 0.93:
            chosen = "none"
        else:
            chosen = next((o for o in OFFERS if o not in offers), "none")
        payload = {
            "case_number": row.case_number,
            "chosen_offer": chosen,
            "signed": rng.random() < 0.92,
            "uncertain": rng.random() < 0.12,
        }
        sim.schedule(_aware(row.created_at) + delay, "form", payload)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=DAY.tzinfo)


def fire_timers(sim: Sim) -> None:
    while True:
        fired = sim.timed("fire_timers", worker.fire_timers_once, sim.ctx, "sim-worker")
        sim.counts["timers"] += fired
        if not fired:
            return


def working(at: datetime) -> bool:
    return OPEN <= at.hour < CLOSE


def next_opening(at: datetime) -> datetime:
    day = at.replace(hour=OPEN, minute=0, second=0, microsecond=0)
    return day if at < day else day + timedelta(days=1)


def on_grid(at: datetime) -> datetime:
    """The first clock step at or after ``at`` (steps are TICK apart from DAY)."""
    steps = math.ceil((at - DAY) / TICK)
    return DAY + steps * TICK


def state(sim: Sim) -> tuple[int, int, datetime | None]:
    """(active cases, ready work items someone will work, earliest pending timer)."""
    with sim.ctx.db.connect() as conn:
        active = conn.execute(
            select(func.count()).select_from(CASE).where(CASE.c.status == "active")
        ).scalar_one()
        ready = select(func.count()).select_from(WORK_ITEM).where(WORK_ITEM.c.state == "ready")
        if sim.neglected:
            ready = ready.where(WORK_ITEM.c.id.not_in(sim.neglected))
        workable = conn.execute(ready).scalar_one()
        timer = conn.execute(
            select(func.min(TIMER.c.due_at)).where(TIMER.c.state == "pending")
        ).scalar_one()
    return int(active), int(workable), _aware(timer) if timer is not None else None


def simulate(sim: Sim) -> int:
    """Run until every case has ended; returns the number of clock steps."""
    now = DAY + timedelta(hours=min(ARRIVAL_HOURS))
    steps = 0
    last_work = now
    while now < DAY + HORIZON:
        steps += 1
        run_events(sim, now)
        sim.clock.set(now)
        fire_timers(sim)
        if working(now):
            hours = min(now - last_work, TICK) / timedelta(hours=1)
            for queue in STAFF:
                work_queue(sim, queue, hours)
            last_work = now
        post_returned_forms(sim)
        active, workable, timer = state(sim)
        if not active and not sim.arriving:
            return steps
        candidates = []
        if workable:
            candidates.append(now + TICK if working(now + TICK) else next_opening(now))
        if sim.events:
            candidates.append(sim.events[0][0])
        if timer is not None:
            candidates.append(timer + timedelta(seconds=1))  # fires strictly after due
        if not candidates:
            raise AssertionError(f"{active} cases active, but nothing will move them")
        now = max(on_grid(min(candidates)), now + TICK)
    return steps


# --------------------------------------------------------------------------- report


def report(label: str, sim: Sim, wall: float, cpu: float, steps: int) -> None:
    c, timed = sim.counts, sim.timed
    mix = {ch: c[f"started {ch}"] for ch in PROCESS if c[f"started {ch}"]}
    started = sum(mix.values())
    sim_days = (sim.now() - DAY) / timedelta(days=1)
    print(
        f"({label}) {started:,} cases ({', '.join(f'{k} {v}' for k, v in mix.items())})"
        f" over {sim_days:.1f} simulated days, {steps:,} clock steps: {c['tasks']:,} tasks"
        f" completed, {c['timers']:,} timers fired, {c['messages']:,} mail forms returned"
    )
    service = timed.total
    print(
        f"({label}) wall {wall:6.1f} s (this process on CPU {cpu:5.1f} s): {started / wall:5.1f}"
        f" cases/s {c['tasks'] / wall:6.1f} tasks/s;  inside the service layer {service:6.1f} s:"
        f" {started / service:5.1f} cases/s {c['tasks'] / service:6.1f} tasks/s"
    )
    print(
        f"({label}) a {FULL_DAY:,}-case day at this rate: about"
        f" {service / started * FULL_DAY / 60:.0f} min of service-layer time in one process"
    )
    ops = "  ".join(
        f"{kind} {timed.seconds[kind] / timed.calls[kind] * 1000:.1f} ms"
        for kind in ("start_case", "complete", "get_task", "list_queue", "message", "fire_timers")
        if timed.calls[kind]
    )
    per_timer = timed.seconds["fire_timers"] / max(1, c["timers"]) * 1000
    print(f"({label}) mean per call: {ops}  (firing: {per_timer:.1f} ms per timer fired)")
    refused = {k: v for k, v in c.items() if k.startswith("refused") or k == "forms too late"}
    if refused:
        print(f"({label}) not applied: {refused}")
    with sim.ctx.db.connect() as conn:
        on_time = func.sum(case((WORK_ITEM.c.ended_at <= WORK_ITEM.c.due_at, 1), else_=0))
        sla = conn.execute(
            select(WORK_ITEM.c.role, WORK_ITEM.c.state, func.count(), on_time).group_by(
                WORK_ITEM.c.role, WORK_ITEM.c.state
            )
        ).all()
        outcomes = conn.execute(
            select(CASE.c.channel, CASE.c.status, CASE.c.outcome, func.count()).group_by(
                CASE.c.channel, CASE.c.status, CASE.c.outcome
            )
        ).all()
    done: Counter[str] = Counter()
    met: Counter[str] = Counter()
    other: dict[str, Counter[str]] = defaultdict(Counter)
    for role, item_state, count, in_time in sla:
        if item_state == "completed":
            done[role] += count
            met[role] += int(in_time or 0)
        else:
            other[role][item_state] += count
    roles = "  ".join(
        f"{role} {met[role] / done[role]:.1%} of {done[role]}"
        + (f" ({', '.join(f'{n} {s}' for s, n in other[role].items())})" if other[role] else "")
        for role in sorted(done)
    )
    total_done = sum(done.values())
    print(
        f"({label}) SLA adherence (completed before due_at): "
        f"{sum(met.values()) / max(1, total_done):.1%} of {total_done:,} work items;  {roles}"
    )
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for channel, status, outcome, count in outcomes:
        by_channel[channel or "-"][outcome if status == "completed" else status] += count
    for channel in ("outbound", "inbound", "mail", "partner"):
        counter = by_channel.get(channel)
        if not counter:
            continue
        ended = sum(n for k, n in counter.items() if k not in ("active", "incident"))
        shares = ", ".join(f"{k} {n}" for k, n in counter.most_common())
        rate = counter["retained"] / ended if ended else float("nan")
        print(f"({label}) {channel:>8}: retention {rate:6.1%} of {ended} ended  ({shares})")


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        channel, _, weight = part.partition("=")
        if channel not in PROCESS:
            raise SystemExit(f"unknown channel '{channel}' in --mix (one of {', '.join(PROCESS)})")
        try:
            mix[channel] = float(weight)
        except ValueError:
            raise SystemExit(f"--mix: '{part}' needs a number after '='") from None
    return mix


def run_backend(label: str, make_db: Any, args: argparse.Namespace) -> None:
    mix = parse_mix(args.mix)
    with make_db() as url:
        clock = FrozenClock(DAY)
        ctx = make_context(url, clock)
        try:
            sim = Sim(ctx, clock, args.seed, args.cases / FULL_DAY)
            plan_arrivals(sim, args.cases, mix)
            started, cpu = time.perf_counter(), time.process_time()
            steps = simulate(sim)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            report(label, sim, wall, cpu, steps)
        finally:
            ctx.dispose()


def run_http(args: argparse.Namespace) -> None:
    """--http: the day over loopback HTTP against ``retention-flow up`` at each multiple."""
    import os
    from contextlib import AbstractContextManager

    from _common import sqlite_database
    from _day_report import Outcome, headroom, print_run, read_end_of_day
    from day_http import VOLUME_MODEL, Run, daysim_database, peak_hour_factor, plan, simulate

    multiples = [float(m) for m in args.multiples.split(",")]
    share = args.share if args.share is not None else 1 / args.speed
    if args.db_url and len(multiples) != 1:
        raise SystemExit("--db-url takes one multiple (each run needs an empty database)")
    if args.sqlite and (args.api != 1 or args.workers != 1):
        raise SystemExit("on SQLite the HTTP mode runs 1 API process and 1 worker")
    if not (args.sqlite or args.db_url or (args.pg_url or "").startswith("postgresql")):
        raise SystemExit(
            "--http needs --pg-url (or RETENTION_FLOW_BENCH_PG_URL), --sqlite or --db-url"
        )

    def database() -> AbstractContextManager[str]:
        if args.db_url:
            return nullcontext(args.db_url)
        return sqlite_database() if args.sqlite else daysim_database(args.pg_url)

    label = "SQLite" if (args.sqlite or (args.db_url or "").startswith("sqlite")) else "PostgreSQL"
    print(VOLUME_MODEL)
    print(
        f"\n{label}, retention-flow up --api {args.api} --workers {args.workers}; client"
        f" concurrency {args.concurrency}; {os.cpu_count()} cores, load {os.getloadavg()}"
    )
    outcomes = []
    mix = parse_mix(args.mix)
    whole = Run(1, 1, 1, args.hours, args.seed, mix, 1)  # a whole baseline day
    print(f"peak-hour factor of the arrivals: {peak_hour_factor(plan(whole)):.2f}")
    for multiple in multiples:
        run = Run(multiple, args.speed, share, args.hours, args.seed, mix, args.concurrency)
        with database() as url:
            wall = simulate(url, run, args.api, args.workers, args.startup)
            outcome = Outcome(run, wall)
            print_run(label, outcome, args.p95_limit_ms)
            read_end_of_day(url, outcome, label)
        outcomes.append(outcome)
    print()
    headroom(label, outcomes, args.p95_limit_ms)


def main() -> None:
    from day_http import COMPRESSION, VOLUME_MODEL

    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=f"{VOLUME_MODEL}\n\n{COMPRESSION}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=2000, help="cases arriving on the day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mix", default="outbound=40,inbound=30,mail=20,partner=10")
    http = parser.add_argument_group("HTTP mode (--http)")
    http.add_argument("--http", action="store_true", help="drive retention-flow up over HTTP")
    http.add_argument("--multiples", default="1,10,50", help="of the baseline volume")
    http.add_argument("--speed", type=float, default=240.0, help="simulated s per wall s")
    http.add_argument("--share", type=float, help="of the cases and staff (default 1/speed)")
    http.add_argument("--hours", type=float, default=12.0, help="simulated, from 08:00")
    http.add_argument("--api", type=int, default=2, help="serving processes")
    http.add_argument("--workers", type=int, default=1, help="worker processes")
    http.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    http.add_argument("--startup", type=float, default=40.0, help="wall s to get ready")
    http.add_argument("--p95-limit-ms", type=float, default=500.0, help="p95 a multiple may reach")
    http.add_argument("--pg-url", default=pg_url(), help="server for daysim_* databases")
    http.add_argument("--sqlite", action="store_true", help="a SQLite file, 1 API process")
    http.add_argument("--db-url", help="an empty database to use as is (one multiple)")
    args = parser.parse_args()
    if args.http:
        run_http(args)
        return
    for label, make_db in backends():
        run_backend(label, make_db, args)
    if len(backends()) == 1:
        print("(PostgreSQL: not run; set RETENTION_FLOW_BENCH_PG_URL)")


if __name__ == "__main__":
    main()
