"""Idempotency-Key through HTTP (IETF Idempotency-Key header draft): keys per user and
operation, replays marked ``Idempotent-Replayed: true`` with the original status and
body, a reused key with another body 422, a duplicate while the first runs 409, and the
answer stored in the start's own transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, IDEMPOTENCY_KEY
from retention_flow.services.cases import keyed_starts as case_requests
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from tests.api.conftest import assert_problem
from tests.factories import actor, deploy

Headers = dict[str, dict[str, str]]
BODY = {"process_id": "three_steps", "data": {"customer_id": "C-1"}}


@pytest.fixture(autouse=True)
def deployed(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")


def _post(client: TestClient, auth: dict[str, str], key: str | None, **body: Any) -> Any:
    keyed = {**auth, "Idempotency-Key": key} if key is not None else auth
    return client.post("/api/cases", json={**BODY, **body}, headers=keyed)


def _count(ctx: AppContext, table: Any) -> int:
    with read_session(ctx.db) as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_replay_answers_the_original_status_and_body(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    first = _post(client, headers["agent"], "order-1")
    assert first.status_code == 201, first.text
    assert first.headers["Idempotent-Replayed"] == "false"
    case = first.json()
    # the case moves on; the replay is the answer given then, not the case now
    task = case["open_tasks"][0]["id"]
    agent = actor("agent", "agent", "telemarketing")
    from retention_flow.services.tasks import work_items as tasks

    tasks.complete(ctx, agent, task, {"call_result": "reached"})
    assert cases.get_case(ctx, case["id"]).open_tasks[0].id != task
    again = _post(client, headers["agent"], "order-1")
    assert again.status_code == 201 and again.json() == case
    assert again.headers["Idempotent-Replayed"] == "true"
    # the draft's sf-string form of the same key, and the key in the body, are the same key
    quoted = _post(client, headers["agent"], '"order-1"')
    assert quoted.headers["Idempotent-Replayed"] == "true" and quoted.json() == case
    in_body = _post(client, headers["agent"], None, idempotency_key="order-1")
    assert in_body.headers["Idempotent-Replayed"] == "true" and in_body.json() == case
    assert _count(ctx, CASE) == 1


def test_the_same_key_with_another_body_is_refused(
    ctx: AppContext, client: TestClient, headers: Headers
) -> None:
    assert _post(client, headers["agent"], "order-2").status_code == 201
    other = _post(client, headers["agent"], "order-2", data={"customer_id": "C-2"})
    body = assert_problem(other, 422, "idempotency_key_reused")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert "Idempotent-Replayed" not in other.headers
    disagree = _post(client, headers["agent"], "order-3", idempotency_key="order-4")
    assert assert_problem(disagree, 422, "validation_failed")["errors"][0]["field"] == (
        "idempotency_key"
    )
    for bad in ('"abc', '"a\\"', '"a"b"'):
        assert_problem(_post(client, headers["agent"], bad), 422, "validation_failed")
    assert _count(ctx, CASE) == 1


def test_keys_belong_to_their_user(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    add_user: Callable[..., dict[str, str]],
) -> None:
    """User B sending user A's key starts B's own case; neither sees the other's answer."""
    bob = add_user("bob", ["agent", "telemarketing"])
    mine = _post(client, headers["agent"], "shared-key").json()
    theirs = _post(client, bob, "shared-key")
    assert theirs.status_code == 201 and theirs.headers["Idempotent-Replayed"] == "false"
    assert theirs.json()["id"] != mine["id"] and theirs.json()["started_by"] == "bob"
    # another body is not "reused" across users either
    other = _post(client, headers["back_office"], "shared-key", data={"customer_id": "C-9"})
    assert other.status_code == 201 and other.json()["id"] not in (mine["id"], theirs.json()["id"])
    again = _post(client, bob, "shared-key")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == theirs.json()
    assert _count(ctx, CASE) == 3
    with read_session(ctx.db) as session:
        owners = sorted(session.execute(select(IDEMPOTENCY_KEY.c.owner)).scalars())
    assert owners == ["agent", "back_office", "bob"]


def test_a_duplicate_while_the_first_runs_is_409(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
    add_user: Callable[..., dict[str, str]],
) -> None:
    """Two threads against the app: the first request is held inside its start (after
    its key is reserved); the same user's duplicate answers 409, another user's same key
    runs; once the first finishes, a repeat replays it."""
    bob = add_user("bob", ["agent", "telemarketing"])
    entered, release = threading.Event(), threading.Event()
    real_start = cases.start_case  # what keyed_starts calls, patched below

    def held_start(*args: Any, **kwargs: Any) -> CaseView:
        if not entered.is_set():
            entered.set()
            assert release.wait(30)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(case_requests, "start_case", held_start)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(_post(client, headers["agent"], "k")))
    first.start()
    try:
        assert entered.wait(30)
        duplicate = _post(client, headers["agent"], "k")
        assert_problem(duplicate, 409, "idempotency_key_in_flight")
        assert _post(client, bob, "k").status_code == 201  # bob's own key runs
    finally:
        release.set()
        first.join(30)
    [original] = answers
    assert original.status_code == 201 and original.headers["Idempotent-Replayed"] == "false"
    replay = _post(client, headers["agent"], "k")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == original.json()
    assert _count(ctx, CASE) == 2


def test_a_crash_before_commit_leaves_neither_case_nor_key(
    ctx: AppContext, client: TestClient, headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is written in the start's transaction: a failure after it was written
    but before the commit undoes both, and the key runs again."""
    real_start = cases.start_case  # what keyed_starts calls, patched below

    def crash_after_record(*args: Any, before_commit: Any = None, **kwargs: Any) -> Any:
        def then_crash(session: Any, view: CaseView) -> None:
            before_commit(session, view)
            raise RuntimeError("process died before commit")

        return real_start(*args, before_commit=then_crash, **kwargs)

    monkeypatch.setattr(case_requests, "start_case", crash_after_record)
    assert _post(client, headers["agent"], "k-crash").status_code == 500
    assert _count(ctx, CASE) == 0 and _count(ctx, IDEMPOTENCY_KEY) == 0
    monkeypatch.setattr(case_requests, "start_case", real_start)
    retried = _post(client, headers["agent"], "k-crash")
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "false"
    assert _count(ctx, CASE) == 1 and _count(ctx, IDEMPOTENCY_KEY) == 1


def test_message_keys_belong_to_their_user(
    ctx: AppContext,
    client: TestClient,
    headers: Headers,
    add_user: Callable[..., dict[str, str]],
) -> None:
    """Another sender's equal key is another request: it is delivered (and here finds no
    waiting case), it does not get the first sender's answer."""
    deploy(ctx, "message_wait")
    case = cases.start_case(ctx, actor("bea", "back_office"), "message_wait", {}, business_key="M1")
    from retention_flow.services.tasks import work_items as tasks

    tasks.complete(
        ctx, actor("bea", "back_office"), case.open_tasks[0].id, {"letter_channel": "post"}
    )
    body = {
        "correlation": {"business_key": "M1"},
        "data": {"case_number": "M1", "accepted_offer": "A"},
    }
    url = "/api/messages/response_form_received"
    first = client.post(url, json=body, headers={**headers["system"], "Idempotency-Key": "m"})
    assert first.status_code == 200 and first.json()["status"] == "completed", first.text
    other_sender = add_user("scanner2", ["system"])
    second = client.post(url, json=body, headers={**other_sender, "Idempotency-Key": "m"})
    assert_problem(second, 404, "message_not_correlated")
    again = client.post(url, json=body, headers={**headers["system"], "Idempotency-Key": "m"})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
