"""A worker killed mid-migration: a ``retention-flow worker`` subprocess is SIGKILLed while
it migrates cases, another one is started, and every case ends migrated exactly once
(one ``case_migrated`` event per case in the audit trail, every chain intact)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import and_, func, select, update

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AUDIT_EVENT, CASE_MIGRATION_ITEM, JOB
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases import migrations
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER
from tests.outbound_change import MAPPING, PROCESS, deploy_change

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
AGENT = Actor("tom", frozenset({"agent", "telemarketing"}))
CASES = 300


@pytest.fixture
def clock() -> FrozenClock:
    # the worker subprocess reads the wall clock: keep the cases' timers in its future
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


def _worker(db_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RETENTION_FLOW_DATABASE_URL": db_url,
        "RETENTION_FLOW_MIGRATION_BATCH_SIZE": "20",
        "RETENTION_FLOW_WORKER_POLL_SECONDS": "0.05",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "retention_flow.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _count(ctx: AppContext, migration_id: str, status: str) -> int:
    with read_session(ctx.db) as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(CASE_MIGRATION_ITEM)
                .where(
                    and_(
                        CASE_MIGRATION_ITEM.c.migration_id == migration_id,
                        CASE_MIGRATION_ITEM.c.status == status,
                    )
                )
            ).scalar_one()
        )


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_killed_worker_resumes_without_migrating_twice(ctx: AppContext, db_url: str) -> None:
    ids = [
        cases.start_case(ctx, AGENT, PROCESS, {**START, "case_number": f"RC-K-{n}"}).id
        for n in range(CASES)
    ]
    v2 = deploy_change(ctx, OWNER)
    request = migrations.MigrationRequest(
        PROCESS,
        1,
        v2,
        mapping=MAPPING,
        data_defaults={"preferred_channel": "phone"},
        reason="kill test",
    )
    migration = migrations.start(ctx, OWNER, request).model_dump()
    mid = migration["id"]

    first = _worker(db_url)
    try:
        _wait(lambda: _count(ctx, mid, "migrated") >= 30, 120, "the first worker to start")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    done_before = _count(ctx, mid, "migrated")
    assert 0 < done_before < CASES, "the worker was not killed mid-migration"
    # the dead worker's job lease would run out after 5 minutes: let it run out now
    with write_session(ctx.db) as session:
        session.execute(
            update(JOB)
            .where(JOB.c.state == "running")
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()

    second = _worker(db_url)
    try:
        _wait(lambda: _count(ctx, mid, "pending") == 0, 180, "the second worker to finish")
    finally:
        second.terminate()
        _out, err = second.communicate(timeout=20)
    assert _count(ctx, mid, "migrated") == CASES, err.decode()[-2000:]
    with read_session(ctx.db) as session:
        migrated = Counter(
            session.execute(
                select(AUDIT_EVENT.c.case_id).where(AUDIT_EVENT.c.type == "case_migrated")
            ).scalars()
        )
        assert migrated == Counter(ids)  # exactly one migration event per case
        assert audit.verify(session).ok
    assert migrations.get_migration(ctx, mid).model_dump()["status"] == "done"
