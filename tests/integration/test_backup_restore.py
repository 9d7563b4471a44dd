"""Backup and restore, as an operator runs them (the command in a subprocess): a backup
taken while the database is in use, work done after it, a restore into a fresh database
(a new SQLite file through the sqlite3 backup API; a new PostgreSQL database through
pg_dump/pg_restore), ``verify-audit`` passing there against the checkpoints signed
before the backup, the restored cases going on, and a checkpoint signed after the backup
showing the rollback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.factories import actor, deploy
from tests.integration.test_cli import _cli

AGENT = actor("alice", "agent", "telemarketing")


@pytest.fixture
def fresh_target(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the test's."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path}/restored.db"
        return
    name = f"rf_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _work_one_task(url: str, element: str, data: str) -> dict[str, Any]:
    tasks = _cli(url, "tasks", "--role", "telemarketing")
    task = next(t for t in tasks if t["element_id"] == element)
    _cli(url, "claim", task["id"], "--user", "alice", "--role", "telemarketing")
    done = _cli(
        url, "complete", task["id"], "--user", "alice", "--role", "telemarketing", "--data", data
    )
    return dict(done)


def test_backup_restore_verify_and_go_on(
    ctx: AppContext, db_url: str, fresh_target: str, tmp_path: Path
) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}, business_key="B-1")
    _work_one_task(db_url, "call_customer", '{"call_result": "reached"}')
    assert _cli(db_url, "audit", "checkpoint")["heads_written"] >= 1
    dump = tmp_path / "retention.backup"
    taken = _cli(db_url, "backup", str(dump))
    assert taken["bytes"] > 0 and dump.exists()
    # after the backup: the case moves on in the old database only
    after = _work_one_task(db_url, "present_offer", '{"offer_response": "accepted"}')
    assert [t["element_id"] for t in after["next_tasks"]] == ["confirm_change"]

    restored = _cli(db_url, "restore", str(dump), "--into", fresh_target)
    assert restored["kind"] == make_url(db_url).get_backend_name()
    assert _cli(fresh_target, "verify-audit")["ok"] is True  # against the checkpoint file
    # the restored case is where the backup left it, and goes on from there
    [open_task] = _cli(fresh_target, "tasks", "--role", "telemarketing")
    assert (open_task["case_id"], open_task["element_id"]) == (case.id, "present_offer")
    done = _work_one_task(fresh_target, "present_offer", '{"offer_response": "accepted"}')
    assert [t["element_id"] for t in done["next_tasks"]] == ["confirm_change"]
    assert _cli(fresh_target, "verify-audit")["ok"] is True
    # a checkpoint the old database signed after the backup names heads the restored
    # one never had: verify-audit tells the history was rolled back
    _cli(db_url, "audit", "checkpoint")
    rolled_back = _cli(fresh_target, "verify-audit", check=False)
    assert rolled_back.returncode == 1, rolled_back.stdout


def test_restore_refuses_a_database_in_use(db_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "retention.backup"
    _cli(db_url, "backup", str(dump))
    refused = _cli(db_url, "backup", str(dump), check=False)  # never over an old backup
    assert refused.returncode == 2 and "backup_failed" in refused.stderr
    again = _cli(db_url, "restore", str(dump), "--into", db_url, check=False)
    assert again.returncode == 2 and "backup_failed" in again.stderr
