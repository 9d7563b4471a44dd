"""Login throttling per (user name, client address) with growing waits, through the API
and the login page: a guesser waits, the real user elsewhere does not (no lockout)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from retention_flow.api.app import create_app
from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import create_db_engine, read_session
from retention_flow.db.tables import LOGIN_THROTTLE
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import PASSWORD, assert_problem
from tests.web.conftest import PageClient

ATTACKER = ("203.0.113.9", 40000)
REAL_USER = ("198.51.100.7", 50000)


@pytest.fixture
def app_for(ctx: AppContext) -> Iterator[Any]:
    """A TestClient of the app as seen from one client address."""
    app = create_app(ctx)
    opened: list[TestClient] = []

    def make(address: tuple[str, int]) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, client=address)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _login(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def test_a_guesser_cannot_lock_out_the_real_user(ctx: AppContext, app_for: Any) -> None:
    users.add_user(ctx, "root", PASSWORD, ["admin"])
    attacker, real = app_for(ATTACKER), app_for(REAL_USER)
    limit = ctx.settings.login_max_failures
    for _ in range(limit - 1):
        assert_problem(_login(attacker, "root", "guess-guess"), 401, "authentication_failed")
    waiting = _login(attacker, "root", "guess-guess")
    body = assert_problem(waiting, 429, "too_many_attempts")
    assert waiting.headers["retry-after"] == str(ctx.settings.login_delay_seconds)
    assert body["detail"] == (
        f"invalid user name or password; after {limit} failed logins from your address, "
        "wait 1 minute before trying again"
    )
    # while it waits, even the right password is refused from that address...
    refused = _login(attacker, "root", PASSWORD)
    body = assert_problem(refused, 429, "too_many_attempts")
    assert "wait 1 minute" in body["detail"]
    # ...and the real user, from their own address, logs in as ever
    assert _login(real, "root", PASSWORD).status_code == 200
    for _ in range(30):  # however long the guesser goes on
        assert _login(attacker, "root", "guess-guess").status_code == 429
    assert _login(real, "root", PASSWORD).status_code == 200


def test_waits_double_up_to_the_cap(ctx: AppContext, app_for: Any, clock: FrozenClock) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    attacker = app_for(ATTACKER)
    settings = ctx.settings
    for _ in range(settings.login_max_failures - 1):
        assert _login(attacker, "alice", "guess-guess").status_code == 401
    waits, details = [], []
    for _ in range(8):
        response = _login(attacker, "alice", "guess-guess")
        assert response.status_code == 429, response.text
        waits.append(int(response.headers["retry-after"]))
        details.append(response.json()["detail"])
        # one second early: still refused, with the time left
        clock.advance(timedelta(seconds=waits[-1] - 1))
        early = _login(attacker, "alice", PASSWORD)
        assert early.status_code == 429 and early.headers["retry-after"] == "1"
        clock.advance(timedelta(seconds=1))
    cap = settings.login_max_delay_minutes * 60
    assert waits == [30, 60, 120, 240, 480, cap, cap, cap]
    assert "wait 1 minute before" in details[0] and "wait 2 minutes before" in details[2]
    assert "wait 15 minutes before" in details[-1]
    # the wait is over: the right password works again, and the count starts anew
    assert _login(attacker, "alice", PASSWORD).status_code == 200
    assert _login(attacker, "alice", "guess-guess").status_code == 401


def test_unknown_user_names_are_throttled_alike(
    ctx: AppContext, app_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 does not tell whether an account exists; an unknown name still costs a
    password hash (timing), and a waiting address costs none (for either)."""
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    verified: list[str] = []
    real_verify = users._verify

    def counting(ph: Any, digest: str, password: str) -> bool:
        verified.append(password)
        return real_verify(ph, digest, password)

    monkeypatch.setattr(users, "_verify", counting)
    attacker = app_for(ATTACKER)
    answers = {}
    for name in ("alice", "nobody"):
        verified.clear()
        statuses = [
            _login(attacker, name, "guess-guess").status_code
            for _ in range(ctx.settings.login_max_failures + 2)
        ]
        answers[name] = (statuses, len(verified))
    limit = ctx.settings.login_max_failures
    expected = [401] * (limit - 1) + [429] * 3
    assert answers == {"alice": (expected, limit), "nobody": (expected, limit)}


def test_a_success_clears_its_own_address_only(
    ctx: AppContext, app_for: Any, clock: FrozenClock
) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    here, there = app_for(REAL_USER), app_for(ATTACKER)
    almost = ctx.settings.login_max_failures - 1
    for _ in range(almost):
        assert _login(here, "alice", "typo-typo").status_code == 401
        assert _login(there, "alice", "guess-guess").status_code == 401
    assert _login(here, "alice", PASSWORD).status_code == 200
    for _ in range(almost):  # starts from zero here
        assert _login(here, "alice", "typo-typo").status_code == 401
    assert _login(there, "alice", "guess-guess").status_code == 429  # not there
    assert _login(there, "ghost", "guess-guess").status_code == 401  # an unknown name
    # failures are forgotten a window after the last one
    clock.advance(timedelta(minutes=ctx.settings.login_failure_window_minutes + 1))
    assert _login(here, "alice", "typo-typo").status_code == 401
    assert _login(there, "alice", "guess-guess").status_code == 401
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(LOGIN_THROTTLE.c.username, LOGIN_THROTTLE.c.client, LOGIN_THROTTLE.c.failures)
        ).all()
    # the quiet pair's row is gone; the others count from one again
    assert sorted(map(tuple, rows)) == sorted(
        [("alice", ATTACKER[0], 1), ("alice", REAL_USER[0], 1)]
    )


def test_a_new_password_ends_the_wait(ctx: AppContext, app_for: Any) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    client = app_for(REAL_USER)
    for _ in range(ctx.settings.login_max_failures):
        _login(client, "alice", "forgotten-it")
    assert _login(client, "alice", PASSWORD).status_code == 429
    users.set_password(ctx, "alice", "a fresh password")
    assert _login(client, "alice", "a fresh password").status_code == 200


def test_processes_share_the_count(ctx: AppContext, app_for: Any, clock: FrozenClock) -> None:
    """Two API processes (their own contexts and connection pools) count the same
    failures: the counters are in the database, and concurrent failures all count."""
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    settings = ctx.settings.model_copy(update={"login_max_failures": 100})
    engine = create_db_engine(settings.database_url, settings)
    other = AppContext(settings, clock=clock, engine=engine)
    first = AppContext(settings, clock=clock, engine=ctx.db)
    try:
        with (
            TestClient(create_app(first), client=ATTACKER) as one,
            TestClient(create_app(other), client=ATTACKER) as two,
        ):
            statuses: list[int] = []

            def guess(client: TestClient) -> None:
                for _ in range(3):
                    statuses.append(_login(client, "alice", "guess-guess").status_code)

            threads = [threading.Thread(target=guess, args=(c,)) for c in (one, two) * 2]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert statuses == [401] * 12
        with read_session(ctx.db) as session:
            row = session.execute(select(LOGIN_THROTTLE)).one()
        assert (row.username, row.client, row.failures) == ("alice", ATTACKER[0], 12)
    finally:
        engine.dispose()


def test_a_burst_cannot_slip_past_the_limit(
    ctx: AppContext, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent attempts from one address, through two API processes: only the first
    ``login_max_failures`` get their password checked, however they interleave."""
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    checked: list[str] = []
    real_verify = users._verify

    def counting(ph: Any, digest: str, password: str) -> bool:
        checked.append(password)
        return real_verify(ph, digest, password)

    monkeypatch.setattr(users, "_verify", counting)
    engine = create_db_engine(ctx.settings.database_url, ctx.settings)
    other = AppContext(ctx.settings, clock=clock, engine=engine)
    try:
        with (
            TestClient(create_app(ctx), client=ATTACKER) as one,
            TestClient(create_app(other), client=ATTACKER) as two,
        ):
            statuses: list[int] = []
            start = threading.Barrier(6)

            def guess(client: TestClient) -> None:
                start.wait()
                for _ in range(4):
                    statuses.append(_login(client, "alice", "guess-guess").status_code)

            threads = [threading.Thread(target=guess, args=(c,)) for c in (one, two) * 3]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        engine.dispose()
    limit = ctx.settings.login_max_failures
    assert len(checked) == limit
    assert sorted(statuses) == [401] * (limit - 1) + [429] * (24 - limit + 1)


def test_login_page_says_how_long_to_wait(ctx: AppContext, app_for: Any) -> None:
    users.add_user(ctx, "alice", PASSWORD, ["agent"])
    page = PageClient(app_for(ATTACKER))
    for _ in range(ctx.settings.login_max_failures - 1):
        wrong = page.login("alice", "guess-guess")
        assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    waiting = page.login("alice", "guess-guess")
    assert waiting.status_code == 429
    assert waiting.headers["retry-after"] == str(ctx.settings.login_delay_seconds)
    assert "Wrong user name or password; after 5 failed logins" in waiting.text
    assert "wait 1 minute before trying again." in waiting.text
    still = page.login("alice", PASSWORD)
    assert still.status_code == 429 and "wait 1 minute before trying again." in still.text
    # the real user, elsewhere, gets in
    assert PageClient(app_for(REAL_USER)).login("alice").status_code == 303
