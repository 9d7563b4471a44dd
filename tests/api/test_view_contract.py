"""The JSON of a case and of a task over HTTP holds exactly the REST contract's keys, in
its order, with times as ISO strings in UTC: the views the services answer change no
answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.platform.context import AppContext
from tests.factories import deploy

Headers = dict[str, dict[str, str]]

CASE_KEYS = [
    "id",
    "business_key",
    "process_id",
    "process_version",
    "channel",
    "status",
    "outcome",
    "segment",
    "channel_reason",
    "data",
    "open_tasks",
    "started_by",
    "created_at",
    "updated_at",
    "ended_at",
]
TASK_KEYS = [
    "id",
    "case_id",
    "business_key",
    "process_id",
    "element_id",
    "name",
    "role",
    "state",
    "claimed_by",
    "claimed_at",
    "due_at",
    "priority",
    "created_at",
    "form",
    "segment",
    "required_skills",
    "not_offered",
]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def deployed(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")


def _check_task(task: dict[str, Any]) -> None:
    assert list(task) == TASK_KEYS
    assert ISO_UTC.match(task["created_at"]) and ISO_UTC.match(task["due_at"])
    assert task["claimed_at"] is None or ISO_UTC.match(task["claimed_at"])


def _check_case(case: dict[str, Any]) -> None:
    assert list(case) == CASE_KEYS
    assert ISO_UTC.match(case["created_at"]) and ISO_UTC.match(case["updated_at"])
    for task in case["open_tasks"]:
        _check_task(task)


def test_a_case_and_its_tasks_answer_exactly_the_contract_keys(
    client: TestClient, headers: Headers, deployed: None
) -> None:
    body = {"process_id": "three_steps", "data": {"customer_id": "C-1"}}
    started = client.post("/api/cases", json=body, headers=headers["agent"])
    assert started.status_code == 201, started.text
    case = started.json()
    _check_case(case)
    assert case["open_tasks"], "the diagram opens a task at once"
    _check_case(client.get(f"/api/cases/{case['id']}", headers=headers["agent"]).json())
    listed = client.get("/api/cases", headers=headers["agent"]).json()
    assert list(listed) == ["data", "count"]
    _check_case(listed["data"][0])
    task_id = case["open_tasks"][0]["id"]
    claimed = client.post(f"/api/tasks/{task_id}/claim", headers=headers["agent"]).json()
    _check_task(claimed)
    assert claimed["state"] == "claimed" and ISO_UTC.match(claimed["claimed_at"])
    detail = client.get(f"/api/tasks/{task_id}", headers=headers["agent"]).json()
    assert list(detail) == [*TASK_KEYS, "context"]
    queue = client.get("/api/tasks?queue=mine", headers=headers["agent"]).json()
    _check_task(queue["data"][0])


def test_a_replayed_start_answers_the_same_keys(
    client: TestClient, headers: Headers, deployed: None
) -> None:
    auth = {**headers["agent"], "Idempotency-Key": "contract-1"}
    first = client.post("/api/cases", json={"process_id": "three_steps"}, headers=auth)
    again = client.post("/api/cases", json={"process_id": "three_steps"}, headers=auth)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    _check_case(again.json())
