"""A multi-instance user task (tests/data/multi_instance: one call per contact): the queue
names each instance with its index, and completing one without the output item the loop
collects is a 422 naming the item (SpiffWorkflow would raise while merging it: a 500).
The tests deploy the form without its ``required`` list, so the engine's check is what
answers (with the list, the form's own check names the item first)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import assert_problem
from tests.factories import OWNER, actor, bundle_files

Headers = dict[str, dict[str, str]]
AGENT = actor("agent", "agent", "telemarketing")


def _deploy(ctx: AppContext, sequential: bool) -> None:
    files = bundle_files("multi_instance")
    form = json.loads(files["contact_result.schema.json"])
    del form["required"]
    files["contact_result.schema.json"] = json.dumps(form).encode()
    if not sequential:
        files["multi_instance.bpmn"] = files["multi_instance.bpmn"].replace(
            b'isSequential="true"', b'isSequential="false"'
        )
    processes.deploy(ctx, files, OWNER)


def _complete(client: TestClient, headers: Headers, task_id: str, data: dict[str, object]) -> None:
    done = client.post(
        f"/api/tasks/{task_id}/complete", json={"data": data}, headers=headers["agent"]
    )
    assert done.status_code == 200, done.text


def test_parallel_instances_are_numbered_and_need_their_output_item(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    _deploy(ctx, sequential=False)
    case = cases.start_case(ctx, AGENT, "multi_instance", {})
    agent = headers["agent"]
    queue = client.get("/api/tasks", headers=agent).json()["data"]
    assert sorted(t["name"] for t in queue) == ["Call (1 of 3)", "Call (2 of 3)", "Call (3 of 3)"]
    assert {t["element_id"] for t in queue} == {"call_contact"}
    first = next(t for t in queue if t["name"] == "Call (1 of 3)")

    missing = client.post(
        f"/api/tasks/{first['id']}/complete", json={"data": {"attempts": 2}}, headers=agent
    )
    body = assert_problem(missing, 422, "validation_failed")
    assert body["errors"] == [{"field": "result", "message": "required by the multi-instance task"}]
    assert "'result'" in body["detail"] and "'results'" in body["detail"]
    assert client.get(f"/api/tasks/{first['id']}", headers=agent).json()["state"] == "ready"

    for task in sorted(queue, key=lambda t: t["name"]):
        _complete(
            client, headers, task["id"], {"result": "reached" if task is first else "no_answer"}
        )
    final = cases.get_case(ctx, case.id)
    assert final.status == "completed"
    assert final.data["results"] == ["reached", "no_answer", "no_answer"]


def test_sequential_instances_come_one_by_one_with_their_index(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    _deploy(ctx, sequential=True)
    case = cases.start_case(ctx, AGENT, "multi_instance", {})
    seen = []
    for result in ("reached", "no_answer", "reached"):
        [task] = client.get("/api/tasks", headers=headers["agent"]).json()["data"]
        seen.append(task["name"])
        missing = client.post(
            f"/api/tasks/{task['id']}/complete", json={"data": {}}, headers=headers["agent"]
        )
        assert_problem(missing, 422, "validation_failed")
        _complete(client, headers, task["id"], {"result": result})
    assert seen == ["Call (1 of 3)", "Call (2 of 3)", "Call (3 of 3)"]
    final = cases.get_case(ctx, case.id)
    assert final.status == "completed"
    assert final.data["results"] == ["reached", "no_answer", "reached"]
