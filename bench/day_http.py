"""HTTP mode of bench/simulate_day.py: the simulated day driven over loopback HTTP against
the multi-process deployment (``retention-flow up --api N --workers M``), with the day's
clock compressed. The volume model, the compression and the report are described in
``VOLUME_MODEL`` and ``COMPRESSION`` (printed by ``simulate_day.py --help``)."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import make_url, text

from _common import customer, make_context
from _day_cpu import CpuMeter
from _deploy import Up
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import create_db_engine
from retention_flow.services.people import users
from scale_out import PgWatch
from simulate_day import (
    ARRIVAL_HOURS,
    CAMPAIGN_BATCHES,
    DAY,
    FULL_DAY,
    PARTNER_NEGLECTS,
    PROCESS,
    STAFF,
    choose,
)

PASSWORD = "daysim-password-123"  # noqa: S105 (a throw-away database's users)
SECRET = "daysim-secret-" + "x" * 40
#: the simulated people's passwords, hashed cheaply (a throw-away database): logging them
#: in must not take the deployment's startup time
CHEAP_HASH = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8192}
OPENS = DAY + timedelta(hours=8)  # the simulated day starts at 08:00 ...
TICK = timedelta(minutes=5)  # ... and each queue's staff looks at its queue every 5 minutes
ENDPOINTS = ("start", "queue", "claim", "get", "complete")

VOLUME_MODEL = f"""\
Volume model (the baseline, 1x = today's volume): an operator with 15 million mobile and
fixed customers runs about 440,000 retention cases a month (2.9 % of the base a month),
{FULL_DAY:,} per working day over 22 working days, in four channels (--mix):
  outbound  40 %  176,000/month  contract-end campaign calls (about 28 % of the ~625,000
                                 24-month contracts that end each month)
  inbound   30 %  132,000/month  customers calling to cancel (0.9 % of the base a month,
                                 against monthly churn of 1-1.5 %: most leavers never call)
  mail      20 %   88,000/month  response-form letters to customers not reached by phone
  partner   10 %   44,000/month  leads handed to sales partners
Steps per case: 1 start + the human tasks of processes/retention (measured: the run prints
tasks and requests per case; each task costs claim + get + complete, plus the queue
listing). Arrivals 08:00-18:00 by the hourly profile of simulate_day (peaks late morning
and afternoon; peak hour 12 % of the day against a mean of 10 %, factor 1.2), outbound in
two campaign batches at 08:00 and 13:00 of a quarter of an hour each: the peak hour holds
2.55 times the mean hour's cases (the peak-hour factor, printed by the run). Staff works
08:00-20:00 at simulate_day's rates (tasks per hour per queue on a {FULL_DAY:,}-case day),
scaled with the volume: at 10x and 50x the operation has 10x and 50x the people, so any
backlog beyond 1x's per case is the deployment not keeping up. 10x (4.4 million cases a
month) is a group of brands on one platform; 50x exceeds the customer base of any single
operator: it is the stress multiple of the mission, not a plausible month."""

COMPRESSION = """\
Time compression: every process of the deployment runs the simulated clock
(RETENTION_FLOW_SIM_CLOCK_START/_ANCHOR/_SPEED: --speed simulated seconds per wall second,
one anchor for all, so they agree on the time); due times, SLA timers and retries are
computed and fired by the product itself (the worker polls every simulated minute). The
run simulates --share of the operation's cases and staff (default 1/--speed): the
deployment then receives per wall second the requests the whole operation sends per real
second at that multiple (offered load = share x speed, printed; 1.0 = the real rate).
Mail response forms come back days after the letter, after the simulated day: none in it."""


@dataclass
class Run:
    """One simulated day at one multiple of the baseline."""

    multiple: float
    speed: float
    share: float
    hours: float
    seed: int
    mix: dict[str, float]
    concurrency: int
    anchor: float = 0.0  # wall time of OPENS
    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[int] = field(default_factory=Counter)  # requests per simulated hour
    lag_minutes: list[float] = field(default_factory=list)  # case starts behind plan
    budget: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    neglected: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    draws: Counter[tuple[str, str]] = field(default_factory=Counter)
    load: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by side
    pg: dict[str, Any] = field(default_factory=dict)  # PgWatch's summary

    @property
    def cases(self) -> int:
        return max(1, round(FULL_DAY * self.multiple * self.share))

    @property
    def scale(self) -> float:
        """The staff's share of a {FULL_DAY}-case day's staff."""
        return self.multiple * self.share

    @property
    def ends(self) -> datetime:
        return OPENS + timedelta(hours=self.hours)

    def now(self) -> datetime:
        return OPENS + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    def wall(self, when: datetime) -> float:
        return self.anchor + (when - OPENS).total_seconds() / self.speed

    def rng_for(self, subject: str, what: str) -> random.Random:
        self.draws[subject, what] += 1
        return random.Random(f"{self.seed}/{subject}/{what}/{self.draws[subject, what]}")


def plan(run: Run) -> list[tuple[datetime, int, str]]:
    """(when, serial, channel) of the run's arrivals, as simulate_day plans them."""
    rng = random.Random(run.seed)
    channels, weights = list(run.mix), list(run.mix.values())
    hours = list(ARRIVAL_HOURS)
    out = []
    for serial in range(1, run.cases + 1):
        channel = rng.choices(channels, weights)[0]
        if channel == "outbound":
            at = DAY + timedelta(hours=rng.choice(CAMPAIGN_BATCHES) + rng.random() / 4)
        else:
            hour = rng.choices(hours, [ARRIVAL_HOURS[h] for h in hours])[0]
            at = DAY + timedelta(hours=hour + rng.random())
        out.append((at, serial, channel))
    return sorted(out)


def peak_hour_factor(arrivals: list[tuple[datetime, int, str]]) -> float:
    per_hour = Counter(when.hour for when, _s, _c in arrivals)
    return max(per_hour.values()) / (len(arrivals) / len(ARRIVAL_HOURS))


# --------------------------------------------------------------------------- users

STARTERS = {  # the channel's starting desk: user name and roles
    "outbound": ("campaign", ["agent", "telemarketing"]),
    "inbound": ("ib-desk", ["agent", "inbound"]),
    "mail": ("mail-desk", ["back_office"]),
    "partner": ("partner-desk", ["back_office"]),
}


def queue_user(queue: str) -> tuple[str, list[str], str | None, str | None]:
    """(user name, roles, partner organisation, the role the queue lists)."""
    if queue.startswith("partner:"):
        org = queue.split(":", 1)[1]
        return f"{org}-agent", ["partner"], org, None
    roles = [queue] if queue in ("team_lead", "back_office") else ["agent", queue]
    return f"{queue}-agent", roles, None, queue


def prepare(url: str) -> None:
    """Migrate, deploy processes/retention and add the simulated people."""
    ctx = make_context(url, FrozenClock(DAY), **CHEAP_HASH)
    try:
        for name, roles in STARTERS.values():
            users.add_user(ctx, name, PASSWORD, roles)
        for queue in STAFF:
            name, roles, org, _role = queue_user(queue)
            users.add_user(ctx, name, PASSWORD, roles, partner=org)
    finally:
        ctx.dispose()


def deployment_env(run: Run, startup: float) -> dict[str, str]:
    # people log in before the anchor, up to ``startup`` wall seconds of simulated time
    # before the day opens: their tokens must last from then to the day's end
    ttl_minutes = int(startup * run.speed / 60 + 60 * (run.hours + 24))
    return {
        **{f"RETENTION_FLOW_{k.upper()}": str(v) for k, v in CHEAP_HASH.items()},
        "RETENTION_FLOW_SIM_CLOCK_START": OPENS.isoformat(),
        "RETENTION_FLOW_SIM_CLOCK_ANCHOR": repr(run.anchor),
        "RETENTION_FLOW_SIM_CLOCK_SPEED": repr(run.speed),
        # tokens live through the simulated day; the worker looks every simulated minute;
        # leases last 10 wall seconds (their heartbeat runs on wall time)
        "RETENTION_FLOW_TOKEN_TTL_MINUTES": str(ttl_minutes),
        "RETENTION_FLOW_WORKER_POLL_SECONDS": repr(max(0.02, min(1.0, 60 / run.speed))),
        "RETENTION_FLOW_WORKER_LEASE_SECONDS": repr(min(3600.0, max(10.0, 10 * run.speed))),
    }


# --------------------------------------------------------------------------- the client


class Client:
    """One bounded httpx client (loopback only) with a token per simulated person."""

    def __init__(self, run: Run, base: str, tokens: dict[str, str]) -> None:
        if not base.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the day simulation drives loopback only, not {base}")
        self.run, self.tokens = run, tokens
        limits = httpx.Limits(max_connections=run.concurrency)
        self.http = httpx.AsyncClient(base_url=base, timeout=120, limits=limits)
        self.slots = asyncio.Semaphore(run.concurrency)

    async def call(
        self,
        endpoint: str,
        user: str,
        method: str,
        url: str,
        planned: datetime | None = None,
        **kw: Any,
    ) -> httpx.Response | None:
        """The answer, or None when refused (counted by endpoint and status) or lost (a
        connection closed under the request: counted; GETs and keyed starts, which are
        safe to repeat, are tried once more). With ``planned``, how late the request is
        sent (it may wait for a free slot) is kept."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}", **kw.pop("headers", {})}
        repeatable = method == "GET" or "Idempotency-Key" in headers
        async with self.slots:
            if planned is not None:
                late = (self.run.now() - planned) / timedelta(minutes=1)
                self.run.lag_minutes.append(max(0.0, late))
            self.run.by_hour[int((self.run.now() - DAY) / timedelta(hours=1))] += 1
            began = time.perf_counter()
            for attempt in (1, 2):
                try:
                    response = await self.http.request(method, url, headers=headers, **kw)
                    break
                except httpx.TransportError as exc:
                    self.run.errors[f"{endpoint} lost ({type(exc).__name__})"] += 1
                    if attempt == 2 or not repeatable:
                        return None
            self.run.calls[endpoint].append((time.perf_counter() - began) * 1000)
        if response.status_code >= 400:
            code = response.json().get("code", "") if response.content else ""
            self.run.errors[f"{endpoint} {response.status_code} {code}".strip()] += 1
            return None
        return response


async def log_in(base: str, names: list[str]) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        out = {}
        for name in names:
            answer = await http.post(
                "/api/auth/token", data={"username": name, "password": PASSWORD}
            )
            answer.raise_for_status()
            out[name] = answer.json()["access_token"]
        return out


async def arrivals(client: Client, planned: list[tuple[datetime, int, str]]) -> None:
    run, pending = client.run, []

    async def start(when: datetime, serial: int, channel: str) -> None:
        data = customer(random.Random(f"{run.seed}/customer/{serial}"), serial, when.date())
        body = {"process_id": PROCESS[channel], "data": data, "business_key": data["case_number"]}
        key = {"Idempotency-Key": data["case_number"]}
        answer = await client.call(
            "start", STARTERS[channel][0], "POST", "/api/cases", when, json=body, headers=key
        )
        if answer is not None:
            run.counts[f"started {channel}"] += 1

    for when, serial, channel in planned:
        await asyncio.sleep(max(0.0, run.wall(when) - time.time()))
        pending.append(asyncio.create_task(start(when, serial, channel)))
    # starts still waiting for a free slot when the day ends were never sent: the
    # deployment was that far behind (counted as not started)
    await asyncio.sleep(max(0.0, run.wall(run.ends) - time.time()))
    for task in pending:
        if not task.done():
            task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def work_item(client: Client, queue: str, user: str, item: dict[str, Any]) -> None:
    """Claim, open and complete a task, then the tasks it hands straight back."""
    run, follow = client.run, [item]
    while follow and run.budget[queue] >= 1 and run.now() < run.ends:  # home at 20:00
        task = follow.pop()
        run.budget[queue] -= 1
        if not await client.call("claim", user, "POST", f"/api/tasks/{task['id']}/claim"):
            continue
        opened = await client.call("get", user, "GET", f"/api/tasks/{task['id']}")
        if opened is None:
            continue
        detail = opened.json()
        rng = run.rng_for(task["business_key"] or task["case_id"], task["element_id"])

        def read_context(d: Any = detail) -> dict[str, Any]:
            return d["context"] or {}

        data = choose(rng, task["element_id"], run.now(), read_context)
        url = f"/api/tasks/{task['id']}/complete"
        done = await client.call("complete", user, "POST", url, json={"data": data})
        if done is not None:
            run.counts["tasks"] += 1
            follow.extend(t for t in done.json()["next_tasks"] if t["state"] == "ready")


async def staff(client: Client, queue: str) -> None:
    """The queue's people: every TICK their capacity of the time passed, spent on the
    queue's earliest-due tasks (several people at once: the page's tasks in parallel)."""
    run = client.run
    user, _roles, _org, role = queue_user(queue)
    last = OPENS
    while (now := run.now()) < run.ends:
        run.budget[queue] += STAFF[queue] * run.scale * ((now - last) / timedelta(hours=1))
        last = now
        page: list[dict[str, Any]] = []
        if run.budget[queue] >= 1:
            want = min(500, int(run.budget[queue]) + len(run.neglected))
            params: dict[str, Any] = {"limit": want, **({"role": role} if role else {})}
            listed = await client.call("queue", user, "GET", "/api/tasks", params=params)
            page = listed.json()["data"] if listed else []
        if role is None:  # a partner: some leads are never worked
            for task in page:
                if task["id"] not in run.seen:
                    run.seen.add(task["id"])
                    draw = run.rng_for(task["business_key"] or task["case_id"], "neglect")
                    if draw.random() < PARTNER_NEGLECTS:
                        run.neglected.add(task["id"])
        page = [t for t in page if t["id"] not in run.neglected][: int(run.budget[queue])]
        if run.budget[queue] >= 1 and not page:
            run.budget[queue] = 0.0  # idle: capacity is not saved up
        await asyncio.gather(*(work_item(client, queue, user, t) for t in page))
        await asyncio.sleep(max(0.0, run.wall(min(run.ends, run.now() + TICK)) - time.time()))


async def watch_load(run: Run) -> None:
    while run.now() < run.ends:
        run.load.append(os.getloadavg()[0])
        await asyncio.sleep(2)


async def drive(run: Run, base: str, tokens: dict[str, str], meter: CpuMeter) -> float:
    """The simulated day; returns its wall time."""
    client = Client(run, base, tokens)
    planned = plan(run)
    await asyncio.sleep(max(0.0, run.anchor - time.time()))
    began = time.perf_counter()
    meter.start()
    try:
        await asyncio.gather(
            arrivals(client, planned), watch_load(run), *(staff(client, q) for q in STAFF)
        )
    finally:
        meter.stop()
        await client.http.aclose()
    return time.perf_counter() - began


def measured(url: str, run: Run, up: Up, tokens: dict[str, str], api: int, workers: int) -> float:
    """Drive the day with the CPU meter and, on PostgreSQL, scale_out's PgWatch."""
    pids = [up.pid("api", i) for i in range(api)] + [up.pid("worker", i) for i in range(workers)]
    meter = CpuMeter(url, [p for p in pids if p is not None])
    watch = PgWatch(url) if url.startswith("postgresql") else None
    with watch if watch is not None else nullcontext():
        wall = asyncio.run(drive(run, up.base, tokens, meter))
    run.cpu = meter.seconds
    run.pg = watch.summary() if watch is not None else {}
    return wall


def simulate(url: str, run: Run, api: int, workers: int, startup: float) -> float:
    """Prepare the database, start the deployment on the simulated clock, drive the day,
    stop it. Returns the day's wall time. The clock's anchor is fixed when the processes
    start, so they get ``startup`` wall seconds to be ready; a deployment that is not (a
    busy machine) is stopped and started again with twice the time, four times at most
    (nothing has happened in the database yet)."""
    prepare(url)
    for _attempt in range(4):
        launched = time.time()
        run.anchor = launched + startup
        up = Up(url, api, workers, SECRET, **deployment_env(run, startup))
        try:
            up.ready(api, timeout=startup)
            names = [n for n, _r in STARTERS.values()] + [queue_user(q)[0] for q in STAFF]
            tokens = asyncio.run(log_in(up.base, names))
            took = time.time() - launched
            if time.time() < run.anchor:
                print(f"deployment ready, {len(tokens)} people logged in, after {took:.1f} s")
                return measured(url, run, up, tokens, api, workers)
        except SystemExit:  # Up.ready: not ready within the time
            took = time.time() - launched
        finally:
            up.stop()
        print(
            f"deployment not ready within {startup:.0f} s ({took:.1f} s):"
            f" again with {2 * startup:.0f} s"
        )
        startup *= 2
    raise SystemExit("the deployment did not get ready four times: is the machine overloaded?")


@contextmanager
def daysim_database(base_url: str) -> Iterator[str]:
    """A scratch PostgreSQL database ``daysim_<hex>`` on the server of ``base_url``,
    dropped afterwards."""
    name = f"daysim_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"database {name} (dropped afterwards)")
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
