"""Every scenario in tests/data/scenarios.json, driven through the service layer on a
real database with the injected clock: tasks completed as agents do, messages
correlated, time moved forward and due timers fired."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from retention_flow.core.roles import WORK_ROLES
from retention_flow.db.models import AuditEvent, Timer
from retention_flow.db.session import read_session
from retention_flow.engine.bundle import due_at, load_bundle_path
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import DATA, OWNER, deploy

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
FILES = {
    "tests/data": DATA / "scenarios.json",
    "processes": PROCESSES / "retention" / "scenarios.json",
}
SCENARIOS = {where: json.loads(path.read_text()) for where, path in FILES.items()}
CASES = [
    pytest.param(where, bundle, name, id=f"{where}:{bundle}:{name}")
    for where, doc in SCENARIOS.items()
    for bundle, spec in doc["bundles"].items()
    for name in spec["scenarios"]
]
#: One user holding every work role, so any lane's task can be completed.
WORKER = Actor("wanda", frozenset(WORK_ROLES - {"system"}))


def _worker_for(task: TaskView) -> Actor:
    """Partner tasks are worked by a user of the partner organisation they are scoped to."""
    partner = task.partner
    return Actor(f"user-of-{partner}", WORKER.roles, partner) if partner else WORKER


def _open(ctx: Any, case_id: str) -> dict[str, TaskView]:
    return {t.element_id: t for t in cases.get_case(ctx, case_id).open_tasks}


def _timers(ctx: Any, case_id: str) -> list[str]:
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(col(Timer.due_at)).where(
                col(Timer.case_id) == case_id, col(Timer.state) == "pending"
            )
        ).scalars()
        return sorted(d.isoformat() for d in rows)


def _completed_elements(ctx: Any, case_id: str) -> set[str]:
    with read_session(ctx.db) as session:
        events = audit.history(session, case_id)
    done: set[str] = set()
    for ev in events:
        if ev.type == "engine_steps" and ev.detail:
            done.update(ev.detail["elements"])
    return done


@pytest.mark.parametrize(("where", "bundle", "scenario"), CASES)
def test_scenario(
    ctx: Any, product_ctx: Any, clock: Any, where: str, bundle: str, scenario: str
) -> None:
    doc = SCENARIOS[where]
    spec = doc["bundles"][bundle]
    clock.set(datetime.fromisoformat(doc["start_time"]))
    if where == "processes":
        ctx = product_ctx
        processes.deploy(ctx, load_bundle_path(PROCESSES / spec["folder"]), OWNER)
    else:
        deploy(ctx, spec.get("folder", bundle))
    case_id = cases.start_case(ctx, WORKER, spec["process_id"], spec.get("start_data", {})).id
    for step in spec["scenarios"][scenario]:
        if "expect_ready" in step:
            expected = {k: (v or WORKER.primary_role) for k, v in step["expect_ready"].items()}
            assert {k: t.role for k, t in _open(ctx, case_id).items()} == expected, step
        if "expect_timers" in step:
            assert _timers(ctx, case_id) == sorted(step["expect_timers"]), step
        if "complete" in step:
            task = _open(ctx, case_id)[step["complete"]]
            result = tasks.complete(ctx, _worker_for(task), task.id, step["data"])
            assert result.case.status != "incident", result.case
        if "message" in step:
            cases.correlate_message(
                ctx, WORKER, step["message"], {"case_id": case_id}, step["payload"]
            )
        if "advance" in step:
            clock.set(due_at(clock.now(), step["advance"]))
            cases.fire_due_timers(ctx, case_id)
        if "expect_completed" in step:
            case = cases.get_case(ctx, case_id)
            assert (case.status == "completed") is step["expect_completed"], case
            assert set(step.get("expect_ends", [])) <= _completed_elements(ctx, case_id)
            for key, value in step.get("expect_data", {}).items():
                assert case.data.get(key) == value, (key, case.data)
    with read_session(ctx.db) as session:
        assert audit.verify(session).ok
        assert session.execute(select(AuditEvent).where(col(AuditEvent.case_id) == case_id)).first()
