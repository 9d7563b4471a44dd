"""Signed tokens with absurd claims are refused (401), never a server error (500), on
every route of the API and on the pages (a login redirect)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.people import auth, users
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import PASSWORD, assert_problem
from tests.api.test_authorisation_matrix import EXPECTED, OPS, ROUTES

ISSUER = auth.ISSUER
#: routes that need no token: they must not fail either, but answer as for anyone
OPEN = {route for route, rule in EXPECTED.items() if rule is OPS}


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def signed(secret: str, payload: str) -> str:
    """An HS256 token over a raw JSON payload (so it can hold what ``jwt.encode`` won't)."""
    head = _b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + _b64(payload.encode())
    signature = _b64(hmac.new(secret.encode(), head, hashlib.sha256).digest())
    return (head + b"." + signature).decode()


def _claims(**changes: Any) -> str:
    """The claims of a token for user 'alice' (version 1), with ``changes`` (None drops)."""
    claims: dict[str, Any] = {
        "sub": "alice",
        "ver": 1,
        "iss": ISSUER,
        "iat": 1_700_000_000,
        "exp": 4_000_000_000,
        "jti": "0123456789abcdef0123456789abcdef",
    }
    claims.update(changes)
    return json.dumps({k: v for k, v in claims.items() if v is not None})


ABSURD: dict[str, str] = {
    "exp 10^20": _claims(exp=10**20),
    "exp 1e20 (float)": _claims(exp=1e20),
    "exp negative": _claims(exp=-(10**20)),
    "exp text": _claims(exp="tomorrow"),
    "exp true": _claims(exp=True),
    "exp Infinity": _claims(exp=float("inf")),
    "exp NaN": _claims(exp=float("nan")),
    "exp 5000 digits": _claims(exp=None)[:-1] + ', "exp": 1' + "0" * 5000 + "}",
    "exp object": _claims(exp={"a": 1}),
    "no exp": _claims(exp=None),
    "iat 10^20": _claims(iat=10**20),
    "iat text": _claims(iat="x"),
    "nbf 10^20": _claims(nbf=10**20),
    "nbf text": _claims(nbf="x"),
    "nbf NaN": _claims(nbf=float("nan")),
    "jti 100 KB": _claims(jti="j" * 100_000),
    "jti number": _claims(jti=12345),
    "jti empty": _claims(jti=""),
    "no sub": _claims(sub=None),
    "sub empty": _claims(sub=""),
    "sub number": _claims(sub=42),
    "sub 10 KB": _claims(sub="a" * 10_000),
    "ver text": _claims(ver="1"),
    "ver 10^30": _claims(ver=10**30),
    "ver float": _claims(ver=1.0),
    "iss list": _claims(iss=[ISSUER]),
    "payload a list": "[1, 2]",
    "payload deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.fixture
def alice(ctx: AppContext) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["admin", "agent", "telemarketing", "auditor"])


@pytest.mark.parametrize("name", sorted(ABSURD))
def test_logout_and_me_refuse_absurd_claims(
    ctx: AppContext, client: TestClient, alice: None, name: str
) -> None:
    token = signed(ctx.settings.secret_key, ABSURD[name])
    bearer = {"Authorization": f"Bearer {token}"}
    assert_problem(client.post("/api/auth/logout", headers=bearer), 401, "authentication_failed")
    assert_problem(client.get("/api/me", headers=bearer), 401, "authentication_failed")
    assert_problem(client.get("/metrics", headers=bearer), 401, "authentication_failed")
    # the pages: the same token as the session cookie leads to the login page
    client.cookies.set("rf_session", token)
    page = client.get("/account", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    client.cookies.clear()


def test_every_route_refuses_absurd_claims(
    ctx: AppContext, client: TestClient, alice: None
) -> None:
    """Each absurd token on each API route: 401 where a token is needed, never 5xx."""
    wrong = []
    for name, payload in ABSURD.items():
        bearer = {"Authorization": f"Bearer {signed(ctx.settings.secret_key, payload)}"}
        for method, path in ROUTES:
            url = re.sub(r"\{[^}]+\}", "x", path).replace("/versions/x", "/versions/1")
            response = client.request(method, url, headers=bearer)
            if (method, path) in OPEN:
                ok = response.status_code < 500
            else:
                ok = response.status_code == 401
            if not ok:
                wrong.append(f"{name}: {method} {path}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_a_sane_token_still_works(ctx: AppContext, client: TestClient, alice: None) -> None:
    """The baseline: the same construction with sane claims is accepted, and logs out."""
    bearer = {"Authorization": f"Bearer {signed(ctx.settings.secret_key, _claims())}"}
    assert client.get("/api/me", headers=bearer).json()["username"] == "alice"
    assert client.post("/api/auth/logout", headers=bearer).status_code == 204
    assert_problem(client.get("/api/me", headers=bearer), 401, "authentication_failed")
