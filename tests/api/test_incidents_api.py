"""Incidents through the API: list with filters, one incident with the case data at
failure, retry with a data correction, bulk retry as a worker job with progress, and the
open incidents per version in the process list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.api.conftest import assert_problem
from tests.factories import OWNER, actor, bundle_files

AGENT = actor("agent", "agent", "telemarketing")
Headers = dict[str, dict[str, str]]


def _deploy_failing(ctx: AppContext) -> None:
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"score = 42", b"score = 100 // divisor"
    )
    processes.deploy(ctx, files, OWNER)


def _failing_cases(ctx: AppContext, n: int) -> list[CaseView]:
    _deploy_failing(ctx)
    started = [
        cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0, "n": i}) for i in range(n)
    ]
    assert all(c.status == "incident" for c in started)
    return started


def test_list_filters_and_shows_one_incident(
    ctx: AppContext, client: TestClient, headers: Headers, clock: FrozenClock
) -> None:
    started = _failing_cases(ctx, 3)
    owner = headers["process_owner"]
    listed = client.get("/api/incidents", params={"process_id": "three_steps"}, headers=owner)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 3 and {i["case_id"] for i in body["data"]} == {c.id for c in started}
    first = body["data"][0]
    assert first["element_id"] == "prepare_case" and first["error_code"] == "script_error"
    assert first["process_version"] == 1 and first["status"] == "open"
    assert first["error"].startswith("ZeroDivisionError:") and "Traceback" not in first["error"]
    for params, expected in (
        ({"version": 1, "element_id": "prepare_case", "error_code": "script_error"}, 3),
        ({"version": 2}, 0),
        ({"element_id": "call_customer"}, 0),
        ({"error_code": "script_budget_exceeded"}, 0),
        ({"since": (clock.now() + timedelta(seconds=1)).isoformat()}, 0),
        ({"since": clock.now().isoformat()}, 3),
        ({"process_id": "other"}, 0),
        ({"status": "resolved"}, 0),
    ):
        got = client.get("/api/incidents", params=params, headers=headers["auditor"]).json()
        assert got["count"] == expected, params
    page = client.get("/api/incidents", params={"limit": 2, "offset": 2}, headers=owner).json()
    assert page["count"] == 3 and len(page["data"]) == 1
    assert_problem(client.get("/api/incidents", headers=headers["partner"]), 403, "forbidden")

    one = client.get(f"/api/incidents/{first['id']}", headers=owner)
    assert one.status_code == 200, one.text
    detail = one.json()
    assert detail["element_name"] == "Prepare case"
    assert detail["data"] == {"divisor": 0, "n": detail["data"]["n"]}  # the case data at failure
    assert "ZeroDivisionError" in detail["traceback"]
    assert_problem(client.get("/api/incidents/nope", headers=owner), 404, "not_found")


def test_retry_with_a_correction_resolves_the_incident(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    [case] = _failing_cases(ctx, 1)
    owner = headers["process_owner"]
    [incident] = client.get("/api/incidents", headers=owner).json()["data"]
    url = f"/api/incidents/{incident['id']}/retry"
    no_reason = client.post(url, json={"patch": {"divisor": 4}}, headers=owner)
    assert_problem(no_reason, 422, "validation_failed")
    wrong_type = client.post(url, json={"patch": {"call_result": 5}, "reason": "x"}, headers=owner)
    assert (
        assert_problem(wrong_type, 422, "validation_failed")["errors"][0]["field"] == "call_result"
    )
    assert_problem(client.post(url, json={}, headers=headers["auditor"]), 403, "forbidden")

    again = client.post(url, headers=owner)  # no correction: fails again, a new incident
    assert again.status_code == 200 and again.json()["status"] == "incident"
    assert_problem(client.post(url, headers=owner), 409, "incident_not_open")
    [current] = client.get("/api/incidents", headers=owner).json()["data"]
    assert current["id"] != incident["id"]
    fixed = client.post(
        f"/api/incidents/{current['id']}/retry",
        json={"patch": {"divisor": 4}, "reason": "divisor was missing"},
        headers=headers["admin"],
    )
    assert fixed.status_code == 200, fixed.text
    view = fixed.json()
    assert (
        view["status"] == "active" and view["data"]["score"] == 25 and view["data"]["divisor"] == 4
    )
    assert [t["element_id"] for t in view["open_tasks"]] == ["call_customer"]
    assert client.get("/api/incidents", headers=owner).json()["count"] == 0
    resolved = client.get("/api/incidents", params={"status": "all"}, headers=owner).json()
    assert [i["status"] for i in resolved["data"]] == ["resolved", "resolved"]
    assert {i["resolved_by"] for i in resolved["data"]} == {"process_owner", "admin"}
    with read_session(ctx.db) as session:
        events = [e for e in audit.history(session, case.id) if e.type == "incident_retried"]
    assert events[-1].actor == "admin"
    assert events[-1].data_before == {"divisor": 0} and events[-1].data_after == {"divisor": 4}
    detail = events[-1].detail
    assert detail is not None and detail["reason"] == "divisor was missing"


def test_bulk_retry_runs_as_a_job_with_progress(
    ctx: AppContext, client: TestClient, headers: Headers, clock: FrozenClock
) -> None:
    started = _failing_cases(ctx, 3)
    owner = headers["process_owner"]
    clock.advance(timedelta(seconds=1))
    request = {"process_id": "three_steps", "version": 1, "reason": "after the fix"}
    queued = client.post("/api/incidents/retry", json=request, headers=owner)
    assert queued.status_code == 202, queued.text
    batch = queued.json()
    assert batch["state"] == "queued" and batch["matched"] == 3 and batch["done"] == 0
    progress = f"/api/incidents/retry/{batch['id']}"
    assert client.get(progress, headers=headers["auditor"]).json()["state"] == "queued"
    assert worker.run_jobs_once(ctx, "w1", worker.default_job_handlers()) == 1
    after = client.get(progress, headers=owner).json()
    # nothing was corrected: each retry failed again, and the new incidents are not
    # retried by the same batch
    assert after["state"] == "done" and after["failed_again"] == 3 and after["done"] == 3
    assert client.get("/api/incidents", headers=owner).json()["count"] == 3

    for case in started[:2]:  # correct two cases' data, then retry in bulk again
        patched = client.patch(
            f"/api/cases/{case.id}/data",
            json={"patch": {"divisor": 5}, "reason": "divisor from the contract"},
            headers=owner,
        )
        assert patched.status_code == 200 and patched.json()["status"] == "incident"
    clock.advance(timedelta(seconds=1))
    batch = client.post(
        "/api/incidents/retry", json={"reason": "data corrected"}, headers=owner
    ).json()
    worker.run_jobs_once(ctx, "w1", worker.default_job_handlers())
    after = client.get(f"/api/incidents/retry/{batch['id']}", headers=owner).json()
    assert (after["resolved"], after["failed_again"], after["skipped"]) == (2, 1, 0)
    statuses = sorted(cases.get_case(ctx, c.id).status for c in started)
    assert statuses == ["active", "active", "incident"]
    assert client.get("/api/processes", headers=owner).json()["data"][0]["open_incidents"] == {
        "1": 1
    }

    nothing = client.post(
        "/api/incidents/retry", json={"element_id": "nowhere", "reason": "x"}, headers=owner
    ).json()
    assert nothing["state"] == "done" and nothing["matched"] == 0
    assert_problem(
        client.post("/api/incidents/retry", json={"reason": "x"}, headers=headers["team_lead"]),
        403,
        "forbidden",
    )


def test_process_list_counts_open_incidents_per_version(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    processes.deploy(ctx, bundle_files("three_steps"), OWNER)
    cases.start_case(ctx, AGENT, "three_steps", {})  # version 1: no incident
    _failing_cases(ctx, 2)  # version 2
    [model] = client.get("/api/processes", headers=headers["process_owner"]).json()["data"]
    assert model["latest_version"] == 2 and model["open_incidents"] == {"2": 2}


def test_a_bulk_retry_interrupted_by_a_crash_goes_on_without_retrying_twice(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    clock: FrozenClock,
    monkeypatch: Any,
) -> None:
    from retention_flow.services.cases import incident_batches
    from retention_flow.services.cases.incidents import retry_incident

    started = _failing_cases(ctx, 3)
    owner = headers["process_owner"]
    for case in started:
        client.patch(
            f"/api/cases/{case.id}/data",
            json={"patch": {"divisor": 2}, "reason": "corrected"},
            headers=owner,
        )
    clock.advance(timedelta(seconds=1))
    batch = client.post("/api/incidents/retry", json={"reason": "go"}, headers=owner).json()
    real, calls = retry_incident, []  # what incident_batches calls, patched below

    def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(incident_batches, "retry_incident", crash_on_second)
    assert worker.run_jobs_once(ctx, "w1", worker.default_job_handlers()) == 0  # the job failed
    progress = client.get(f"/api/incidents/retry/{batch['id']}", headers=owner).json()
    assert (progress["state"], progress["resolved"]) == ("running", 1)
    clock.advance(timedelta(seconds=30))  # the job's back-off
    assert worker.run_jobs_once(ctx, "w2", worker.default_job_handlers()) == 1
    progress = client.get(f"/api/incidents/retry/{batch['id']}", headers=owner).json()
    assert progress["state"] == "done"
    assert (progress["matched"], progress["resolved"], progress["done"]) == (3, 3, 3)
    assert len(calls) == 4 and len(set(calls)) == 3  # the crashed one once more, no other
    with read_session(ctx.db) as session:
        for case in started:
            retried = [e for e in audit.history(session, case.id) if e.type == "incident_retried"]
            assert len(retried) == 1
