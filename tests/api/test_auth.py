"""Login, tokens, /api/me, lockout, revocation, production secret refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from retention_flow.api.app import UnsafeConfiguration, create_app
from retention_flow.core.config import PLACEHOLDER_SECRET, Settings
from retention_flow.core.errors import AuthenticationFailed, Conflict, ValidationFailed
from retention_flow.db.session import read_session
from retention_flow.db.tables import REVOKED_TOKEN
from retention_flow.services.people import auth, users
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import PASSWORD, assert_problem, login

AddUser = Callable[..., dict[str, str]]


def test_login_and_me(client: TestClient, add_user: AddUser) -> None:
    auth = add_user("pia", ["partner"], "acme")
    me = client.get("/api/me", headers=auth)
    assert me.status_code == 200
    assert me.json() == {"username": "pia", "roles": ["partner"], "partner": "acme"}
    token = login(client, "pia").json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600


@pytest.mark.parametrize(
    "username,password", [("alice", "wrong password"), ("nobody", PASSWORD), ("", "")]
)
def test_bad_credentials_are_401(
    client: TestClient, add_user: AddUser, username: str, password: str
) -> None:
    add_user("alice", ["agent"])
    response = login(client, username, password)
    if username == "":
        assert_problem(response, 422, "validation_failed")
    else:
        body = assert_problem(response, 401, "authentication_failed")
        assert body["detail"] == "invalid user name or password"
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer " + jwt.encode({"sub": "alice", "ver": 1, "exp": 9e9}, "x" * 32)},
    ],
)
def test_missing_or_forged_token_is_401(client: TestClient, header: dict[str, str]) -> None:
    assert_problem(client.get("/api/me", headers=header), 401, "authentication_failed")


def test_disable_revokes_tokens(ctx: AppContext, client: TestClient, add_user: AddUser) -> None:
    auth = add_user("alice", ["agent"])
    assert client.get("/api/me", headers=auth).status_code == 200
    users.disable(ctx, "alice")
    assert_problem(client.get("/api/me", headers=auth), 401, "authentication_failed")
    assert login(client, "alice").status_code == 401
    users.enable(ctx, "alice")
    assert client.get("/api/me", headers=auth).status_code == 401  # old token stays dead
    assert login(client, "alice").status_code == 200


def test_new_password_and_roles_revoke_tokens(
    ctx: AppContext, client: TestClient, add_user: AddUser
) -> None:
    auth = add_user("alice", ["agent"])
    users.set_roles(ctx, "alice", ["agent", "inbound"])
    assert client.get("/api/me", headers=auth).status_code == 401
    fresh = {"Authorization": "Bearer " + login(client, "alice").json()["access_token"]}
    assert client.get("/api/me", headers=fresh).json()["roles"] == ["agent", "inbound"]
    users.set_password(ctx, "alice", "another password")
    assert client.get("/api/me", headers=fresh).status_code == 401
    assert login(client, "alice").status_code == 401
    assert login(client, "alice", "another password").status_code == 200


def test_token_expires(ctx: AppContext, client: TestClient, add_user: AddUser, clock: Any) -> None:
    auth = add_user("alice", ["agent"])
    clock.advance(timedelta(minutes=ctx.settings.token_ttl_minutes + 1))
    body = assert_problem(client.get("/api/me", headers=auth), 401, "authentication_failed")
    assert "expired" in body["detail"]


def test_password_is_argon2id(ctx: AppContext) -> None:
    from sqlalchemy import select

    from retention_flow.db.models import User
    from retention_flow.db.session import read_session

    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    with read_session(ctx.db) as session:
        stored = session.execute(select(User.password_hash)).scalar_one()  # type: ignore[call-overload]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    "roles,partner,error",
    [
        (["wizard"], None, ValidationFailed),
        ([], None, ValidationFailed),
        (["partner"], None, ValidationFailed),
        (["partner", "agent"], "acme", ValidationFailed),
    ],
)
def test_user_validation(
    ctx: AppContext, roles: list[str], partner: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        users.add_user(ctx, "x", PASSWORD, roles, partner)


def test_duplicate_user_and_short_password(ctx: AppContext) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    with pytest.raises(Conflict):
        users.add_user(ctx, "alice", PASSWORD, ["agent"])
    with pytest.raises(ValidationFailed):
        users.add_user(ctx, "bob", "short", ["agent"])


def test_production_refuses_placeholder_secret(ctx: AppContext) -> None:
    ctx.settings = Settings(database_url=ctx.settings.database_url, environment="production")
    assert ctx.settings.secret_key == PLACEHOLDER_SECRET
    with pytest.raises(UnsafeConfiguration, match="placeholder"):
        create_app(ctx)
    ctx.settings = Settings(
        database_url=ctx.settings.database_url, environment="production", secret_key="s" * 40
    )
    create_app(ctx)


def test_logout_ends_this_token_only(
    ctx: AppContext, client: TestClient, add_user: AddUser, settings: Settings
) -> None:
    first = add_user("lou", ["agent"])
    second = {
        "Authorization": f"Bearer {login(client, 'lou').json()['access_token']}"
    }  # the same user's other session
    assert client.get("/api/me", headers=first).status_code == 200
    assert client.post("/api/auth/logout", headers=first).status_code == 204
    body = assert_problem(client.get("/api/me", headers=first), 401, "authentication_failed")
    assert "logged out" in body["detail"]
    assert client.get("/api/me", headers=second).status_code == 200
    assert client.post("/api/auth/logout", headers=first).status_code == 401  # already ended
    # another API process (its own caches) sees the revocation through the database
    other = AppContext(settings, clock=ctx.clock, engine=ctx.db)
    token = first["Authorization"].split()[1]
    with pytest.raises(AuthenticationFailed, match="logged out"):
        auth.actor_for_token(other, token)
    assert auth.actor_for_token(other, second["Authorization"].split()[1]).username == "lou"


def test_revoked_tokens_are_kept_only_until_they_expire(
    ctx: AppContext, client: TestClient, add_user: AddUser, clock: Any
) -> None:
    gone = add_user("ada", ["agent"])
    assert client.post("/api/auth/logout", headers=gone).status_code == 204
    clock.advance(timedelta(minutes=ctx.settings.token_ttl_minutes + 1))
    later = add_user("bob", ["agent"])
    assert client.post("/api/auth/logout", headers=later).status_code == 204
    with read_session(ctx.db) as session:
        kept = session.execute(select(REVOKED_TOKEN.c.username)).scalars().all()
    assert kept == ["bob"]  # ada's token expired anyway: its row was removed
