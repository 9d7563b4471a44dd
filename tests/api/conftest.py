"""API test fixtures: the app on the per-test real database, users and their tokens.

Passwords are hashed with cheap argon2id parameters here (the production defaults cost
~50 ms per hash, which is the point in production and a waste in a test suite).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.core.config import Settings
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from tests.conftest import audit_files

PASSWORD = "correct horse battery"

#: One user per role (plus a second partner organisation) for the matrix and the tests.
USERS: dict[str, tuple[list[str], str | None]] = {
    "agent": (["agent", "telemarketing"], None),
    "team_lead": (["team_lead"], None),
    "back_office": (["back_office"], None),
    "partner": (["partner"], "acme"),
    "partner2": (["partner"], "globex"),
    "process_owner": (["process_owner"], None),
    "auditor": (["auditor"], None),
    "admin": (["admin"], None),
    "system": (["system"], None),
}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        script_budget_seconds=0.5,
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        max_upload_bytes=2 * 1024 * 1024,
        **audit_files(tmp_path),
    )


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


@pytest.fixture
def add_user(ctx: AppContext, client: TestClient) -> Callable[..., dict[str, str]]:
    """Create a user and answer the Authorization header of a fresh token."""

    def make(name: str, roles: list[str], partner: str | None = None) -> dict[str, str]:
        users.add_user(ctx, name, PASSWORD, roles, partner)
        response = login(client, name)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
def headers(add_user: Callable[..., dict[str, str]]) -> dict[str, dict[str, str]]:
    """Authorization headers by persona (see ``USERS``); ``anonymous`` sends none."""
    out = {name: add_user(name, roles, partner) for name, (roles, partner) in USERS.items()}
    out["anonymous"] = {}
    return out


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status and body["code"] == code, body
    return body
