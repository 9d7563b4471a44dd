"""Moving a case's tokens (``POST /api/cases/{id}/move``) and migrating one case
(``POST /api/cases/{id}/migrate``) on the shipped outbound diagram."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, TIMER, WORK_ITEM
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.process_models import versions
from retention_flow.services.tasks import work_items as tasks
from tests.api.conftest import assert_problem, login
from tests.factories import OWNER
from tests.outbound_change import MAPPING, NEW_WAIT, PROCESS, deploy_change

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = json.loads((BUNDLE / "scenarios.json").read_text())["bundles"][PROCESS]["start_data"]
AGENT = Actor("tom", frozenset({"agent", "telemarketing"}))
LEAD = Actor("lena", frozenset({"team_lead"}))


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


@pytest.fixture
def owner(add_user: Callable[..., dict[str, str]]) -> dict[str, str]:
    return add_user("olga", ["process_owner"])


def _fresh_owner(client: TestClient) -> dict[str, str]:
    """A new token for olga (after the test clock moved past the first one's expiry)."""
    answer = login(client, "olga")
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _waiting_case(ctx: AppContext) -> CaseView:
    case = cases.start_case(ctx, AGENT, PROCESS, START)
    [call] = [t for t in case.open_tasks if t.element_id == "call_customer"]
    tasks.complete(ctx, AGENT, call.id, {"reached": False})
    return cases.get_case(ctx, case.id)


def _pending_timers(ctx: AppContext, case_id: str) -> list[str]:
    with read_session(ctx.db) as session:
        return sorted(
            session.execute(
                select(TIMER.c.element_id).where(
                    and_(TIMER.c.case_id == case_id, TIMER.c.state == "pending")
                )
            ).scalars()
        )


def _lock(ctx: AppContext, case_id: str) -> int:
    with read_session(ctx.db) as session:
        return int(
            session.execute(select(CASE.c.lock_version).where(CASE.c.id == case_id)).scalar_one()
        )


def test_move_skips_the_wait_to_a_new_call(
    ctx: AppContext, client: TestClient, owner: dict[str, str]
) -> None:
    case = _waiting_case(ctx)
    assert case.open_tasks == [] and _pending_timers(ctx, case.id) == ["wait_before_retry"]
    answer = client.post(
        f"/api/cases/{case.id}/move",
        json={
            "cancel": ["wait_before_retry"],
            "activate": ["call_customer"],
            "reason": "customer asked to be called today",
        },
        headers=owner,
    )
    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert [t["element_id"] for t in moved["open_tasks"]] == ["call_customer"]
    # entered through its boundary events: the 4-hour SLA timer runs again
    assert _pending_timers(ctx, case.id) == ["call_overdue"]
    with read_session(ctx.db) as session:
        [event] = [e for e in audit.history(session, case.id) if e.type == "case_moved"]
        assert event.actor == "olga" and event.detail == {
            "cancel": ["wait_before_retry"],
            "activate": ["call_customer"],
            "reason": "customer asked to be called today",
        }
        assert audit.verify(session, case.id).ok
    # and the case goes on from there: the call is made and the offer accepted
    [call] = moved["open_tasks"]
    done = tasks.complete(ctx, AGENT, call["id"], {"reached": True, "call_outcome": "accepted"})
    assert done.case.status == "completed" and done.case.outcome == "retained"


def test_move_a_call_to_the_mail_channel(
    ctx: AppContext, client: TestClient, owner: dict[str, str]
) -> None:
    case = cases.start_case(ctx, AGENT, PROCESS, START)
    [call] = case.open_tasks
    answer = client.post(
        f"/api/cases/{case.id}/move",
        json={"cancel": ["call_customer"], "activate": ["hand_to_mail"], "reason": "no phone"},
        headers=owner,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["open_tasks"] == []
    # the call task and its SLA timer are gone; the mail channel waits for the form
    assert _pending_timers(ctx, case.id) == ["await_form"]
    with read_session(ctx.db) as session:
        state = session.execute(
            select(WORK_ITEM.c.state).where(WORK_ITEM.c.id == call.id)
        ).scalar_one()
        assert state == "cancelled"


def test_cancel_only_the_sla_timer(
    ctx: AppContext, client: TestClient, owner: dict[str, str]
) -> None:
    """A boundary event's token goes alone: the call stays, its SLA timer is cancelled;
    cancelling the call too would leave the case without a token (422)."""
    case = cases.start_case(ctx, AGENT, PROCESS, START)
    url = f"/api/cases/{case.id}/move"
    body = {"cancel": ["call_overdue"], "reason": "no SLA for this customer"}
    answer = client.post(url, json=body, headers=owner)
    assert answer.status_code == 200, answer.text
    assert [t["element_id"] for t in answer.json()["open_tasks"]] == ["call_customer"]
    assert _pending_timers(ctx, case.id) == []
    problem = assert_problem(
        client.post(url, json={"cancel": ["call_customer"], "reason": "x"}, headers=owner),
        422,
        "validation_failed",
    )
    assert "without a token" in problem["detail"]


def test_move_refuses_elements_without_token_or_unknown(
    ctx: AppContext, client: TestClient, owner: dict[str, str], headers: dict[str, Any]
) -> None:
    case = cases.start_case(ctx, AGENT, PROCESS, START)
    before = _lock(ctx, case.id)
    url = f"/api/cases/{case.id}/move"
    body = assert_problem(
        client.post(
            url,
            json={"cancel": ["wait_before_retry"], "activate": ["call_customer"], "reason": "x"},
            headers=owner,
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["element_id"] == "wait_before_retry"
    assert "no token" in body["detail"]
    body = assert_problem(
        client.post(
            url,
            json={"cancel": ["call_customer"], "activate": ["nope"], "reason": "x"},
            headers=owner,
        ),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["element_id"] == "nope" and "not an element" in body["detail"]
    assert_problem(
        client.post(url, json={"cancel": ["call_customer"], "reason": " "}, headers=owner),
        422,
        "validation_failed",
    )
    assert _lock(ctx, case.id) == before  # nothing stored
    assert [t.element_id for t in cases.get_case(ctx, case.id).open_tasks] == ["call_customer"]
    for persona in ("agent", "team_lead", "partner", "auditor"):
        answer = client.post(
            url, json={"cancel": ["call_customer"], "reason": "x"}, headers=headers[persona]
        )
        assert answer.status_code == 403, persona


def test_single_case_migration(ctx: AppContext, client: TestClient, owner: dict[str, str]) -> None:
    case = _waiting_case(ctx)
    v2 = deploy_change(ctx, OWNER)
    url = f"/api/cases/{case.id}/migrate"
    plan = client.post(url, json={"to_version": v2, "dry_run": True}, headers=owner).json()
    [row] = plan["cases"]
    reasons = sorted(p["reason"] for p in row["problems"])
    assert row["can_migrate"] is False and reasons == ["element_missing"]
    answer = client.post(
        url,
        json={
            "to_version": v2,
            "mapping": MAPPING,
            "data_defaults": {"preferred_channel": "phone"},
            "reason": "one case first",
        },
        headers=owner,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["total"], result["done"], result["failed"]) == (1, 1, 0)
    after = cases.get_case(ctx, case.id)
    assert after.process_version == v2 and after.data["preferred_channel"] == "phone"
    assert _pending_timers(ctx, case.id) == [NEW_WAIT]
    again = client.post(url, json={"to_version": v2, "reason": "again"}, headers=owner)
    assert_problem(again, 422, "validation_failed")  # already on that version


def test_history_on_a_removed_element_does_not_stop_a_migration(
    ctx: AppContext, client: TestClient, owner: dict[str, str], clock: Any
) -> None:
    """A case that waited at the retry wait before and is back at the call moves without
    a mapping (no token is on the removed element); its history there is kept in the
    audit trail, and the case runs on into the new wait."""
    case = _waiting_case(ctx)
    clock.advance(timedelta(days=2))
    cases.fire_due_timers(ctx, case.id)
    back = cases.get_case(ctx, case.id)
    assert [t.element_id for t in back.open_tasks] == ["call_customer"]
    v2 = deploy_change(ctx, OWNER)
    owner = _fresh_owner(client)
    answer = client.post(
        f"/api/cases/{case.id}/migrate",
        json={"to_version": v2, "data_defaults": {"preferred_channel": "phone"}, "reason": "r"},
        headers=owner,
    )
    assert answer.status_code == 200 and answer.json()["done"] == 1, answer.text
    [call] = cases.get_case(ctx, case.id).open_tasks
    tasks.complete(ctx, AGENT, call.id, {"reached": False})
    assert _pending_timers(ctx, case.id) == [NEW_WAIT]
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, case.id)]
        assert types.count("timer_fired") == 1 and types.count("case_migrated") == 1


def test_a_renamed_user_task_keeps_its_work_item(
    ctx: AppContext, client: TestClient, owner: dict[str, str], clock: Any
) -> None:
    """The team lead's overdue task renamed in the new version: mapped, its open work item
    keeps its id (and claim) and takes the new element id and name."""
    case = cases.start_case(ctx, AGENT, PROCESS, {**START, "preferred_channel": "phone"})
    clock.advance(timedelta(hours=5))
    cases.fire_due_timers(ctx, case.id)
    [item] = [
        t
        for t in cases.get_case(ctx, case.id).open_tasks
        if t.element_id == "escalate_overdue_call"
    ]
    xml = versions.version_files(ctx, PROCESS, 1).files[f"{PROCESS}.bpmn"]
    renamed = xml.replace("escalate_overdue_call", "handle_overdue").replace(
        'name="Handle overdue call"', 'name="Follow up the overdue call"'
    )
    renamed = renamed.replace("handle_overdue.schema.json", "escalate_overdue_call.schema.json")
    deployed = versions.deploy_edit(ctx, OWNER, PROCESS, 1, {f"{PROCESS}.bpmn": renamed})
    [v2] = [v.version for v in deployed.versions if v.process_id == PROCESS]
    answer = client.post(
        f"/api/cases/{case.id}/migrate",
        json={
            "to_version": v2,
            "mapping": {"escalate_overdue_call": "handle_overdue"},
            "reason": "r",
        },
        headers=_fresh_owner(client),
    )
    assert answer.status_code == 200 and answer.json()["done"] == 1, answer.text
    with read_session(ctx.db) as session:
        row = session.execute(select(WORK_ITEM).where(WORK_ITEM.c.id == item.id)).one()
    assert (row.element_id, row.name, row.state) == (
        "handle_overdue",
        "Follow up the overdue call",
        "ready",
    )
    done = tasks.complete(ctx, LEAD, item.id, {"action_taken": "reminded_agent"})
    assert done.case.status == "active"
