"""Problem bodies for framework errors, and the operational endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.factories import deploy

Headers = dict[str, dict[str, str]]


def test_unknown_path_and_method(client: TestClient, headers: Headers) -> None:
    assert_problem(client.get("/api/nothing-here"), 404, "not_found")
    assert_problem(client.delete("/api/cases", headers=headers["agent"]), 405, "method_not_allowed")


def test_request_validation_names_fields(client: TestClient, headers: Headers) -> None:
    response = client.post("/api/cases", json={"data": [], "surprise": 1}, headers=headers["agent"])
    body = assert_problem(response, 422, "validation_failed")
    fields = {e["field"] for e in body["errors"]}
    assert {"process_id", "data", "surprise"} <= fields
    assert all(e["message"] for e in body["errors"])
    not_json = client.post(
        "/api/cases",
        content=b"{not json",
        headers={**headers["agent"], "Content-Type": "application/json"},
    )
    assert_problem(not_json, 422, "validation_failed")


def test_body_limit_with_and_without_length(client: TestClient, headers: Headers) -> None:
    big = b"x" * (3 * 1024 * 1024)
    declared = client.post(
        "/api/cases", content=big, headers={**headers["agent"], "Content-Type": "application/json"}
    )
    assert_problem(declared, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:
        for _ in range(48):
            yield b"x" * 65536

    streamed = client.post(
        "/api/processes",
        content=chunks(),
        headers={
            **headers["process_owner"],
            "Content-Type": "multipart/form-data; boundary=zzz",
        },
    )
    assert_problem(streamed, 413, "payload_too_large")


def test_health_and_ready(ctx: AppContext, client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    with ctx.db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    stale = client.get("/ready")
    assert stale.status_code == 503 and stale.json()["migration"] == "0001"


def test_metrics(ctx: AppContext, client: TestClient, headers: Headers) -> None:
    deploy(ctx, "three_steps")
    created = client.post(
        "/api/cases", json={"process_id": "three_steps"}, headers=headers["agent"]
    )
    task_id = created.json()["open_tasks"][0]["id"]
    client.get(f"/api/tasks/{task_id}", headers=headers["agent"])
    text_body = client.get("/metrics", headers=headers["admin"]).text
    assert "retention_flow_cases_started_total 1.0" in text_body
    assert 'retention_flow_work_items_open{role="telemarketing",state="ready"} 1.0' in text_body
    assert 'route="/api/tasks/{task_id}"' in text_body  # the template, not the raw path
    assert task_id not in text_body


def test_openapi_lists_the_contract(client: TestClient) -> None:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/auth/token",
        "/api/me",
        "/api/processes",
        "/api/cases",
        "/api/cases/{case_id}/history",
        "/api/messages/{message_name}",
        "/api/tasks/{task_id}/complete",
        "/api/audit/verify",
    ):
        assert path in paths


def test_values_the_database_cannot_store_are_422(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    deploy(ctx, "three_steps")
    huge = client.post(
        "/api/cases", json={"process_id": "three_steps", "version": 2**40}, headers=headers["agent"]
    )
    assert assert_problem(huge, 422, "validation_failed")["errors"][0]["field"] == "version"
    nul = client.post(
        "/api/cases",
        json={"process_id": "three_steps", "data": {"note": "a\u0000b"}, "business_key": "k\u0000"},
        headers=headers["agent"],
    )
    assert nul.status_code in (201, 422), nul.text  # SQLite stores NUL; PostgreSQL cannot
    if nul.status_code == 422:
        assert_problem(nul, 422, "validation_failed")
