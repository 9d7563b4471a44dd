"""Faults as a repeatable script: kill -9 and server restarts under load, then count.

Starts its own PostgreSQL and Redis (``_servers.py``: restarting the machine's shared
servers would break other people's work), ``retention-flow up --api 2 --workers 2
--ocr-workers 1`` on 127.0.0.1, and ``--agents`` asynchronous agents (httpx, loopback
only) for ``--seconds``. Each agent, in turn:

* starts a ``timers`` case (its timer falls due ``TIMER_SECONDS`` later; the workers
  fire it) with an ``Idempotency-Key`` and its key as the business key;
* starts a ``three_steps`` case (keyed the same way) and works its three tasks (claim,
  complete).

A request that fails (connection refused or reset, 5xx, 409 in flight) is sent again,
the same key with the same body, until ``RETRY_SECONDS`` pass. Acknowledged operations
are the 2xx answers. Meanwhile, at moments drawn from ``--seed``, the bench kills -9 a
serving process (twice), a worker and the Celery OCR worker (the supervisor starts each
again), restarts PostgreSQL (``pg_ctl restart -m fast``) and Redis (kill -9, start). At
the end it waits for every due timer, then prints:

* acknowledged operations, and **lost** ones: an acknowledged case start with no case,
  an acknowledged completion whose task is not completed (must be 0);
* **doubled**: cases per key, timer firings per case, task completions per task, and
  letters, contract changes (bookings) and settlement lines per case (must be 0; the
  product-only ones are counted though these two diagrams write none);
* recovery time per fault: from the fault to the next acknowledged request, and the
  timers' lateness (fired minus due) whose worst case is bounded by the lease;
* ``verify-audit`` on the database afterwards.

Exit status 1 when anything was lost or doubled or the audit trail does not verify.

    python bench/faults.py [--seconds 60] [--agents 8] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import ROOT  # noqa: E402
from _deploy import Up  # noqa: E402
from _servers import PrivatePostgres, PrivateRedis  # noqa: E402
from fault_checks import check_database, timer_lateness  # noqa: E402
from http_load import FORMS, PASSWORD, SECRET  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.people import users  # noqa: E402
from retention_flow.services.platform.bootstrap import build_context  # noqa: E402
from retention_flow.services.platform.context import Actor  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402

DATA = ROOT / "tests" / "data"
SRC = str(ROOT / "src")
TIMER_SECONDS = 3
RETRY_SECONDS = 30.0
#: how long a killed process may take to run (and listen) again
BOOT_SECONDS = 90.0
#: the load goes on at least this long after each fault
TAIL_SECONDS = 5.0
#: how long a keyed request that died blocks its retries (the product's default is 120 s)
PENDING_SECONDS = "10"
RETRY = {409, 500, 502, 503, 504}
KILLS = ("api", "api", "worker", "ocr")


@dataclass
class Tally:
    acked_starts: dict[str, str] = field(default_factory=dict)  # key -> case id
    acked_completes: list[str] = field(default_factory=list)  # task ids
    acks: list[float] = field(default_factory=list)  # monotonic times of 2xx answers
    failures: int = 0
    gave_up: int = 0


def setup(url: str, agents: int) -> None:
    ctx = build_context(Settings(database_url=url, secret_key=SECRET), migrate=True)
    owner = Actor("owner", frozenset({"process_owner"}))
    processes.deploy(ctx, load_bundle_path(DATA / "three_steps"), owner)
    timers = load_bundle_path(DATA / "timers")
    timers["timers.bpmn"] = timers["timers.bpmn"].replace(
        b'"PT2H"', f'"PT{TIMER_SECONDS}S"'.encode()
    )
    processes.deploy(ctx, timers, owner)
    for i in range(agents):
        users.add_user(ctx, f"agent{i}", PASSWORD, ["agent", "telemarketing"])
    ctx.dispose()


def _retry(response: httpx.Response) -> bool:
    if response.status_code == 409:
        return "idempotency_key_in_flight" in response.text
    return response.status_code in RETRY


async def send(
    http: httpx.AsyncClient, tally: Tally, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    """The request until it is answered (not 5xx, not 409 in flight) or RETRY_SECONDS."""
    deadline = time.monotonic() + RETRY_SECONDS
    while time.monotonic() < deadline:
        try:
            response = await http.request(method, url, **kw)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code < 400:
            tally.acks.append(time.monotonic())
            return response
        if response is not None and not _retry(response):
            return response  # answered (a 409 other than in flight: the task moved on)
        tally.failures += 1
        await asyncio.sleep(0.2)
    tally.gave_up += 1
    return None


async def start(http: httpx.AsyncClient, tally: Tally, process: str) -> dict[str, Any] | None:
    key = uuid.uuid4().hex
    body = {"process_id": process, "business_key": key, "data": {"customer_id": key[:8]}}
    answer = await send(
        http, tally, "POST", "/api/cases", json=body, headers={"Idempotency-Key": key}
    )
    if answer is None or answer.status_code != 201:
        return None
    case = dict(answer.json())
    tally.acked_starts[key] = case["id"]
    return case


async def agent(base: str, token: str, until: list[float], tally: Tally) -> None:
    """Work until ``until[0]`` (moved on by the fault thread while faults remain)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
        while time.monotonic() < until[0]:
            await start(http, tally, "timers")
            case = await start(http, tally, "three_steps")
            while case and case.get("open_tasks") and time.monotonic() < until[0]:
                task = case["open_tasks"][0]
                claimed = await send(http, tally, "POST", f"/api/tasks/{task['id']}/claim")
                if claimed is None:
                    break
                data = {"data": FORMS[task["element_id"]]}
                done = await send(
                    http, tally, "POST", f"/api/tasks/{task['id']}/complete", json=data
                )
                if done is None or done.status_code != 200:
                    break
                tally.acked_completes.append(task["id"])
                case = done.json()["case"]


def tokens(base: str, agents: int) -> list[str]:
    out = []
    for i in range(agents):
        answer = httpx.post(
            f"{base}/api/auth/token",
            data={"username": f"agent{i}", "password": PASSWORD},
            timeout=60,
        )
        out.append(answer.json()["access_token"])
    return out


def inject(
    up: Up,
    servers: tuple[PrivatePostgres, PrivateRedis],
    plan: list[tuple[float, str]],
    log: list[Any],
    until: list[float],
) -> None:
    """Carry out the faults at their moments (seconds after the load began), one at a
    time: a killed process is back (a serving process listening again) before the next
    fault, as when an operator's machine loses one process at a time."""
    pg, redis = servers
    began, planned = time.monotonic(), until[0]
    for at, what in plan:
        time.sleep(max(0.0, began + at - time.monotonic()))
        until[0] = max(until[0], time.monotonic() + BOOT_SECONDS + TAIL_SECONDS)  # meanwhile
        when = time.monotonic()
        if what == "postgres":
            log.append((when, what, f"restart {pg.restart():.2f} s"))
        elif what == "redis":
            log.append((when, what, f"restart {redis.restart():.2f} s"))
        else:
            role, index = what.split(":")
            pid = up.pid(role, int(index))
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            back = up.back(role, int(index), pid, timeout=BOOT_SECONDS)
            shown = "not back" if back is None else f"back in {back:.1f} s"
            log.append((when, what, f"kill -9, {shown}"))
        until[0] = max(planned, time.monotonic() + TAIL_SECONDS)


def fault_plan(rng: random.Random, seconds: float, workers: int) -> list[tuple[float, str]]:
    kinds = [f"api:{i % 2}" for i in range(2)] + [f"worker:{rng.randrange(workers)}", "ocr:0"]
    kinds += ["postgres", "redis"]
    rng.shuffle(kinds)
    return sorted((rng.uniform(0.1, 0.8) * seconds, kind) for kind in kinds)


def recovery(log: list[Any], acks: list[float]) -> list[tuple[str, str, float | None]]:
    acks = sorted(acks)
    out = []
    for when, what, note in log:
        after = next((a for a in acks if a > when), None)
        out.append((what, note, None if after is None else after - when))
    return out


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    pg, redis = PrivatePostgres(), PrivateRedis()
    try:
        setup(pg.url, args.agents)
        up = Up(
            pg.url, 2, args.workers, SECRET, "--ocr-workers", "1",
            RETENTION_FLOW_CELERY_BROKER_URL=redis.url,
            RETENTION_FLOW_WORKER_POLL_SECONDS="0.5",
            RETENTION_FLOW_IDEMPOTENCY_PENDING_SECONDS=PENDING_SECONDS,
        )  # fmt: skip
        try:
            up.ready(2)
            keys = tokens(up.base, args.agents)
            tally, log = Tally(), list[Any]()
            plan = fault_plan(rng, args.seconds, args.workers)
            until = [time.monotonic() + args.seconds]
            faults = threading.Thread(target=inject, args=(up, (pg, redis), plan, log, until))
            faults.start()

            async def load() -> None:
                await asyncio.gather(*(agent(up.base, k, until, tally) for k in keys))

            asyncio.run(load())
            faults.join()
            checks = check_database(pg.url, tally.acked_starts, tally.acked_completes)
        finally:
            up.stop()
        if os.environ.get("RETENTION_FLOW_BENCH_UP_LOG"):
            for event in up.events:
                print(event)
        lateness = timer_lateness(pg.url, TIMER_SECONDS)
        audit = subprocess.run(
            [sys.executable, "-m", "retention_flow.cli", "verify-audit", "--no-checkpoints"],
            env={
                **os.environ,
                "RETENTION_FLOW_DATABASE_URL": pg.url,
                "PYTHONPATH": str(ROOT / "src"),
            },
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        pg.stop()
        redis.stop()
    return report(args, tally, checks, recovery(log, tally.acks), lateness, audit.returncode == 0)


def report(
    args: argparse.Namespace,
    tally: Tally,
    checks: dict[str, Any],
    recovered: list[tuple[str, str, float | None]],
    lateness: dict[str, float],
    audit_ok: bool,
) -> int:
    acked = len(tally.acked_starts) + len(tally.acked_completes)
    print(f"faults: {args.seconds:.0f} s, {args.agents} agents, seed {args.seed}, "
          f"{os.cpu_count()} cores, idempotency pending {PENDING_SECONDS} s")  # fmt: skip
    print(f"acknowledged operations: {acked} ({len(tally.acked_starts)} case starts, "
          f"{len(tally.acked_completes)} completions); retried sends {tally.failures}, "
          f"given up {tally.gave_up}")  # fmt: skip
    print(f"lost: {checks['lost']}  {checks['lost_detail']}")
    print(f"doubled: {checks['doubled']}  {checks['doubled_detail']}")
    print(f"rows checked: {checks['rows']}")
    print("faults and recovery (to the next acknowledged request):")
    for what, note, took in recovered:
        shown = "no request answered after it" if took is None else f"{took:.2f} s"
        print(f"  {what:<10} {note:<24} {shown}")
    print(f"timer lateness (fired - due): {lateness}")
    print(f"verify-audit: {'ok' if audit_ok else 'FAILED'}")
    bad = checks["lost"] or checks["doubled"] or not audit_ok or not acked
    print("result: " + ("FAILED" if bad else "ok"))
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
