"""Routing fixtures: the product bundle deployed, agents and a team lead with tokens, and
helpers to start outbound cases and work them through the API."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
from tests.conftest import audit_files

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
OWNER = Actor("owner", frozenset({"process_owner"}))
STARTER = Actor("starter", frozenset({"agent", "telemarketing", "system"}))
PEOPLE = {
    "tom": ["agent", "telemarketing"],
    "ann": ["agent", "telemarketing"],
    "new": ["agent", "telemarketing"],
    "lead": ["team_lead"],
    "owner": ["process_owner"],
    "feeder": ["system"],
}
#: customer data by segment of the product's case_segment table
CUSTOMERS: dict[str, dict[str, Any]] = {
    "vip_at_risk": {"monthly_revenue_cents": 5200, "churn_risk": "high", "product": "mobile_l"},
    "high_value": {"monthly_revenue_cents": 5200, "churn_risk": "low", "product": "mobile_l"},
    "fibre": {"monthly_revenue_cents": 3000, "churn_risk": "low", "product": "fixed_fibre"},
    "at_risk": {"monthly_revenue_cents": 1500, "churn_risk": "high", "product": "mobile_s"},
    "standard": {"monthly_revenue_cents": 1500, "churn_risk": "low", "product": "mobile_s"},
}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        script_budget_seconds=0.5,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        routing_rates_seconds=0,
        token_ttl_minutes=24 * 60,
        routing_exploration=0.0,
        **audit_files(tmp_path),
    )


@pytest.fixture
def rctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    for name, roles in PEOPLE.items():
        users.add_user(product_ctx, name, PASSWORD, roles)
    product_ctx.routing_rng = random.Random(7)
    return product_ctx


@pytest.fixture
def api(rctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(rctx), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def auth(api: TestClient) -> Callable[[str], dict[str, str]]:
    tokens: dict[str, dict[str, str]] = {}

    def header(name: str) -> dict[str, str]:
        if name not in tokens:
            response = login(api, name)
            assert response.status_code == 200, response.text
            tokens[name] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return tokens[name]

    return header


_counter = iter(range(1, 1_000_000))


def customer(segment: str, **more: Any) -> dict[str, Any]:
    n = next(_counter)
    return {
        "customer_id": f"C-{n:06d}",
        "case_number": f"RC-2026-{n:06d}-0",
        "customer_name": f"Customer {n}",
        "tenure_months": 30,
        "contract_end": "2027-03-31",
        "region": "north",
        "contract_age_months": 20,
        **CUSTOMERS[segment],
        **more,
    }


@pytest.fixture
def start(api: TestClient, auth: Callable[[str], dict[str, str]]) -> Callable[..., dict[str, Any]]:
    """Start an outbound case of a segment through the API (as the system feeder)."""

    def make(segment: str, **more: Any) -> dict[str, Any]:
        body = {"process_id": "outbound_telemarketing", "data": customer(segment, **more)}
        response = api.post("/api/cases", json=body, headers=auth("feeder"))
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


def advance(clock: FrozenClock, **delta: float) -> None:
    from datetime import timedelta

    clock.set(clock.now() + timedelta(**delta))
