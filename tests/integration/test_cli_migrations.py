"""``retention-flow migrations dry-run|start|show`` and ``retention-flow move`` as a user
runs them (subprocesses), with ``retention-flow worker --once`` doing the migration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retention_flow.core.clock import FrozenClock
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER
from tests.integration.test_cli import _cli
from tests.outbound_change import NEW_WAIT, OLD_WAIT, PROCESS, deploy_change

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
AGENT = Actor("tom", frozenset({"agent", "telemarketing"}))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))  # `worker --once` reads the wall clock


def test_cli_migrates_and_moves(product_ctx: AppContext, db_url: str) -> None:
    ctx = product_ctx
    processes.deploy(ctx, load_bundle_path(BUNDLE), OWNER)
    waiting = cases.start_case(ctx, AGENT, PROCESS, {**START, "preferred_channel": "phone"})
    tasks.complete(ctx, AGENT, waiting.open_tasks[0].id, {"reached": False})
    other = cases.start_case(ctx, AGENT, PROCESS, {**START, "case_number": "RC-CLI-2"})
    v2 = deploy_change(ctx, OWNER)

    plan = _cli(db_url, "migrations", "dry-run", PROCESS, "1", str(v2))
    assert (plan["total"], plan["can_migrate"]) == (2, 0)
    mapping = f"{OLD_WAIT}={NEW_WAIT}"
    plan = _cli(db_url, "migrations", "dry-run", PROCESS, "1", str(v2), "--map", mapping)
    assert plan["can_migrate"] == 1  # the other one lacks preferred_channel
    refused = _cli(
        db_url, "migrations", "start", PROCESS, "1", str(v2), "--reason", " ", check=False
    )
    assert refused.returncode == 2 and "reason" in refused.stderr
    started = _cli(
        db_url,
        *("migrations", "start", PROCESS, "1", str(v2), "--map", mapping),
        *("--case", waiting.id, "--reason", "from the command line"),
    )
    assert (started["total"], started["pending"]) == (1, 1)
    _cli(db_url, "worker", "--once")
    shown = _cli(db_url, "migrations", "show", started["id"])
    assert (shown["status"], shown["done"], shown["failed"]) == ("done", 1, 0)
    assert cases.get_case(ctx, waiting.id).process_version == v2

    moved = _cli(
        db_url,
        *("move", other.id, "--cancel", "call_customer", "--activate", "hand_to_mail"),
        *("--reason", "no phone number"),
    )
    assert moved["open_tasks"] == [] and moved["status"] == "active"
    bad = _cli(db_url, "move", other.id, "--cancel", "nope", "--reason", "x", check=False)
    assert bad.returncode == 2 and "nope" in bad.stderr
