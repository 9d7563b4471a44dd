"""Page test fixtures: the app over the per-test database (``tests.api.conftest``) and one
logged-in browser-like client per persona, cookies and CSRF token included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.api.app import create_app
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import PASSWORD, USERS, settings

__all__ = ["settings"]

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class PageClient:
    """A TestClient with its own cookie jar that knows its page CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    def refresh_token(self) -> str:
        found = CSRF.search(self.client.get("/login?reason=expired").text)
        assert found, "no CSRF token on the login page"
        self.token = found.group(1)
        return self.token

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.refresh_token()
        response = self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": self.token},
            follow_redirects=False,
        )
        self.refresh_token()  # the nonce changes at login
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, follow_redirects=False, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        form = {"csrf_token": self.token, **(data or {})}
        return self.client.post(url, data=form, follow_redirects=False, **kwargs)


@pytest.fixture
def pages(ctx: AppContext) -> Iterator[dict[str, PageClient]]:
    """A logged-in client per persona of ``tests.api.conftest.USERS`` (+ ``anonymous``)."""
    app = create_app(ctx)
    out: dict[str, PageClient] = {}
    clients = []
    for name, (roles, partner) in USERS.items():
        users.add_user(ctx, name, PASSWORD, roles, partner)
    for name in [*USERS, "anonymous"]:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        page = PageClient(client)
        if name == "anonymous":
            page.refresh_token()
        else:
            assert page.login(name).status_code == 303
        out[name] = page
    yield out
    for client in clients:
        client.__exit__(None, None, None)
