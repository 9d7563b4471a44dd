"""Cases, tasks and messages through HTTP on the real database."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from retention_flow.db.session import write_session
from retention_flow.db.tables import CUSTOMER
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.factories import actor, deploy

Headers = dict[str, dict[str, str]]


@pytest.fixture
def deployed(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")


def _start(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/cases", json={"process_id": "three_steps", **body}, headers=auth)


def test_start_get_and_history(client: TestClient, headers: Headers, deployed: None) -> None:
    response = _start(client, headers["agent"], data={"customer_id": "C-1"}, business_key="RC-1")
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "active" and case["process_version"] == 1
    assert case["open_tasks"][0]["element_id"] == "call_customer"
    got = client.get(f"/api/cases/{case['id']}", headers=headers["team_lead"]).json()
    assert got["id"] == case["id"] and got["data"]["customer_id"] == "C-1"
    history = client.get(f"/api/cases/{case['id']}/history", headers=headers["auditor"]).json()
    assert history["count"] == len(history["data"]) >= 1
    first = history["data"][0]
    assert first["type"] == "case_started" and first["seq"] == 1 and len(first["hash"]) == 64
    assert_problem(client.get("/api/cases/nope", headers=headers["agent"]), 404, "not_found")
    duplicate = _start(client, headers["agent"], business_key="RC-1")
    assert_problem(duplicate, 409, "conflict")


def test_idempotency_key_header(client: TestClient, headers: Headers, deployed: None) -> None:
    auth = {**headers["agent"], "Idempotency-Key": "req-1"}
    first = _start(client, auth, data={"customer_id": "C-1"})
    second = _start(client, auth, data={"customer_id": "C-1"})
    assert first.status_code == 201 and second.status_code == 201
    assert first.json() == second.json()
    assert "Idempotent-Replayed" not in _start(client, headers["agent"]).headers  # no key
    listed = client.get("/api/cases", headers=headers["agent"]).json()
    assert listed["count"] == 2


def test_list_filters_and_pagination(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None, clock: Any
) -> None:
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        _start(client, headers["agent"], data={"customer_id": f"C-{i % 2}"}, business_key=f"K{i}")
    auth = headers["team_lead"]
    page = client.get("/api/cases?limit=2&offset=1", headers=auth).json()
    assert page["count"] == 5 and [c["business_key"] for c in page["data"]] == ["K3", "K2"]
    assert client.get("/api/cases?customer=C-0", headers=auth).json()["count"] == 3
    assert client.get("/api/cases?business_key=K4", headers=auth).json()["count"] == 1
    assert client.get("/api/cases?status=completed", headers=auth).json()["count"] == 0
    assert client.get("/api/cases?status=active&channel=nope", headers=auth).json()["count"] == 0
    bad = client.get("/api/cases?limit=0", headers=auth)
    assert assert_problem(bad, 422, "validation_failed")["errors"][0]["field"] == "limit"


def test_queue_claim_complete(
    client: TestClient, headers: Headers, deployed: None, clock: Any
) -> None:
    ids = []
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        ids.append(_start(client, headers["agent"]).json()["open_tasks"][0]["id"])
    agent = headers["agent"]
    queue = client.get("/api/tasks", headers=agent).json()
    assert [t["id"] for t in queue["data"]] == ids and queue["count"] == 3
    page = client.get("/api/tasks?limit=1&offset=1", headers=agent).json()
    assert [t["id"] for t in page["data"]] == ids[1:2] and page["count"] == 3
    assert client.get("/api/tasks?queue=mine", headers=agent).json()["data"] == []
    task_id = ids[0]
    detail = client.get(f"/api/tasks/{task_id}", headers=agent).json()
    assert detail["form"]["type"] == "object" and "context" in detail
    claimed = client.post(f"/api/tasks/{task_id}/claim", headers=agent)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "agent"
    assert [t["id"] for t in client.get("/api/tasks?queue=mine", headers=agent).json()["data"]] == [
        task_id
    ]
    invalid = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"call_result": "maybe"}}, headers=agent
    )
    assert assert_problem(invalid, 422, "validation_failed")["errors"][0]["field"] == "call_result"
    done = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"call_result": "reached"}}, headers=agent
    )
    assert done.status_code == 200, done.text
    assert done.json()["next_tasks"][0]["element_id"] == "present_offer"
    again = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"call_result": "reached"}}, headers=agent
    )
    assert_problem(again, 409, "task_not_ready")
    bad_queue = client.get("/api/tasks?queue=everything", headers=agent)
    assert assert_problem(bad_queue, 422, "validation_failed")["errors"][0]["field"] == "queue"


def test_task_detail_carries_customer_contract_and_previous_attempts(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None
) -> None:
    with write_session(ctx.db) as session:
        session.execute(
            insert(CUSTOMER).values(
                id="C-77",
                name="Ada Lovelace",
                product="mobile_m",
                region="north",
                tenure_months=40,
                contract_age_months=22,
                contract_end=date(2027, 2, 1),
                monthly_revenue_cents=3499,
                churn_risk="high",
                created_at=ctx.now(),
            )
        )
        session.commit()
    agent = headers["agent"]
    first = _start(client, agent, data={"customer_id": "C-77"}).json()["open_tasks"][0]["id"]
    fresh = client.get(f"/api/tasks/{first}", headers=agent).json()["context"]
    assert fresh["customer"]["name"] == "Ada Lovelace" and fresh["previous_attempts"] == []
    assert fresh["contract"] == {
        "product": "mobile_m",
        "contract_age_months": 22,
        "contract_end": "2027-02-01",
        "monthly_revenue_cents": 3499,
    }
    done = client.post(
        f"/api/tasks/{first}/complete", json={"data": {"call_result": "reached"}}, headers=agent
    ).json()
    second = done["next_tasks"][0]["id"]
    context = client.get(f"/api/tasks/{second}", headers=agent).json()["context"]
    assert context["customer_id"] == "C-77" and context["call_result"] == "reached"
    [attempt] = context["previous_attempts"]
    assert attempt["element_id"] == "call_customer" and attempt["completed_by"] == "agent"
    assert attempt["recorded"] == {"call_result": "reached"} and attempt["name"]
    unknown = _start(client, agent, data={"customer_id": "C-404"}).json()["open_tasks"][0]["id"]
    blank = client.get(f"/api/tasks/{unknown}", headers=agent).json()["context"]
    assert blank["customer"] is None and blank["contract"] is None


def test_claim_conflict_unclaim_and_assign(
    ctx: AppContext, client: TestClient, headers: Headers, add_user: Any, deployed: None
) -> None:
    task_id = _start(client, headers["agent"]).json()["open_tasks"][0]["id"]
    other = add_user("bob", ["agent", "telemarketing"])
    assert client.post(f"/api/tasks/{task_id}/claim", headers=headers["agent"]).status_code == 200
    assert_problem(
        client.post(f"/api/tasks/{task_id}/claim", headers=other), 409, "task_already_claimed"
    )
    assert_problem(
        client.post(f"/api/tasks/{task_id}/complete", json={"data": {}}, headers=other),
        409,
        "task_already_claimed",
    )
    assert_problem(client.post(f"/api/tasks/{task_id}/unclaim", headers=other), 403, "forbidden")
    assert client.post(f"/api/tasks/{task_id}/unclaim", headers=headers["agent"]).status_code == 200
    assert_problem(
        client.post(f"/api/tasks/{task_id}/unclaim", headers=headers["agent"]),
        409,
        "task_not_claimed",
    )
    # the lane role decides who may claim: back office may not take a telemarketing task,
    # which it does not see (404 like GET, tests/api/test_task_visibility.py)
    assert_problem(
        client.post(f"/api/tasks/{task_id}/claim", headers=headers["back_office"]), 404, "not_found"
    )
    assign = client.post(
        f"/api/tasks/{task_id}/assign",
        json={"assignee": "bob", "reason": "alice is ill"},
        headers=headers["team_lead"],
    )
    assert assign.status_code == 200 and assign.json()["claimed_by"] == "bob"
    no_reason = client.post(
        f"/api/tasks/{task_id}/assign", json={"assignee": "bob"}, headers=headers["team_lead"]
    )
    assert assert_problem(no_reason, 422, "validation_failed")["errors"][0]["field"] == "reason"


def test_concurrent_claims_one_wins(
    client: TestClient, headers: Headers, add_user: Any, deployed: None
) -> None:
    task_id = _start(client, headers["agent"]).json()["open_tasks"][0]["id"]
    auths = [add_user(f"agent{i}", ["agent", "telemarketing"]) for i in range(4)]
    barrier = threading.Barrier(len(auths))
    statuses: list[int] = []

    def run(auth: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(client.post(f"/api/tasks/{task_id}/claim", headers=auth).status_code)

    threads = [threading.Thread(target=run, args=(a,)) for a in auths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409]


def test_message_is_idempotent(ctx: AppContext, client: TestClient, headers: Headers) -> None:
    deploy(ctx, "message_wait")
    case = cases.start_case(ctx, actor("bea", "back_office"), "message_wait", {}, business_key="M1")
    task_id = case.open_tasks[0].id
    back = headers["back_office"]
    letter = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": {"letter_channel": "post"}}, headers=back
    )
    assert letter.status_code == 200, letter.text
    body = {
        "correlation": {"business_key": "M1"},
        "data": {"case_number": "M1", "accepted_offer": "A"},
    }
    keyed = {**headers["system"], "Idempotency-Key": "scan-77"}
    first = client.post("/api/messages/response_form_received", json=body, headers=keyed)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "completed"
    again = client.post("/api/messages/response_form_received", json=body, headers=keyed)
    assert again.status_code == 200 and again.json() == first.json()
    assert first.headers["Idempotent-Replayed"] == "false"
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = {**body, "data": {"case_number": "M1", "accepted_offer": "B"}}
    reused = client.post("/api/messages/response_form_received", json=changed, headers=keyed)
    assert_problem(reused, 422, "idempotency_key_reused")
    other_key = {**keyed, "Idempotency-Key": "scan-78"}
    late = client.post("/api/messages/response_form_received", json=body, headers=other_key)
    assert_problem(late, 404, "message_not_correlated")
    # a failed attempt does not burn its key: the retry runs (and fails the same way)
    retry = client.post("/api/messages/response_form_received", json=body, headers=other_key)
    assert_problem(retry, 404, "message_not_correlated")


def test_partner_sees_only_its_organisation(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None
) -> None:
    system = actor("sys", "agent", "telemarketing")
    mine = cases.start_case(ctx, system, "three_steps", {"allocated_partner": "acme"})
    theirs = cases.start_case(ctx, system, "three_steps", {"allocated_partner": "globex"})
    cases.start_case(ctx, system, "three_steps", {})
    partner = headers["partner"]
    listed = client.get("/api/cases", headers=partner).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == mine.id
    assert client.get(f"/api/cases/{mine.id}", headers=partner).status_code == 200
    assert_problem(client.get(f"/api/cases/{theirs.id}", headers=partner), 404, "not_found")
    their_task = theirs.open_tasks[0].id
    for method, path in [
        ("GET", f"/api/tasks/{their_task}"),
        ("POST", f"/api/tasks/{their_task}/claim"),
        ("POST", f"/api/tasks/{their_task}/unclaim"),
    ]:
        assert_problem(client.request(method, path, headers=partner), 404, "not_found")
    assert_problem(
        client.post(f"/api/tasks/{their_task}/complete", json={"data": {}}, headers=partner),
        404,
        "not_found",
    )
    assert client.get("/api/tasks", headers=partner).json()["data"] == []
    other = client.get("/api/cases", headers=headers["partner2"]).json()
    assert [c["id"] for c in other["data"]] == [theirs.id]
