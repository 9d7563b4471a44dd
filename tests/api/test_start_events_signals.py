"""Messages that start cases, and signals broadcast to every waiting case, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from retention_flow.db.models import AuditEvent
from retention_flow.db.session import read_session
from retention_flow.db.tables import SIGNAL_WAIT
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.factories import deploy

Headers = dict[str, dict[str, str]]
REPLY = "/api/messages/customer_replied"


@pytest.fixture
def deployed(ctx: AppContext) -> None:
    deploy(ctx, "start_events")


def _reply(client: TestClient, auth: dict[str, str], customer: str, **extra: Any) -> Any:
    body = {"correlation": {"customer_id": customer}, "data": {"accepted_offer": "DATA_10"}}
    return client.post(REPLY, json=body, headers={**auth, **extra})


def _signal_waits(ctx: AppContext, case_id: str) -> list[str]:
    with read_session(ctx.db) as session:
        rows = session.execute(select(SIGNAL_WAIT.c.name).where(SIGNAL_WAIT.c.case_id == case_id))
        return sorted(rows.scalars())


def _complete_review(client: TestClient, auth: dict[str, str], case: dict[str, Any]) -> None:
    [task] = [t for t in case["open_tasks"] if t["element_id"] == "review_reply"]
    claimed = client.post(f"/api/tasks/{task['id']}/claim", headers=auth)
    assert claimed.status_code == 200, claimed.text
    done = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {}}, headers=auth)
    assert done.status_code == 200, done.text


def test_message_starts_a_case_idempotently(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None
) -> None:
    keyed = {"Idempotency-Key": "reply-C-1"}
    first = _reply(client, headers["back_office"], "C-1", **keyed)
    assert first.status_code == 200, first.text
    case = first.json()
    assert case["process_id"] == "online_reply"
    # the payload arrived through the start event; the correlation value is case data
    assert case["data"]["accepted_offer"] == "DATA_10"
    assert case["data"]["customer_id"] == "C-1"
    assert [t["element_id"] for t in case["open_tasks"]] == ["review_reply"]
    again = _reply(client, headers["back_office"], "C-1", **keyed)
    assert again.json()["id"] == case["id"]
    history = client.get(f"/api/cases/{case['id']}/history", headers=headers["auditor"]).json()
    types = [e["type"] for e in history["data"]]
    assert types[:2] == ["case_started", "message_correlated"]


def test_message_to_a_waiting_case_does_not_start_another(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None
) -> None:
    """The message_wait diagram waits for response_form_received: with a case waiting, the
    message goes to it; with none and no process starting on it, 404 as before."""
    deploy(ctx, "message_wait")
    missing = client.post(
        "/api/messages/response_form_received",
        json={"correlation": {"business_key": "nobody"}, "data": {}},
        headers=headers["back_office"],
    )
    assert_problem(missing, 404, "message_not_correlated")
    unknown = client.post(
        "/api/messages/no_such_message",
        json={"correlation": {"customer_id": "C-9"}, "data": {}},
        headers=headers["back_office"],
    )
    assert_problem(unknown, 404, "message_not_correlated")


def test_signal_reaches_every_waiting_case_and_starts_processes(
    ctx: AppContext, client: TestClient, headers: Headers, deployed: None
) -> None:
    bo = headers["back_office"]
    cases = [_reply(client, bo, f"C-{n}").json() for n in range(3)]
    for case in cases[:2]:  # two move on to wait for the signal; the third does not
        _complete_review(client, bo, case)
        assert _signal_waits(ctx, case["id"]) == ["campaign_closed"]
    assert _signal_waits(ctx, cases[2]["id"]) == []

    denied = client.post("/api/signals/campaign_closed", json={}, headers=bo)
    assert_problem(denied, 403, "forbidden")
    sent = client.post(
        "/api/signals/campaign_closed",
        json={"data": {"closed_by": "owner"}},
        headers=headers["process_owner"],
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert sorted(body["delivered"]) == sorted(c["id"] for c in cases[:2])
    assert body["started"] == [] and body["skipped"] == [] and body["remaining"] == 0
    for case in cases[:2]:
        got = client.get(f"/api/cases/{case['id']}", headers=bo).json()
        assert got["status"] == "completed"
        assert got["data"]["closing"] == {"closed_by": "owner"}  # the signal's variableName
        assert _signal_waits(ctx, case["id"]) == []
    third = client.get(f"/api/cases/{cases[2]['id']}", headers=bo).json()
    assert third["status"] == "active"  # it was not waiting: untouched

    again = client.post("/api/signals/campaign_closed", json={}, headers=headers["admin"])
    assert again.json()["delivered"] == []  # each case caught it once

    tariff = client.post("/api/signals/tariff_change", json={}, headers=headers["system"])
    assert tariff.status_code == 200, tariff.text
    [started] = tariff.json()["started"]
    case = client.get(f"/api/cases/{started}", headers=headers["agent"]).json()
    assert case["process_id"] == "tariff_notice"
    assert [t["element_id"] for t in case["open_tasks"]] == ["plan_calls"]
    with read_session(ctx.db) as session:
        received = session.execute(
            select(func.count()).where(AuditEvent.type == "signal_received")  # type: ignore[arg-type]
        ).scalar_one()
    assert received == 3  # two deliveries and one start, each audited


def test_signal_body_is_checked(client: TestClient, headers: Headers, deployed: None) -> None:
    bad = client.post(
        "/api/signals/campaign_closed", json={"data": [1]}, headers=headers["process_owner"]
    )
    assert bad.status_code == 422
