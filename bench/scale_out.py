"""Scale-out: 1, 2 and 4 serving processes (``retention-flow up --api N``) on one
PostgreSQL, agents working whole cases over HTTP.

For each N the bench starts ``retention-flow up --api N --workers 1`` on 127.0.0.1 (one
port, SO_REUSEPORT), then runs ``--agents`` asynchronous agents (httpx, loopback only)
for ``--seconds``, each looping

    POST /api/cases -> for each of its 3 tasks: POST claim -> GET task -> POST complete

and prints cases/s, tasks/s and p50/p95 per call, the ratio of cases/s to the
one-process run of the same invocation, and what PostgreSQL saw meanwhile (sampled from
``pg_stat_activity`` and ``pg_locks`` every 0.25 s: connections, backends waiting on a
lock, ungranted locks, the commonest wait events), then where scaling stops (the first N
whose cases/s gains less than 15 % on the N before it). The database is a schema of its
own on the server of ``--pg-url`` (dropped afterwards).

    python bench/scale_out.py [--processes 1,2,4] [--seconds 20] [--agents 16]
                              [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import ROOT, percentile, pg_database, sqlite_database  # noqa: E402
from _deploy import Up  # noqa: E402
from http_load import FORMS, PASSWORD, SECRET  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.db.session import create_db_engine  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.people import users  # noqa: E402
from retention_flow.services.platform.bootstrap import build_context  # noqa: E402
from retention_flow.services.platform.context import Actor  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402

BUNDLE = ROOT / "tests" / "data" / "three_steps"
CALLS = ("start", "claim", "get", "complete")
#: a process count whose cases/s gains less than this over the one before has stopped scaling
SCALING_GAIN = 1.15


def setup(url: str, agents: int) -> None:
    ctx = build_context(Settings(database_url=url, secret_key=SECRET), migrate=True)
    processes.deploy(ctx, load_bundle_path(BUNDLE), Actor("owner", frozenset({"process_owner"})))
    for i in range(agents):
        users.add_user(ctx, f"agent{i}", PASSWORD, ["agent", "telemarketing"])
    ctx.dispose()


class PgWatch:
    """Samples connections and lock waits of the bench's database while the load runs."""

    QUERY = text(
        "SELECT count(*) AS connections,"
        " count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock_waits,"
        " count(*) FILTER (WHERE state = 'active') AS active,"
        " (SELECT count(*) FROM pg_locks l WHERE NOT l.granted) AS ungranted,"
        " string_agg(wait_event_type || ':' || wait_event, ',')"
        "   FILTER (WHERE state = 'active' AND wait_event IS NOT NULL) AS waits"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url)
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.wait(0.25):
                row = conn.execute(self.QUERY).mappings().one()
                conn.commit()
                self.samples.append(dict(row))

    def __enter__(self) -> PgWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        waits: Counter[str] = Counter()
        for sample in self.samples:
            waits.update(w for w in (sample["waits"] or "").split(",") if w)
        n = len(self.samples)
        return {
            "connections_max": max(s["connections"] for s in self.samples),
            "active_mean": sum(s["active"] for s in self.samples) / n,
            "lock_waits_mean": sum(s["lock_waits"] for s in self.samples) / n,
            "lock_waits_max": max(s["lock_waits"] for s in self.samples),
            "ungranted_max": max(s["ungranted"] for s in self.samples),
            "top_waits": [f"{k} {v / n:.2f}" for k, v in waits.most_common(3)],
        }


async def agent(base: str, token: str, until: float, out: dict[str, list[float]]) -> int:
    """Whole cases, one after the other; returns the cases completed."""
    done = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:

        async def call(name: str, method: str, url: str, **kw: Any) -> httpx.Response:
            began = time.perf_counter()
            response = await http.request(method, url, **kw)
            out[name].append((time.perf_counter() - began) * 1000)
            if response.status_code >= 400:
                out["errors"].append(float(response.status_code))
            return response

        while time.perf_counter() < until:
            body = {"process_id": "three_steps", "data": {"customer_id": f"C-{done}"}}
            case = (await call("start", "POST", "/api/cases", json=body)).json()
            while case.get("open_tasks") and time.perf_counter() < until:
                task = case["open_tasks"][0]
                await call("claim", "POST", f"/api/tasks/{task['id']}/claim")
                detail = (await call("get", "GET", f"/api/tasks/{task['id']}")).json()
                data = {"data": FORMS[detail["element_id"]]}
                url = f"/api/tasks/{task['id']}/complete"
                case = (await call("complete", "POST", url, json=data)).json()["case"]
                out["tasks"].append(1.0)
            if not case.get("open_tasks") and case.get("status") == "completed":
                done += 1
    return done


def tokens(base: str, agents: int) -> list[str]:
    return [
        httpx.post(
            f"{base}/api/auth/token",
            data={"username": f"agent{i}", "password": PASSWORD},
            timeout=60,
        ).json()["access_token"]
        for i in range(agents)
    ]


def run_round(url: str, api: int, args: argparse.Namespace) -> dict[str, Any]:
    up = Up(url, api, args.workers, SECRET)
    try:
        up.ready(api)
        keys = tokens(up.base, args.agents)
        out: dict[str, list[float]] = defaultdict(list)
        if args.warmup:
            # each process compiles the bundle and warms its caches on first use
            asyncio.run(_load(up.base, keys, args.warmup * api, defaultdict(list)))
        watch = PgWatch(url)
        with watch if url.startswith("postgresql") else nullcontext():
            began = time.perf_counter()
            cases = asyncio.run(_load(up.base, keys, args.seconds, out))
            took = time.perf_counter() - began
        restarts = [e for e in up.events if e["event"] == "exited"]
    finally:
        up.stop()
    return {
        "api": api,
        "cases_s": cases / took,
        "tasks_s": len(out["tasks"]) / took,
        "p50": {c: percentile(out[c], 0.5) for c in CALLS if out[c]},
        "p95": {c: percentile(out[c], 0.95) for c in CALLS if out[c]},
        "errors": Counter(int(e) for e in out["errors"]),
        "exited": len(restarts),
        "pg": watch.summary(),
    }


async def _load(base: str, keys: list[str], seconds: float, out: dict[str, list[float]]) -> int:
    until = time.perf_counter() + seconds
    return sum(await asyncio.gather(*(agent(base, k, until, out) for k in keys)))


def report(rows: list[dict[str, Any]]) -> None:
    base = rows[0]["cases_s"] or float("nan")
    print(f"\n{'api':>4}{'cases/s':>9}{'tasks/s':>9}{'x 1 proc':>9}  p95 ms (p50) per call")
    for row in rows:
        calls = "  ".join(f"{c} {row['p95'][c]:.0f} ({row['p50'][c]:.0f})" for c in row["p95"])
        print(
            f"{row['api']:>4}{row['cases_s']:>9.1f}{row['tasks_s']:>9.1f}"
            f"{row['cases_s'] / base:>9.2f}  {calls}"
        )
    print("\nPostgreSQL while loaded (sampled every 0.25 s):")
    for row in rows:
        print(f"  api={row['api']}: {row['pg']}  errors={dict(row['errors'])}")
    stop = next(
        (b for a, b in itertools.pairwise(rows) if b["cases_s"] < SCALING_GAIN * a["cases_s"]),
        None,
    )
    if stop is None:
        print(f"\nscaling: every step gained >= {SCALING_GAIN:.2f}x")
    else:
        waits = stop["pg"].get("lock_waits_mean", 0.0)
        print(
            f"\nscaling stops at {stop['api']} serving processes "
            f"(cases/s x{stop['cases_s'] / base:.2f} of one process; {os.cpu_count()} cores; "
            f"lock waits mean {waits:.2f}, connections max {stop['pg'].get('connections_max')})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3, help="seconds per serving process")
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RETENTION_FLOW_BENCH_PG_URL")
        or os.environ.get("RETENTION_FLOW_TEST_DATABASE_URL"),
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead (CI)")
    args = parser.parse_args()
    if not args.sqlite and not (args.pg_url or "").startswith("postgresql"):
        raise SystemExit("scale_out runs on PostgreSQL: --pg-url or RETENTION_FLOW_BENCH_PG_URL")
    counts = [int(n) for n in args.processes.split(",")]
    print(f"scale-out: {counts} serving processes + {args.workers} worker, {args.agents} agents,")
    where = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"{args.seconds:.0f} s each, {where}, {os.cpu_count()} cores, load {os.getloadavg()}")
    with sqlite_database() if args.sqlite else pg_database(args.pg_url) as url:
        setup(url, args.agents)
        rows = [run_round(url, n, args) for n in counts]
    report(rows)


if __name__ == "__main__":
    main()
