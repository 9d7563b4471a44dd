"""Case control through the API: cancel, suspend / resume (claims, completions, messages
and timers of a suspended case), data correction checked against the forms. Timers run
on the injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.core.clock import FrozenClock
from retention_flow.core.config import Settings
from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.factories import actor, deploy

AGENT = actor("agent", "agent", "telemarketing")
Headers = dict[str, dict[str, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Tokens that outlive the clock's jumps (timers are hours away)."""
    return settings.model_copy(update={"token_ttl_minutes": 7 * 24 * 60})


def _events(ctx: AppContext, case_id: str) -> list[Any]:
    with read_session(ctx.db) as session:
        assert audit.verify(session, stream=case_id, keys=ctx.audit_keys).ok
        return audit.history(session, case_id)


def _start(ctx: AppContext, process: str = "three_steps", **data: Any) -> CaseView:
    return cases.start_case(ctx, AGENT, process, data)


def test_cancel_needs_a_reason_and_is_audited(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "three_steps")
    case = _start(ctx)
    url = f"/api/cases/{case.id}/cancel"
    assert_problem(
        client.post(url, json={"reason": ""}, headers=headers["team_lead"]),
        422,
        "validation_failed",
    )
    assert_problem(
        client.post(url, json={"reason": "x"}, headers=headers["agent"]), 403, "forbidden"
    )
    done = client.post(url, json={"reason": "customer moved abroad"}, headers=headers["team_lead"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled" and done.json()["open_tasks"] == []
    event = next(e for e in _events(ctx, case.id) if e.type == "case_cancel_requested")
    assert event.actor == "team_lead"
    assert event.detail == {
        "reason": "customer moved abroad",
        "status_before": "active",
        "status_after": "cancelled",
    }
    again = client.post(url, json={"reason": "again"}, headers=headers["admin"])
    assert_problem(again, 409, "case_not_active")


def test_a_suspended_case_refuses_claims_completions_and_messages(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "message_wait")
    case = cases.start_case(ctx, actor("bo", "back_office"), "message_wait", {})
    task_id = case.open_tasks[0].id
    base = f"/api/cases/{case.id}"
    suspended = client.post(
        f"{base}/suspend", json={"reason": "fraud check"}, headers=headers["process_owner"]
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    bo = headers["back_office"]
    assert_problem(client.post(f"/api/tasks/{task_id}/claim", headers=bo), 409, "case_suspended")
    complete = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"letter_channel": "post"}}, headers=bo
    )
    assert_problem(complete, 409, "case_suspended")
    assign = client.post(
        f"/api/tasks/{task_id}/assign",
        json={"assignee": "back_office", "reason": "cover"},
        headers=headers["admin"],
    )
    assert_problem(assign, 409, "case_suspended")
    again = client.post(f"{base}/suspend", json={"reason": "twice"}, headers=headers["admin"])
    assert_problem(again, 409, "case_suspended")

    resumed = client.post(f"{base}/resume", json={"reason": "cleared"}, headers=headers["admin"])
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    done = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"letter_channel": "post"}}, headers=bo
    )
    assert done.status_code == 200, done.text
    # now waiting for the response form: a message to a suspended case answers 409
    client.post(f"{base}/suspend", json={"reason": "hold the mail"}, headers=headers["admin"])
    message = {"correlation": {"case_id": case.id}, "data": {"case_number": "RC-1"}}
    sent = client.post("/api/messages/response_form_received", json=message, headers=bo)
    assert_problem(sent, 409, "case_suspended")
    client.post(f"{base}/resume", headers=headers["admin"])
    sent = client.post(
        "/api/messages/response_form_received",
        json={
            "correlation": {"case_id": case.id},
            "data": {"case_number": "RC-1", "accepted_offer": "X"},
        },
        headers=bo,
    )
    assert sent.status_code == 200 and sent.json()["status"] == "completed", sent.text
    kinds = [(e.type, (e.detail or {}).get("status_after")) for e in _events(ctx, case.id)]
    assert ("case_suspended", "suspended") in kinds and ("case_resumed", "active") in kinds


def test_timers_are_held_while_suspended_and_fire_at_resume(
    ctx: AppContext, client: TestClient, headers: Headers, clock: FrozenClock
) -> None:
    """The rule: a timer that fell due while the case was suspended fires at the worker's
    next pass after resume, once; a timer not yet due keeps its due time."""
    deploy(ctx, "timers")
    late, early = _start(ctx, "timers"), _start(ctx, "timers")  # call_overdue: PT2H
    owner = headers["process_owner"]
    for case in (late, early):
        r = client.post(f"/api/cases/{case.id}/suspend", json={"reason": "audit"}, headers=owner)
        assert r.status_code == 200, r.text
    clock.advance(timedelta(hours=1))
    resumed = client.post(f"/api/cases/{early.id}/resume", headers=owner)
    assert resumed.status_code == 200
    clock.advance(timedelta(hours=2))  # both timers are due now; `late` is still suspended
    assert worker.fire_timers_once(ctx, "w1") == 1  # only the resumed case's timer
    assert [t.element_id for t in cases.get_case(ctx, early.id).open_tasks] == ["handle_overdue"]
    assert [t.element_id for t in cases.get_case(ctx, late.id).open_tasks] == ["call_customer"]
    clock.advance(timedelta(hours=5))
    assert worker.fire_timers_once(ctx, "w1") == 0  # held: not fired, not dropped
    resumed = client.post(f"/api/cases/{late.id}/resume", json={"reason": "done"}, headers=owner)
    event = [e for e in _events(ctx, late.id) if e.type == "case_resumed"][-1]
    assert event.detail["timers_due"] == ["call_overdue"]
    assert worker.fire_timers_once(ctx, "w1") == 1  # fell due while suspended: fires now
    assert worker.fire_timers_once(ctx, "w1") == 0  # once
    assert [t.element_id for t in cases.get_case(ctx, late.id).open_tasks] == ["handle_overdue"]


def test_resume_of_a_case_with_an_open_incident_goes_back_to_incident(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    from retention_flow.services.process_models import deployments as processes
    from tests.factories import OWNER, bundle_files

    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(b"score = 42", b"score = 1 // d")
    processes.deploy(ctx, files, OWNER)
    case = _start(ctx, d=0)
    assert case.status == "incident"
    base, admin = f"/api/cases/{case.id}", headers["admin"]
    assert (
        client.post(f"{base}/suspend", json={"reason": "look"}, headers=admin).json()["status"]
        == "suspended"
    )
    assert client.post(f"{base}/resume", headers=admin).json()["status"] == "incident"
    assert_problem(client.post(f"{base}/resume", headers=admin), 409, "case_not_active")


def test_data_correction_is_checked_against_the_forms_and_reaches_the_workflow(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "all_elements")
    case = _start(ctx, "all_elements", customer_id="C-1")
    url, owner = f"/api/cases/{case.id}/data", headers["process_owner"]
    wrong = client.patch(
        url, json={"patch": {"tenure_months": "twelve"}, "reason": "typo"}, headers=owner
    )
    body = assert_problem(wrong, 422, "validation_failed")
    assert body["errors"][0]["field"] == "tenure_months"
    assert "qualify_customer.schema.json" in body["errors"][0]["message"]
    enum = client.patch(url, json={"patch": {"churn_risk": "medium"}, "reason": "x"}, headers=owner)
    assert assert_problem(enum, 422, "validation_failed")["errors"][0]["field"] == "churn_risk"
    no_reason = client.patch(url, json={"patch": {"tenure_months": 12}}, headers=owner)
    assert_problem(no_reason, 422, "validation_failed")
    assert_problem(
        client.patch(url, json={"patch": {"x": 1}, "reason": "r"}, headers=headers["team_lead"]),
        403,
        "forbidden",
    )
    assert_problem(
        client.patch(url, json={"patch": {"x": 1}, "reason": "r"}, headers=headers["partner"]),
        403,
        "forbidden",
    )

    ok = client.patch(
        url,
        json={
            "patch": {"customer_id": "C-2", "channel": None, "note": {"a": 1}},
            "reason": "wrong customer",
        },
        headers=owner,
    )
    assert ok.status_code == 200, ok.text
    data = ok.json()["data"]
    assert data["customer_id"] == "C-2" and "channel" not in data and data["note"] == {"a": 1}
    nested = client.patch(url, json={"patch": {"note": {"b": 2}}, "reason": "merge"}, headers=owner)
    assert nested.json()["data"]["note"] == {"a": 1, "b": 2}  # objects merge (RFC 7396)
    same = client.patch(
        url, json={"patch": {"customer_id": "C-2"}, "reason": "again"}, headers=owner
    )
    assert_problem(same, 422, "validation_failed")
    event = next(e for e in _events(ctx, case.id) if e.type == "case_data_patched")
    assert event.actor == "process_owner" and event.detail["reason"] == "wrong customer"
    assert event.data_before == {"customer_id": "C-1", "channel": "outbound", "note": None}
    assert event.data_after == {"customer_id": "C-2", "channel": None, "note": {"a": 1}}

    # the workflow carries the corrected data on: the next steps see it
    from retention_flow.services.tasks import work_items as tasks

    task = cases.get_case(ctx, case.id).open_tasks[0]
    result = tasks.complete(ctx, AGENT, task.id, {"tenure_months": 30, "churn_risk": "high"})
    after = result.case.data
    assert (
        after["customer_id"] == "C-2"
        and "channel" not in after
        and after["offer_code"] == "LOYALTY_20"
    )
    ctx.live.clear()  # and so does the stored state
    task = next(
        t for t in cases.get_case(ctx, case.id).open_tasks if t.element_id == "check_contract"
    )
    after = tasks.complete(
        ctx, actor("bo", "back_office"), task.id, {"contract_ok": True}
    ).case.data
    assert after["customer_id"] == "C-2" and after["note"] == {"a": 1, "b": 2}


def test_a_suspended_case_can_be_corrected_and_cancelled(
    ctx: AppContext, client: TestClient, headers: Headers, clock: FrozenClock
) -> None:
    deploy(ctx, "timers")
    case = _start(ctx, "timers")
    base, admin = f"/api/cases/{case.id}", headers["admin"]
    client.post(f"{base}/suspend", json={"reason": "check"}, headers=admin)
    fixed = client.patch(
        f"{base}/data", json={"patch": {"customer_id": "C-7"}, "reason": "fix"}, headers=admin
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "suspended"
    cancelled = client.post(f"{base}/cancel", json={"reason": "duplicate"}, headers=admin)
    assert cancelled.json()["status"] == "cancelled"
    clock.advance(timedelta(hours=3))
    assert worker.fire_timers_once(ctx, "w1") == 0  # the held timer went with the case
    event = next(e for e in _events(ctx, case.id) if e.type == "case_cancel_requested")
    assert event.detail["status_before"] == "suspended"


def test_unknown_case_is_404(client: TestClient, headers: Headers) -> None:
    response = client.post(
        "/api/cases/nope/suspend", json={"reason": "x"}, headers=headers["admin"]
    )
    assert_problem(response, 404, "not_found")
