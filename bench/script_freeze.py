"""Script freeze probe: does a hostile diagram script freeze the serving process?

Serves the app with ``uvicorn`` (a subprocess, one process) on a fresh SQLite database
(PostgreSQL with --pg-url) with the C-level attack diagram of the hostile-script tests
(``tests/data/hostile/c_level.bpmn``) deployed, and polls ``GET /health`` every
``--interval`` seconds from a thread of its own in three phases:

1. **baseline**: nothing else runs;
2. **hostile load**: ``--attackers`` threads start cases over the API
   (``POST /api/cases {"process_id": "hostile_c_level", "data": {"attack": ...}}``), each
   case's script task an attack that does its damage inside one C call (comparing, hashing
   or sorting exponentially shared tuples, ``str`` of a huge list...) or eats memory, one
   after the other for ``--seconds``;
3. the same load on a server with ``RETENTION_FLOW_SCRIPT_WORKERS=0`` (scripts in the
   serving process, as before the worker pool; skip with ``--no-in-process``).

Prints the p50/p95/p99/max of ``/health`` per phase (target under hostile load: p99 < 50 ms),
the ratio of each to the baseline, how many hostile cases were started, how they ended
(all must be incidents) and how long their requests took.

    python bench/script_freeze.py [--seconds 15] [--attackers 4] [--interval 0.01]
                                  [--budget 1.0] [--pg-url URL] [--no-in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pg_database, sqlite_database  # noqa: E402
from http_load import free_port, login_all, start_server  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.people import users  # noqa: E402
from retention_flow.services.platform.bootstrap import build_context  # noqa: E402
from retention_flow.services.platform.context import Actor  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402

DIAGRAM = ROOT / "tests" / "data" / "hostile" / "c_level.bpmn"
PASSWORD = "bench-password-123"  # noqa: S105
SECRET = "bench-secret-" + "x" * 40
TARGET_P99_MS = 50.0
#: attacks that hold the GIL in one C call for long, or allocate hard (c_level.json)
ATTACKS = [
    "compare_deep_tuples",
    "compare_shared_tuples",
    "hash_shared_tuple",
    "sort_shared_tuples",
    "str_of_repeated_list",
    "memory_exhaustion",
    "huge_result",
    "shared_result",
    "product_expansion",
]
#: in the serving process the unbounded ones never end: the in-process phase runs only
#: this one (about 2 s of comparing in one C call; in a worker it is killed at the budget)
IN_PROCESS_ATTACKS = ["compare_deep_tuples"]


def setup(settings: Settings, attackers: int) -> None:
    ctx = build_context(settings, migrate=True)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "c_level"
        bundle.mkdir()
        shutil.copy(DIAGRAM, bundle)
        owner = Actor("owner", frozenset({"process_owner"}))
        processes.deploy(ctx, load_bundle_path(bundle), owner)
    for i in range(attackers):
        users.add_user(ctx, f"attacker{i}", PASSWORD, ["agent"])
    ctx.dispose()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]

    return {
        "p50": statistics.median(ordered),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
    }


def poll_health(base: str, until: float, interval: float) -> list[float]:
    samples = []
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            response = client.get("/health")
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise SystemExit(f"/health answered {response.status_code}")
            samples.append(elapsed * 1000)
            time.sleep(max(0.0, interval - elapsed))
    return samples


def attack(
    base: str,
    token: str,
    until: float,
    offset: int,
    attacks: list[str],
    log: list[tuple[str, str, float]],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    n = offset
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        while time.perf_counter() < until:
            name = attacks[n % len(attacks)]
            n += 1
            t0 = time.perf_counter()
            response = client.post(
                "/api/cases", json={"process_id": "hostile_c_level", "data": {"attack": name}}
            )
            elapsed = time.perf_counter() - t0
            status = (
                response.json().get("status", "?")
                if response.status_code == 201
                else f"HTTP {response.status_code}"
            )
            log.append((name, status, elapsed))


def run_phase(
    base: str, tokens: list[str], seconds: float, interval: float, attacks: list[str]
) -> tuple[list[float], list[tuple[str, str, float]]]:
    until = time.perf_counter() + seconds
    log: list[tuple[str, str, float]] = []
    threads = [
        threading.Thread(target=attack, args=(base, token, until, i, attacks, log))
        for i, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    samples = poll_health(base, until, interval)
    for thread in threads:
        thread.join()
    return samples, log


def report(label: str, samples: list[float], baseline: dict[str, float] | None) -> dict[str, float]:
    figures = percentiles(samples)
    line = "   ".join(f"{k} {v:7.2f} ms" for k, v in figures.items())
    print(f"{label:<34} n={len(samples):5d}   {line}")
    if baseline:
        ratios = "   ".join(f"{k} x{figures[k] / baseline[k]:.1f}" for k in figures)
        print(f"{'':<34} vs baseline: {ratios}")
    return figures


def report_attacks(log: list[tuple[str, str, float]]) -> None:
    statuses = Counter(status for _name, status, _elapsed in log)
    names = sorted({name for name, _status, _elapsed in log})
    print(f"{'':<34} attacks: {', '.join(names)}")
    print(f"{'':<34} hostile cases started: {len(log)}   ended: {dict(statuses)}")
    by_attack: dict[str, list[float]] = {}
    for name, _status, elapsed in log:
        by_attack.setdefault(name, []).append(elapsed)
    worst = ", ".join(f"{n} {max(v):.2f} s" for n, v in sorted(by_attack.items()))
    print(f"{'':<34} slowest request per attack: {worst}")


def serve(url: str, workers: int, budget: float) -> tuple[str, subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": url,
        "RETENTION_FLOW_SECRET_KEY": SECRET,
        "RETENTION_FLOW_SCRIPT_WORKERS": str(workers),
        "RETENTION_FLOW_SCRIPT_BUDGET_SECONDS": str(budget),
        "PYTHONPATH": str(ROOT / "src"),
    }
    port = free_port()
    return f"http://127.0.0.1:{port}", start_server(env, port, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--attackers", type=int, default=4, help="concurrent hostile requests")
    parser.add_argument("--interval", type=float, default=0.01, help="/health poll interval")
    parser.add_argument("--budget", type=float, default=1.0, help="script budget (seconds)")
    parser.add_argument("--pg-url", default=os.environ.get("RETENTION_FLOW_BENCH_PG_URL"))
    parser.add_argument("--no-in-process", action="store_true", help="skip phase 3")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.pg_url:  # a schema of its own, dropped afterwards
            url = stack.enter_context(pg_database(args.pg_url))
        else:
            url = stack.enter_context(sqlite_database())
        setup(Settings(database_url=url, secret_key=SECRET), args.attackers)
        phases = [("worker pool (default: 2 workers)", 2, ATTACKS)]
        if not args.no_in_process:
            phases.append(("in process (SCRIPT_WORKERS=0)", 0, IN_PROCESS_ATTACKS))
        print(
            f"/health every {args.interval * 1000:.0f} ms for {args.seconds:.0f} s per phase; "
            f"{args.attackers} concurrent hostile case starts; budget {args.budget} s"
        )
        baseline = None
        for label, workers, attacks in phases:
            base, server = serve(url, workers, args.budget)
            try:
                tokens = login_all(base, args.attackers, prefix="attacker")
                # warm-up: the first case compiles the bundle
                httpx.post(
                    f"{base}/api/cases",
                    json={"process_id": "hostile_c_level", "data": {"attack": "none"}},
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                    timeout=60,
                )
                if baseline is None:
                    samples = poll_health(base, time.perf_counter() + args.seconds, args.interval)
                    baseline = report("baseline (no hostile load)", samples, None)
                samples, log = run_phase(base, tokens, args.seconds, args.interval, attacks)
                figures = report(f"hostile load, {label}", samples, baseline)
                report_attacks(log)
                verdict = "met" if figures["p99"] < TARGET_P99_MS else "NOT met"
                print(f"{'':<34} target p99 < {TARGET_P99_MS:.0f} ms: {verdict}")
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


if __name__ == "__main__":
    main()
