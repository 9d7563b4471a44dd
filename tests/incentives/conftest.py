"""QA and payout fixtures: the product bundle (with its QA checklist and incentive plan)
deployed before the fixture week of tests/integration/kpi_fixture.py, the week loaded,
and the people who review, run and approve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.people import users
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import PASSWORD, login
from tests.integration.kpi_fixture import NOW, T0, load, period_cases

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
OWNER = Actor("owner", frozenset({"process_owner"}))
PEOPLE = {
    "qa1": ["qa"],
    "qa2": ["qa"],
    "bob": ["agent", "inbound", "qa"],  # reviews too, never his own cases
    "tom": ["agent", "telemarketing"],
    "ina": ["agent", "inbound"],
    "lead": ["team_lead"],
    "lead2": ["team_lead"],
    "payroll": ["back_office"],
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        script_budget_seconds=0.5,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        qa_sample_per_agent=2,
        qa_double_share=1.0,
    )


@pytest.fixture
def week(product_ctx: AppContext, clock: FrozenClock) -> AppContext:
    ctx = product_ctx
    clock.set(T0 - timedelta(days=10))
    processes.deploy(ctx, load_bundle_path(BUNDLE), OWNER)
    load(ctx, period_cases())
    for name, roles in PEOPLE.items():
        users.add_user(ctx, name, PASSWORD, roles)
    clock.set(NOW)
    return ctx


@pytest.fixture
def api(week: AppContext) -> Iterator[Callable[[str], tuple[TestClient, dict[str, str]]]]:
    """``api(name)`` -> (client, headers of that person)."""
    with TestClient(create_app(week), raise_server_exceptions=False) as client:

        def as_(name: str) -> tuple[TestClient, dict[str, str]]:
            token = login(client, name).json()["access_token"]
            return client, {"Authorization": f"Bearer {token}"}

        yield as_
