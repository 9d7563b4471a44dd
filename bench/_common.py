"""Shared helpers of the benchmarks that drive the product bundle (processes/retention):
a migrated database per backend (a temp SQLite file; a PostgreSQL schema of its own when
RETENTION_FLOW_BENCH_PG_URL is set, dropped afterwards), an ``AppContext`` with the real
service handlers and the bundle deployed, synthetic customers, percentiles."""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retention_flow.core.clock import Clock  # noqa: E402
from retention_flow.core.config import Settings  # noqa: E402
from retention_flow.db.migrate import upgrade  # noqa: E402
from retention_flow.db.session import create_db_engine  # noqa: E402
from retention_flow.engine.bundle import load_bundle_path  # noqa: E402
from retention_flow.services.platform.context import Actor, AppContext  # noqa: E402
from retention_flow.services.process_models import deployments as processes  # noqa: E402
from retention_flow.services.steps.handlers import default_service_handlers  # noqa: E402

BUNDLE = ROOT / "processes" / "retention"
OWNER = Actor("bench-owner", frozenset({"process_owner"}))


def pg_url() -> str | None:
    return os.environ.get("RETENTION_FLOW_BENCH_PG_URL") or os.environ.get(
        "RETENTION_FLOW_TEST_DATABASE_URL"
    )


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.db"


@contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """A schema of its own on the server of ``base_url``, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_db_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def backends() -> list[tuple[str, Callable[[], AbstractContextManager[str]]]]:
    """(label, database factory) for SQLite and, when configured, PostgreSQL."""
    found: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
        ("SQLite", sqlite_database)
    ]
    url = pg_url()
    if url:
        found.append(("PostgreSQL", lambda: pg_database(url)))
    return found


def make_context(url: str, clock: Clock, **settings: Any) -> AppContext:
    """A migrated database with processes/retention deployed, and the real handlers."""
    engine = create_db_engine(url)
    upgrade(engine)
    ctx = AppContext(
        Settings(database_url=url, **settings),
        clock=clock,
        engine=engine,
        service_handlers=default_service_handlers(),
    )
    processes.deploy(ctx, load_bundle_path(BUNDLE), OWNER)
    return ctx


PRODUCTS = ("mobile_s", "mobile_m", "mobile_l", "fixed_fibre")
REGIONS = ("north", "south", "east", "west")
FIRST = ("Erika", "Lukas", "Aylin", "Mia", "Felix", "Jonas", "Lea", "Murat", "Sofia", "Paul")
LAST = ("Mustermann", "Weber", "Kaya", "Schulz", "Braun", "Novak", "Yilmaz", "Fischer")


def case_number(serial: int) -> str:
    return f"RC-2026-{serial:06d}-{serial * 7 % 10}"


def customer(rng: random.Random, serial: int, today: date) -> dict[str, Any]:
    """Start data of a retention case (the case input of processes/README.md)."""
    tenure = rng.choice((3, 6, 9, 14, 20, 26, 30, 40, 52, 70))
    return {
        "customer_id": f"C-{100000 + serial}",
        "case_number": case_number(serial),
        "customer_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "tenure_months": tenure,
        "monthly_revenue_cents": rng.choice((900, 1500, 2500, 3000, 3900, 4500, 5200, 6900)),
        "contract_end": (today + timedelta(days=rng.randint(20, 240))).isoformat(),
        "churn_risk": rng.choices(("low", "medium", "high"), (3, 4, 3))[0],
        "product": rng.choices(PRODUCTS, (3, 4, 2, 3))[0],
        "region": rng.choice(REGIONS),
        "contract_age_months": min(tenure, rng.choice((3, 6, 12, 18, 24, 30, 48))),
    }


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of an unsorted list."""
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[index]
