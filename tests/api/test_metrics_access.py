"""``GET /metrics`` is not public: the metrics token, or an admin's or system user's token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from retention_flow.api.app import UnsafeConfiguration, create_app
from retention_flow.core.config import Settings
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem

Headers = dict[str, dict[str, str]]
TOKEN = "scrape-me-0123456789abcdef"
QUEUE_GAUGE = "retention_flow_work_items_open"


def test_a_fresh_install_does_not_leak(client: TestClient, headers: Headers) -> None:
    """No metrics token configured (the default): anonymous 401, other roles 403."""
    anonymous = client.get("/metrics")
    body = assert_problem(anonymous, 401, "authentication_failed")
    assert QUEUE_GAUGE not in anonymous.text and "metrics token" in body["detail"]
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for persona in ("agent", "team_lead", "auditor", "partner"):
        assert_problem(client.get("/metrics", headers=headers[persona]), 403, "forbidden")
    for persona in ("admin", "system"):
        allowed = client.get("/metrics", headers=headers[persona])
        assert allowed.status_code == 200 and QUEUE_GAUGE in allowed.text
    forged = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_problem(forged, 401, "authentication_failed")  # no token configured: no way in


@pytest.fixture
def token_client(ctx: AppContext) -> Iterator[TestClient]:
    ctx.settings = ctx.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


def test_the_metrics_token_opens_them(token_client: TestClient, headers: Headers) -> None:
    assert_problem(token_client.get("/metrics"), 401, "authentication_failed")
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), ""):
        response = token_client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert_problem(response, 401, "authentication_failed")
    scraped = token_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and QUEUE_GAUGE in scraped.text
    # the token opens the metrics only, no API route
    api = token_client.get("/api/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_problem(api, 401, "authentication_failed")
    assert token_client.get("/metrics", headers=headers["admin"]).status_code == 200
    assert_problem(token_client.get("/metrics", headers=headers["agent"]), 403, "forbidden")


def test_metrics_token_setting(
    ctx: AppContext, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ctx.settings.database_url
    assert Settings(database_url=url).metrics_token is None
    monkeypatch.setenv("RETENTION_FLOW_METRICS_TOKEN", "")
    empty = Settings(database_url=url)
    assert empty.startup_problems() == []
    ctx.settings = ctx.settings.model_copy(update={"metrics_token": empty.metrics_token})
    # an empty token is no token: sending an empty bearer opens nothing
    assert_problem(client.get("/metrics"), 401, "authentication_failed")
    assert_problem(
        client.get("/metrics", headers={"Authorization": "Bearer "}), 401, "authentication_failed"
    )
    monkeypatch.setenv("RETENTION_FLOW_METRICS_TOKEN", TOKEN)
    configured = Settings(database_url=url)
    assert configured.metrics_token is not None
    assert configured.metrics_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(configured)  # a secret: not printed with the settings
    monkeypatch.setenv("RETENTION_FLOW_METRICS_TOKEN", "short-token")
    ctx.settings = Settings(database_url=url)
    with pytest.raises(UnsafeConfiguration, match="METRICS_TOKEN is shorter than 16"):
        create_app(ctx)
