"""A task the caller cannot see answers 404 on every task route, whatever its state,
exactly like an id that does not exist; an admin reads the tasks it may assign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.api.conftest import assert_problem
from tests.factories import actor, deploy

Headers = dict[str, dict[str, str]]
#: every task route a worker may call, with a body that would be valid
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("POST", "/claim", None),
    ("POST", "/unclaim", None),
    ("POST", "/complete", {"data": {"call_result": "reached"}}),
]


def _call(client: TestClient, method: str, url: str, auth: dict[str, str], body: Any) -> Any:
    if method == "GET":
        return client.get(url, headers=auth)
    return client.post(url, headers=auth, json=body)


@pytest.fixture
def outsiders(add_user: Callable[..., dict[str, str]]) -> dict[str, dict[str, str]]:
    """Workers who do not hold the task's lane role (telemarketing)."""
    return {
        "back_office": add_user("bo", ["back_office"]),
        "inbound_agent": add_user("ina", ["agent", "inbound"]),
    }


def _task_in_state(ctx: AppContext, state: str) -> str:
    """The first task of a fresh three_steps case: ready, claimed by 'agent', or done."""
    agent = actor("agent", "agent", "telemarketing")
    case = cases.start_case(ctx, agent, "three_steps", {})
    task_id: str = case.open_tasks[0].id
    if state in ("claimed", "completed"):
        tasks.claim(ctx, agent, task_id)
    if state == "completed":
        tasks.complete(ctx, agent, task_id, {"call_result": "reached"})
    return task_id


@pytest.mark.parametrize("state", ["ready", "claimed", "completed"])
def test_an_invisible_task_is_404_on_every_route(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    outsiders: dict[str, dict[str, str]],
    state: str,
) -> None:
    deploy(ctx, "three_steps")
    task_id = _task_in_state(ctx, state)
    before = client.get(f"/api/tasks/{task_id}", headers=headers["agent"]).json()
    for who, auth in outsiders.items():
        for method, suffix, body in ROUTES:
            unknown = _call(client, method, f"/api/tasks/no-such-task{suffix}", auth, body)
            hidden = _call(client, method, f"/api/tasks/{task_id}{suffix}", auth, body)
            got = assert_problem(hidden, 404, "not_found")
            want = assert_problem(unknown, 404, "not_found")
            # the same answer as for a task that does not exist (but for the id)
            assert got["detail"].replace(task_id, "X") == want["detail"].replace(
                "no-such-task", "X"
            ), (who, method, suffix, got)
    after = client.get(f"/api/tasks/{task_id}", headers=headers["agent"]).json()
    assert (after["state"], after["claimed_by"]) == (before["state"], before["claimed_by"])


def test_a_visible_task_still_tells_its_state(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    """Those who may see the task get the state answers (409) as before."""
    deploy(ctx, "three_steps")
    ready = _task_in_state(ctx, "ready")
    lead, agent = headers["team_lead"], headers["agent"]
    for auth in (lead, agent):
        unclaim = client.post(f"/api/tasks/{ready}/unclaim", headers=auth)
        assert_problem(unclaim, 409, "task_not_claimed")
    done = _task_in_state(ctx, "completed")
    assert_problem(client.post(f"/api/tasks/{done}/claim", headers=agent), 409, "task_not_ready")
    # a team lead sees every task but holds no lane role: claiming is refused, not hidden
    fresh = _task_in_state(ctx, "ready")
    assert_problem(client.post(f"/api/tasks/{fresh}/claim", headers=lead), 403, "forbidden")


def test_a_partner_cannot_probe_another_organisations_task(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(
        ctx, actor("agent", "agent", "telemarketing"), "three_steps", {"allocated_partner": "acme"}
    )
    task_id = case.open_tasks[0].id
    for method, suffix, body in ROUTES:
        response = _call(client, method, f"/api/tasks/{task_id}{suffix}", headers["partner2"], body)
        assert_problem(response, 404, "not_found")


def test_an_admin_reads_what_it_can_assign(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "three_steps")
    task_id = _task_in_state(ctx, "ready")
    admin = headers["admin"]
    detail = client.get(f"/api/tasks/{task_id}", headers=admin)
    assert detail.status_code == 200, detail.text
    assert detail.json()["form"]["type"] == "object"
    assigned = client.post(
        f"/api/tasks/{task_id}/assign",
        json={"assignee": "agent", "reason": "cover for a sick colleague"},
        headers=admin,
    )
    assert assigned.status_code == 200, assigned.text
    after = client.get(f"/api/tasks/{task_id}", headers=admin).json()
    assert (after["state"], after["claimed_by"]) == ("claimed", "agent")
