"""HTTP load: agents working the queue through the REST API.

Sets up a database (a fresh SQLite file, or PostgreSQL with --pg-url) with the
``three_steps`` process, ``--cases`` open cases and ``--ballast`` more open work items
(100,000 by default, due later than the real ones, so they weigh on the queue index
without being picked), starts ``uvicorn`` on 127.0.0.1 in its own process, then runs
``--agents`` asynchronous agents (httpx) for ``--seconds``, each looping

    GET /api/tasks (queue) -> POST claim -> GET task -> POST complete

and prints requests/s and p50/p95/p99 per endpoint against the targets of issue 4
(p95 claim and complete <= 25 ms, p95 queue <= 20 ms, >= 200 requests/s), plus each
endpoint's p50 as a ratio to ``GET /health`` measured in the same run (the framework's
bare round trip: the baseline).

Two load models, both run by default, one after the other on the same server:

* **paced** (``--rate``, default 220 requests/s offered in total, 10 % above the target so
  that "at >= 200 requests/s" can be shown): each agent sends its
  next request at its next slot (every ``agents / rate`` seconds). Latency is measured
  from the *scheduled* slot, so a request that had to wait because the previous one was
  slow counts its wait too (no coordinated omission). This is the targets' reading:
  latency *at* 200 requests/s. The run fails the throughput target when the server could
  not keep up with the offered rate.
* **saturation** (``--rate 0``): agents loop without pause. Latency then follows from
  Little's law (agents / throughput): it shows the ceiling, not the service level.

    python bench/http_load.py [--seconds 20] [--agents 8] [--rate 200] [--cases 2000]
                              [--ballast 100000] [--workers 1] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from retention_flow.core.clock import SystemClock  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.db.tables import WORK_ITEM  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.cases import lifecycle as cases  # noqa: E402
from retention_flow.services.people import users  # noqa: E402
from retention_flow.services.platform.bootstrap import build_context  # noqa: E402
from retention_flow.services.platform.context import Actor, AppContext  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402

BUNDLE = ROOT / "tests" / "data" / "three_steps"
FORMS = {
    "call_customer": {"call_result": "reached"},
    "present_offer": {"offer_response": "accepted"},
    "confirm_change": {"confirmation_channel": "sms"},
}
PASSWORD = "bench-password-123"  # noqa: S105
SECRET = "bench-secret-" + "x" * 40
#: the served instance's RETENTION_FLOW_METRICS_TOKEN (GET /metrics is not public)
METRICS_TOKEN = "bench-metrics-" + "m" * 20
TARGETS_P95_MS = {"queue": 20.0, "claim": 25.0, "complete": 25.0}
TARGET_RPS = 200.0
#: the paced run offers this much, so the achieved rate can show the target is met
PACED_RPS = 1.1 * TARGET_RPS


def setup(settings: Settings, n_cases: int, ballast: int, agents: int) -> None:
    ctx = build_context(settings, migrate=True)
    starter = Actor("seed", frozenset({"agent", "telemarketing"}))
    processes.deploy(ctx, load_bundle_path(BUNDLE), Actor("owner", frozenset({"process_owner"})))
    t0 = time.perf_counter()
    for i in range(n_cases):
        cases.start_case(ctx, starter, "three_steps", {"customer_id": f"C-{i}"})
    print(f"setup: {n_cases} cases in {time.perf_counter() - t0:.1f} s")
    add_ballast(ctx, ballast)
    for i in range(agents):
        users.add_user(ctx, f"agent{i}", PASSWORD, ["agent", "telemarketing"])
    ctx.dispose()


def add_ballast(ctx: AppContext, total: int) -> None:
    """Open work items due 30+ days out, on one case: the queue index holds them all."""
    if total <= 0:
        return
    holder = cases.start_case(ctx, Actor("seed", frozenset({"agent"})), "three_steps", {})
    now = SystemClock().now()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "case_id": holder.id,
            "business_key": None,
            "process_id": "three_steps",
            "element_id": "call_customer",
            "name": "Call customer",
            "role": "telemarketing",
            "state": "ready",
            "claimed_by": None,
            "claimed_at": None,
            "due_at": now + timedelta(days=30, minutes=i % 50_000),
            "priority": i % 100,
            "form": None,
            "created_at": now,
            "ended_at": None,
            "ended_by": None,
        }
        for i in range(total)
    ]
    with ctx.db.begin() as conn:
        for start in range(0, total, 10_000):
            conn.execute(insert(WORK_ITEM), rows[start : start + 10_000])
        if ctx.db.dialect.name != "postgresql":
            conn.execute(text("ANALYZE"))
    if ctx.db.dialect.name == "postgresql":
        # vacuum after the bulk load, or autovacuum does it during the measured run
        with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"setup: {total:,} ballast work items")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "retention_flow.api.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)  # noqa: S603
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become ready")


class Recorder:
    """Latency samples per endpoint. With ``interval`` set, requests are paced: each is
    sent at its slot and timed from it (a late send counts its lateness)."""

    def __init__(self, interval: float = 0.0) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.interval = interval

    async def call(
        self, name: str, client: httpx.AsyncClient, method: str, url: str, **kw: Any
    ) -> httpx.Response:
        t0 = time.perf_counter()
        slot = getattr(client, "next_slot", None)
        if self.interval and slot is not None:
            if slot > t0:
                await asyncio.sleep(slot - t0)
            t0 = slot  # timed from the schedule, not from when we got round to it
            client.next_slot = slot + self.interval  # type: ignore[attr-defined]
        response = await client.request(method, url, **kw)
        self.samples[name].append((time.perf_counter() - t0) * 1000)
        self.statuses[name][response.status_code] += 1
        return response


def login_all(base: str, agents: int, prefix: str = "agent") -> list[str]:
    """Tokens for the users ``{prefix}0..``, fetched before the clock starts (a login hashes
    a password on purpose slowly: it is not part of an agent's loop)."""
    return [
        httpx.post(
            f"{base}/api/auth/token",
            data={"username": f"{prefix}{i}", "password": PASSWORD},
            timeout=30,
        ).json()["access_token"]
        for i in range(agents)
    ]


async def agent_loop(
    base: str, token: str, until: float, rec: Recorder, rng: random.Random, offset: float
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        # agents' slots are spread evenly over one interval
        client.next_slot = time.perf_counter() + offset  # type: ignore[attr-defined]
        while time.perf_counter() < until:
            page = (await rec.call("queue", client, "GET", "/api/tasks?limit=20")).json()["data"]
            if not page:
                await asyncio.sleep(0.05)
                continue
            task = rng.choice(page[:10])
            claimed = await rec.call("claim", client, "POST", f"/api/tasks/{task['id']}/claim")
            if claimed.status_code != 200:
                continue  # someone else was faster: back to the queue
            detail = (await rec.call("get", client, "GET", f"/api/tasks/{task['id']}")).json()
            data = FORMS[detail["element_id"]]
            await rec.call(
                "complete", client, "POST", f"/api/tasks/{task['id']}/complete", json={"data": data}
            )


async def health_baseline(base: str, until: float, rec: Recorder) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.perf_counter() < until:
            await rec.call("health", client, "GET", "/health")
            await asyncio.sleep(0.05)


def server_totals(base: str) -> dict[str, tuple[float, float]]:
    """(count, seconds) per route inside the app, from its own Prometheus histogram."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    scraped = httpx.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    scraped.raise_for_status()
    for line in scraped.text.splitlines():
        for suffix, into in (("_sum{", sums), ("_count{", counts)):
            if line.startswith("retention_flow_http_request_duration_seconds" + suffix):
                route = line.split('route="', 1)[1].split('"', 1)[0]
                into[route] += float(line.rsplit(" ", 1)[1])
    return {route: (counts[route], sums[route]) for route in counts}


def server_side(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> None:
    print("server side (inside the app, one worker's view): mean ms per request")
    rows = []
    for route, (count, total) in after.items():
        count0, total0 = before.get(route, (0.0, 0.0))
        if count > count0:
            rows.append((count - count0, route, (total - total0) / (count - count0) * 1000))
    for count, route, mean in sorted(rows, reverse=True):
        print(f"  {route:<34}{count:>8.0f}{mean:>9.2f}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(rec: Recorder, seconds: float, offered: float) -> None:
    total = sum(len(v) for k, v in rec.samples.items() if k != "health")
    rps = total / seconds
    base = statistics.median(rec.samples["health"]) if rec.samples["health"] else float("nan")
    print(f"\n{'endpoint':<10}{'n':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'p50/health':>12}  statuses")  # fmt: skip
    for name in ("queue", "claim", "get", "complete", "health"):
        values = rec.samples.get(name, [])
        if not values:
            continue
        p50, p95, p99 = pct(values, 0.5), pct(values, 0.95), pct(values, 0.99)
        target = TARGETS_P95_MS.get(name)
        mark = "" if target is None else ("  ok" if p95 <= target else f"  MISS (p95 > {target})")
        print(
            f"{name:<10}{len(values):>8}{len(values) / seconds:>9.1f}{p50:>9.2f}{p95:>9.2f}"
            f"{p99:>9.2f}{p50 / base:>12.1f}  {dict(rec.statuses[name])}{mark}"
        )
    verdict = "ok" if rps >= TARGET_RPS else f"MISS (< {TARGET_RPS:.0f})"
    if offered and rps < 0.97 * offered:
        verdict += f"; the server did not keep up with the offered {offered:.0f} requests/s"
    print(f"\nthroughput: {rps:.1f} requests/s  {verdict}")


def run_load(
    base: str, tokens: list[str], seconds: float, rate: float, quiet: bool = False
) -> None:
    agents = len(tokens)
    interval = agents / rate if rate else 0.0
    title = f"paced at {rate:.0f} requests/s offered" if rate else "saturation (no pause)"
    if not quiet:
        print(f"\n== {title}: {agents} agents for {seconds:.0f} s")
    rec = Recorder(interval)
    started = time.perf_counter()
    until = started + seconds
    rng = random.Random(7)

    async def run() -> None:
        await asyncio.gather(
            health_baseline(base, until, rec),
            *(
                agent_loop(base, token, until, rec, rng, interval * i / agents)
                for i, token in enumerate(tokens)
            ),
        )

    asyncio.run(run())
    if not quiet:
        report(rec, time.perf_counter() - started, rate)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, not measured")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="offered requests/s in total for a paced run; 0 = saturation (repeatable; "
        f"default: {PACED_RPS:.0f}, then 0)",
    )
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--ballast", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--pg-url", default=os.environ.get("RETENTION_FLOW_BENCH_PG_URL"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.pg_url or f"sqlite:///{tmp}/http_load.db"
        env = {
            **os.environ,
            "RETENTION_FLOW_DATABASE_URL": url,
            "RETENTION_FLOW_SECRET_KEY": SECRET,
            "RETENTION_FLOW_METRICS_TOKEN": METRICS_TOKEN,
            "PYTHONPATH": str(ROOT / "src"),
            # the API alone, as measured before serve ran a worker thread
            "RETENTION_FLOW_SERVE_WORKER": "false",
        }
        settings = Settings(database_url=url, secret_key=SECRET)
        setup(settings, args.cases, args.ballast, args.agents)
        port = free_port()
        server = start_server(env, port, args.workers)
        try:
            base = f"http://127.0.0.1:{port}"
            tokens = login_all(base, args.agents)
            if args.warmup > 0:  # first use compiles the bundle and warms the caches
                print(f"\nwarm-up: {args.warmup:.0f} s, not measured")
                run_load(base, tokens, args.warmup, 0.0, quiet=True)
            for rate in args.rate or [PACED_RPS, 0.0]:
                before = server_totals(base)
                run_load(base, tokens, args.seconds, rate)
                server_side(before, server_totals(base))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
