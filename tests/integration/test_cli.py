"""The ``retention-flow`` command, run as a user runs it (a subprocess), on a fresh
database: migrations applied on first use, deploy, start, queue, claim, complete,
history and audit verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from retention_flow.db.migrate import head_revision, is_current, upgrade
from retention_flow.db.session import create_db_engine
from tests.factories import DATA


def _cli(db_url: str, *args: str, check: bool = True) -> Any:
    env = {**os.environ, "RETENTION_FLOW_DATABASE_URL": db_url}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention_flow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc


@pytest.fixture
def fresh_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def test_cli_walks_a_case(fresh_url: str) -> None:
    deployed = _cli(fresh_url, "deploy", str(DATA / "three_steps"), "--user", "olga")
    assert deployed["new"] and deployed["versions"] == {"three_steps": 1}
    case = _cli(
        fresh_url,
        "start",
        "three_steps",
        "--data",
        '{"customer_id": "C-9"}',
        "--business-key",
        "RC-9",
        "--role",
        "telemarketing",
    )
    [task] = _cli(fresh_url, "tasks", "--role", "telemarketing")
    assert task["case_id"] == case["id"]
    _cli(fresh_url, "claim", task["id"], "--user", "alice", "--role", "telemarketing")
    done = _cli(
        fresh_url,
        "complete",
        task["id"],
        "--user",
        "alice",
        "--role",
        "telemarketing",
        "--data",
        '{"call_result": "reached"}',
    )
    assert done["next_tasks"][0]["element_id"] == "present_offer"
    history = _cli(fresh_url, "history", case["id"])
    assert [e["type"] for e in history][:2] == ["case_started", "engine_steps"]
    assert _cli(fresh_url, "verify-audit")["ok"] is True


def test_cli_reports_errors_clearly(fresh_url: str) -> None:
    proc = _cli(fresh_url, "deploy", str(DATA / "invalid" / "unknown_lane_role"), check=False)
    assert proc.returncode == 2
    error = json.loads(proc.stderr)
    assert error["error"] == "invalid_process"
    assert any(e["element_id"] == "lane_marketing_department" for e in error["errors"])
    proc = _cli(fresh_url, "start", "three_steps", "--data", "not json", check=False)
    assert proc.returncode != 0 and "not JSON" in proc.stderr
    # the one strict rule: NaN, duplicate keys and huge integers are not JSON here either
    for text, field in (
        ('{"x": NaN}', "data.x"),
        ('{"x": 1, "x": 2}', "data.x"),
        ('{"x": 123456789012345678901234567890}', "data.x"),
    ):
        proc = _cli(fresh_url, "start", "three_steps", "--data", text, check=False)
        flat = " ".join(proc.stderr.replace("│", " ").split())
        assert proc.returncode == 2 and "not JSON" in flat and field in flat, proc.stderr
    assert _cli(fresh_url, "doctor", "--dry-run")["found"] == 0  # nothing got stored


def test_db_upgrade_from_empty(fresh_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "retention_flow.cli", "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "RETENTION_FLOW_DATABASE_URL": fresh_url},
    )
    head = head_revision()
    assert head is not None and head in out.stdout
    engine = create_db_engine(fresh_url)
    assert is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"case", "work_item", "audit_event", "timer", "job", "incident", "deployment"} <= tables
    upgrade(engine)  # idempotent
    engine.dispose()
