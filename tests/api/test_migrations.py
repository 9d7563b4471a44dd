"""Migrating running cases through the API, on a real change of the shipped outbound
diagram (tests/outbound_change.py): 1,000 running cases at different elements, a dry
run, the execution by the worker's job, and what the migrated cases do next."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, TIMER, WORK_ITEM
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.api.conftest import assert_problem
from tests.factories import OWNER
from tests.outbound_change import MAPPING, NEW_WAIT, OLD_WAIT, PROCESS, deploy_change

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
#: 4 groups of 250: 1,000 running cases (RETENTION_FLOW_TEST_MIGRATION_CASES to change)
PER_GROUP = int(os.environ.get("RETENTION_FLOW_TEST_MIGRATION_CASES", "1000")) // 4
AGENT = Actor("tom", frozenset({"agent", "telemarketing"}))


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


def _start(ctx: AppContext, n: int, **extra: Any) -> CaseView:
    data = {**START, "case_number": f"RC-M-{n:05d}", "customer_id": f"C-{n}", **extra}
    return cases.start_case(ctx, AGENT, PROCESS, data)


def _call(ctx: AppContext, case: CaseView, result: dict[str, Any]) -> None:
    [task] = [t for t in case.open_tasks if t.element_id == "call_customer"]
    tasks.complete(ctx, AGENT, task.id, result)


def running_cases(ctx: AppContext, clock: Any, per_group: int) -> dict[str, list[str]]:
    """Four groups of cases, every other one started with ``preferred_channel``:
    ``escalated`` (call task plus the team lead's overdue task), ``call`` (call task),
    ``waiting`` (the retry timer), ``mail`` (inside the called mail process)."""
    groups: dict[str, list[str]] = {"escalated": [], "call": [], "waiting": [], "mail": []}
    serial = 0

    def extra() -> dict[str, Any]:
        return {"preferred_channel": "phone"} if serial % 2 == 0 else {}

    for _ in range(per_group):
        serial += 1
        groups["escalated"].append(_start(ctx, serial, **extra()).id)
    clock.advance(timedelta(hours=5))  # their 4-hour call SLA timers fall due
    while worker.fire_timers_once(ctx, "setup"):
        pass
    for _ in range(per_group):
        serial += 1
        groups["call"].append(_start(ctx, serial, **extra()).id)
        serial += 1
        case = _start(ctx, serial, **extra())
        _call(ctx, case, {"reached": False})
        groups["waiting"].append(case.id)
        serial += 1
        case = _start(ctx, serial, max_attempts=1, **extra())
        _call(ctx, case, {"reached": False})
        groups["mail"].append(case.id)
    return groups


def _lacks_channel(ctx: AppContext, case_id: str) -> bool:
    with read_session(ctx.db) as session:
        data = session.execute(select(CASE.c.data).where(CASE.c.id == case_id)).scalar_one()
    return "preferred_channel" not in data


def _run_worker(ctx: AppContext) -> None:
    handlers = worker.default_job_handlers()
    while worker.run_jobs_once(ctx, "w1", handlers):
        pass


def _events(ctx: AppContext, kind: str) -> Counter[str]:
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(AUDIT_EVENT.c.case_id).where(AUDIT_EVENT.c.type == kind)
        ).scalars()
        return Counter(rows)


def test_thousand_cases_dry_run_then_migrate(
    ctx: AppContext, client: TestClient, add_user: Callable[..., dict[str, str]], clock: Any
) -> None:
    groups = running_cases(ctx, clock, per_group=PER_GROUP)
    everyone = [cid for ids in groups.values() for cid in ids]
    total = len(everyone)
    v2 = deploy_change(ctx, OWNER)
    owner = add_user("olga", ["process_owner"])  # after the clock moved: a fresh token
    body: dict[str, Any] = {"process_id": PROCESS, "from_version": 1, "to_version": v2}

    # dry run without the mapping: the waiting cases sit on an element v2 lacks
    answer = client.post("/api/migrations", json=body, headers=owner)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["total"] == total == 4 * PER_GROUP and len(plan["cases"]) == total
    by_case = {row["case_id"]: row for row in plan["cases"]}
    for cid in groups["waiting"]:
        [problem] = [p for p in by_case[cid]["problems"] if p["reason"] == "element_missing"]
        assert problem["element_id"] == OLD_WAIT and by_case[cid]["can_migrate"] is False
    for cid in groups["call"] + groups["escalated"]:
        missing = [p["field"] for p in by_case[cid]["problems"] if p["reason"] == "data_missing"]
        assert missing == (["preferred_channel"] if _lacks_channel(ctx, cid) else [])
    assert all(by_case[cid]["can_migrate"] for cid in groups["mail"])  # past the gateway
    assert set(by_case[groups["escalated"][0]]["tokens"]) == {
        "call_customer",
        "escalate_overdue_call",
    }

    # with the mapping: only the cases lacking data stay behind
    body["mapping"] = MAPPING
    plan = client.post("/api/migrations", json=body, headers=owner).json()
    stuck = {r["case_id"] for r in plan["cases"] if not r["can_migrate"]}
    expected_stuck = {
        cid
        for cid in groups["call"] + groups["escalated"] + groups["waiting"]
        if _lacks_channel(ctx, cid)
    }
    assert stuck == expected_stuck and plan["can_migrate"] == total - len(stuck)

    # execute: a reason is required; then the worker's job migrates in batches
    assert_problem(
        client.post("/api/migrations", json={**body, "dry_run": False}, headers=owner),
        422,
        "validation_failed",
    )
    started = client.post(
        "/api/migrations",
        json={**body, "dry_run": False, "reason": "retry waits count business days"},
        headers=owner,
    )
    assert started.status_code == 202, started.text
    migration = started.json()
    assert migration["status"] == "running" and migration["pending"] == total
    _run_worker(ctx)
    progress = client.get(f"/api/migrations/{migration['id']}", headers=owner).json()
    assert progress["status"] == "done" and progress["finished_at"]
    assert (progress["total"], progress["done"], progress["failed"]) == (
        total,
        total - len(stuck),
        len(stuck),
    )
    assert len(progress["failures"]) == min(200, len(stuck))
    assert all("preferred_channel" in f["error"] for f in progress["failures"])

    # the rest, with the data they lack given as a default
    rest = client.post(
        "/api/migrations",
        json={
            **body,
            "dry_run": False,
            "reason": "channel defaults to phone",
            "data_defaults": {"preferred_channel": "phone"},
        },
        headers=owner,
    ).json()
    assert rest["total"] == len(stuck)
    _run_worker(ctx)
    assert client.get(f"/api/migrations/{rest['id']}", headers=owner).json()["done"] == len(stuck)

    # exactly one migration event per case, with from/to, mapping and reason
    assert _events(ctx, "case_migrated") == Counter(everyone)
    _check_projection(ctx, groups, v2)
    _continue_migrated(ctx, groups, clock)


def _check_projection(ctx: AppContext, groups: dict[str, list[str]], v2: int) -> None:
    with read_session(ctx.db) as session:
        versions = Counter(
            session.execute(select(CASE.c.process_version).where(CASE.c.process_id == PROCESS))
        )
        assert versions == Counter({(v2,): sum(len(ids) for ids in groups.values())})
        waiting = groups["waiting"][0]
        timers = session.execute(
            select(TIMER.c.element_id).where(
                and_(TIMER.c.case_id == waiting, TIMER.c.state == "pending")
            )
        ).scalars()
        assert list(timers) == [NEW_WAIT]
        open_items = session.execute(
            select(func.count())
            .select_from(WORK_ITEM)
            .where(
                and_(
                    WORK_ITEM.c.case_id.in_(groups["escalated"]),
                    WORK_ITEM.c.state == "ready",
                )
            )
        ).scalar_one()
        assert open_items == 2 * len(groups["escalated"])  # kept across the migration
        event = next(e for e in audit.history(session, waiting) if e.type == "case_migrated")
        assert event.detail is not None
        assert event.detail["from_version"] == 1 and event.detail["to_version"] == v2
        assert event.detail["mapping"] == MAPPING and event.detail["reason"]
        assert audit.verify(session, waiting).ok


def _continue_migrated(ctx: AppContext, groups: dict[str, list[str]], clock: Any) -> None:
    """Migrated cases go on in the new version: a call not reached waits at the new
    timer; the timer fires into a new call; the mail cases still end."""
    case = cases.get_case(ctx, groups["call"][0])
    _call(ctx, case, {"reached": False})
    after = cases.get_case(ctx, case.id)
    assert after.status == "active" and after.open_tasks == []
    clock.advance(timedelta(days=4))
    while worker.fire_timers_once(ctx, "w1"):
        pass
    again = cases.get_case(ctx, groups["waiting"][0])
    assert [t.element_id for t in again.open_tasks] == ["call_customer"]
    mail = groups["mail"][0]
    assert cases.get_case(ctx, mail).process_version == 2
    for _deadline in ("first_deadline", "final_deadline"):  # no answer to the letters
        clock.advance(timedelta(days=15))
        cases.fire_due_timers(ctx, mail)
    ended = cases.get_case(ctx, mail)
    assert (ended.status, ended.outcome) == ("completed", "no_response")
