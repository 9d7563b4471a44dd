"""``retention-flow users ...`` run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retention_flow.core.config import Settings
from retention_flow.core.errors import AuthenticationFailed
from retention_flow.services.people import auth, users
from retention_flow.services.platform.bootstrap import build_context


def _cli(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": url,
        "RETENTION_FLOW_PASSWORD_HASH_TIME_COST": "1",
        "RETENTION_FLOW_PASSWORD_HASH_MEMORY_KIB": "64",
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/users.db"


def _ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_users_add_passwd_roles_disable(url: str) -> None:
    added = _ok(
        _cli(
            url,
            "add",
            "pia",
            "--role",
            "partner",
            "--partner",
            "acme",
            "--password-stdin",
            stdin="s3cret-pass\n",
        )
    )
    assert added == {
        "username": "pia",
        "roles": ["partner"],
        "partner": "acme",
        "team": None,
        "disabled": False,
    }
    # the CLI changes users in another process: no cached answers, so revocation is seen
    ctx = build_context(
        Settings(
            database_url=url,
            password_hash_time_cost=1,
            password_hash_memory_kib=64,
            actor_cache_seconds=0,
        )
    )
    token = auth.login(ctx, "pia", "s3cret-pass")["access_token"]
    assert auth.actor_for_token(ctx, token).partner == "acme"
    _ok(_cli(url, "passwd", "pia", "--password-stdin", stdin="n3w-password\n"))
    with pytest.raises(AuthenticationFailed):
        auth.actor_for_token(ctx, token)
    assert auth.login(ctx, "pia", "n3w-password")
    _ok(
        _cli(
            url,
            "add",
            "al",
            "--role",
            "agent",
            "--role",
            "inbound",
            "--password-stdin",
            stdin="password-1\n",
        )
    )
    roles = _ok(_cli(url, "roles", "al", "--role", "team_lead"))
    assert roles["roles"] == ["team_lead"]
    assert _ok(_cli(url, "disable", "al"))["disabled"] is True
    with pytest.raises(AuthenticationFailed):
        auth.login(ctx, "al", "password-1")
    ctx.dispose()


def test_users_errors_are_clear(url: str) -> None:
    proc = _cli(url, "add", "x", "--role", "wizard", "--password-stdin", stdin="password-1\n")
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"] == "validation_failed"
    proc = _cli(url, "disable", "ghost")
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"] == "not_found"


def test_revocation_in_this_process_is_immediate_despite_the_cache(url: str) -> None:
    ctx = build_context(
        Settings(database_url=url, password_hash_time_cost=1, password_hash_memory_kib=64)
    )
    users.add_user(ctx, "cara", "password-123", ["agent"])
    token = auth.login(ctx, "cara", "password-123")["access_token"]
    assert auth.actor_for_token(ctx, token).username == "cara"  # now cached
    users.disable(ctx, "cara")
    with pytest.raises(AuthenticationFailed):
        auth.actor_for_token(ctx, token)
    ctx.dispose()
