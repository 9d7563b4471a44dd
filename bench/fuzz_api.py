"""The long API fuzz run: every operation, every role's user, many more examples than
the CI test (``tests/api/test_fuzz.py``), random (not derandomized) unless ``--seed``.

Sets up a database (a temp SQLite file, or a PostgreSQL schema of its own with
``--pg-url`` / RETENTION_FLOW_BENCH_PG_URL), one user per role, the ``three_steps`` and
``all_elements`` test bundles, a partner, a stored scan page and a few cases (their ids
fill the path parameters of some requests), then runs ``tests.api.fuzzing.fuzz`` on
the app in process and prints the operations, calls, answers by status class, failing
operation/role pairs (first lines of each), the run's time, and calls per second as a
ratio to ``GET /health`` calls measured in the same run (the baseline).

    python bench/fuzz_api.py [--seconds 600] [--examples 50] [--pg-url URL] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient  # noqa: E402
from tests.api.conftest import PASSWORD, USERS  # noqa: E402
from tests.api.fuzzing import fuzz  # noqa: E402
from tests.api.test_fuzz import known_ids  # noqa: E402
from tests.factories import SERVICE_HANDLERS, actor, deploy  # noqa: E402

from _common import pg_database  # noqa: E402
from retention_flow.api.app import create_app  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.db.migrate import upgrade  # noqa: E402
from retention_flow.db.session import create_db_engine  # noqa: E402
from retention_flow.services.cases import lifecycle as cases  # noqa: E402
from retention_flow.services.people import users  # noqa: E402
from retention_flow.services.platform.context import AppContext  # noqa: E402


def _tokens(client: TestClient) -> dict[str, dict[str, str]]:
    out = {}
    for name in USERS:
        answer = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
        answer.raise_for_status()
        out[name] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return out


def _health_rate(client: TestClient, seconds: float = 2.0) -> float:
    calls, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        client.get("/health")
        calls += 1
    return calls / (time.monotonic() - started)


def run(url: str, seconds: float, examples: int, seed: int | None) -> int:
    settings = Settings(database_url=url, password_hash_time_cost=1, password_hash_memory_kib=64)
    engine = create_db_engine(url, settings)
    upgrade(engine)
    ctx = AppContext(settings, engine=engine, service_handlers=SERVICE_HANDLERS)
    for name, (roles, partner) in USERS.items():
        users.add_user(ctx, name, PASSWORD, roles, partner)
    known = known_ids(ctx)  # three_steps, a partner, a case with an open task, a scan
    deploy(ctx, "all_elements")
    for i in range(5):
        cases.start_case(ctx, actor("starter"), "three_steps", {"customer_id": f"C-{i}"})
    app = create_app(ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = _tokens(client)
        baseline = _health_rate(client)
    if seed is not None:
        import random

        random.seed(seed)
    report = fuzz(
        app, tokens, examples=examples, seconds=seconds, derandomize=seed is not None, known=known
    )
    engine.dispose()
    rate = report.calls / report.seconds if report.seconds else 0.0
    print(f"database: {engine.dialect.name}; roles: {', '.join(tokens)}")
    print(f"operations: {report.operations_run} of {report.operations}")
    print(f"calls: {report.calls} in {report.seconds:.1f} s ({rate:.1f}/s)")
    for status, count in sorted(report.statuses.items()):
        print(f"  {status}: {count}")
    print(f"server errors (5xx): {report.server_errors}")
    for name, answers in report.by_operation.items():
        print(f"  {name}: {dict(sorted(answers.items()))}")
    print(f"failing operation/role pairs: {len(report.failures)}")
    for failure in report.failures:
        print("  - " + "\n    ".join(failure.splitlines()[:6]))
    print(
        f"baseline GET /health: {baseline:.1f} calls/s; fuzz calls / baseline: "
        f"{rate / baseline:.3f}"
    )
    if report.stopped_early:
        print("some operation/role runs were cut short at their share of the time")
    return 1 if report.failures or report.server_errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--examples", type=int, default=50, help="per operation and role")
    parser.add_argument("--pg-url", default=os.environ.get("RETENTION_FLOW_BENCH_PG_URL"))
    parser.add_argument("--seed", type=int, default=None, help="derandomize (repeatable)")
    args = parser.parse_args()
    if args.pg_url:
        with pg_database(args.pg_url) as url:
            sys.exit(run(url, args.seconds, args.examples, args.seed))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(run(f"sqlite:///{tmp}/fuzz.db", args.seconds, args.examples, args.seed))


if __name__ == "__main__":
    main()
