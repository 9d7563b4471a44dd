"""The HTTP app starts on a real database and answers its health check."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services.platform.context import AppContext


def test_health(ctx: AppContext) -> None:
    with TestClient(create_app(ctx)) as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_api_process_gc_thresholds_are_set_and_restored(ctx: AppContext) -> None:
    before = gc.get_threshold()
    assert ctx.settings.api_gc_thresholds is not None
    with TestClient(create_app(ctx)):
        assert gc.get_threshold() == ctx.settings.api_gc_thresholds
    assert gc.get_threshold() == before
