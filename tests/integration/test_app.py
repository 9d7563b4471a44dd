"""The HTTP app starts on a real database and answers its health check."""

from __future__ import annotations

from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services.context import AppContext


def test_health(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
