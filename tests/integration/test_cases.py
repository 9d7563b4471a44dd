"""Cases: idempotent start, business keys, message correlation, cancel, round trips."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from retention_flow.core.errors import (
    CaseNotActive,
    Conflict,
    MessageNotCorrelated,
    NotFound,
    ValidationFailed,
)
from retention_flow.db.session import read_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.steps.save import load_head
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER, actor, bundle_files, deploy

AGENT = actor("alice", "agent", "telemarketing", "back_office")


def test_idempotent_start_returns_the_same_case(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    first = cases.start_case(ctx, AGENT, "three_steps", {"a": 1}, idempotency_key="k-1")
    again = cases.start_case(ctx, AGENT, "three_steps", {"a": 1}, idempotency_key="k-1")
    assert again.id == first.id
    assert cases.list_cases(ctx)[1] == 1
    deploy(ctx, "no_lanes")
    with pytest.raises(Conflict):
        cases.start_case(ctx, AGENT, "no_lanes", {}, idempotency_key="k-1")


def test_concurrent_idempotent_starts_make_one_case(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    barrier = threading.Barrier(3)
    ids: list[str] = []

    def run() -> None:
        barrier.wait()
        ids.append(cases.start_case(ctx, AGENT, "three_steps", {}, idempotency_key="same").id)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 3 and len(set(ids)) == 1
    assert cases.list_cases(ctx)[1] == 1


def test_business_key_is_unique(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    cases.start_case(ctx, AGENT, "three_steps", {}, business_key="RC-7")
    with pytest.raises(Conflict):
        cases.start_case(ctx, AGENT, "three_steps", {}, business_key="RC-7")
    assert cases.list_cases(ctx, business_key="RC-7")[1] == 1


def test_start_refuses_bad_input(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    with pytest.raises(NotFound):
        cases.start_case(ctx, AGENT, "nope", {})
    with pytest.raises(ValidationFailed):
        cases.start_case(ctx, AGENT, "three_steps", {"when": object()})
    with pytest.raises(ValidationFailed):
        cases.start_case(ctx, AGENT, "three_steps", [1, 2])  # type: ignore[arg-type]
    assert cases.list_cases(ctx)[1] == 0


def _wait_for_message(ctx: AppContext, **kw: Any) -> CaseView:
    deploy(ctx, "message_wait")
    case = cases.start_case(ctx, AGENT, "message_wait", {"case_number": "RC-42"}, **kw)
    tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"letter_channel": "post"})
    return case


def test_message_by_business_key(ctx: AppContext) -> None:
    case = _wait_for_message(ctx, business_key="RC-42")
    with pytest.raises(MessageNotCorrelated):
        cases.correlate_message(ctx, AGENT, "response_form_received", {"business_key": "RC-43"}, {})
    with pytest.raises(MessageNotCorrelated):
        cases.correlate_message(ctx, AGENT, "some_other_message", {"business_key": "RC-42"}, {})
    done = cases.correlate_message(
        ctx,
        AGENT,
        "response_form_received",
        {"business_key": "RC-42"},
        {"case_number": "RC-42", "accepted_offer": "LOYALTY_20"},
    )
    assert done.id == case.id and done.status == "completed"
    assert done.data["accepted_offer"] == "LOYALTY_20"
    with pytest.raises(MessageNotCorrelated):  # the case no longer waits
        cases.correlate_message(ctx, AGENT, "response_form_received", {"business_key": "RC-42"}, {})


def test_message_by_declared_correlation_key(ctx: AppContext) -> None:
    files = bundle_files("message_wait")
    files["bundle.json"] = b'{"correlation_keys": ["case_number"]}'
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, AGENT, "message_wait", {"case_number": "RC-99"})
    tasks.complete(ctx, AGENT, case.open_tasks[0].id, {"letter_channel": "post"})
    done = cases.correlate_message(
        ctx,
        AGENT,
        "response_form_received",
        {"case_number": "RC-99"},
        {"case_number": "RC-99", "accepted_offer": "X"},
    )
    assert done.id == case.id and done.status == "completed"


def test_cancel_closes_work_items_and_is_audited(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {})
    with pytest.raises(ValidationFailed):
        case_control.cancel_case(ctx, AGENT, case.id, "")
    cancelled = case_control.cancel_case(ctx, AGENT, case.id, "customer moved abroad")
    assert cancelled.status == "cancelled" and cancelled.open_tasks == []
    assert tasks.list_queue(ctx, AGENT) == []
    with pytest.raises(CaseNotActive):
        case_control.cancel_case(ctx, AGENT, case.id, "again")
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, case.id)]
    assert types[-3:] == ["case_cancel_requested", "task_cancelled", "case_cancelled"]


def test_lanes_less_tasks_belong_to_the_starters_role(ctx: AppContext) -> None:
    deploy(ctx, "no_lanes")
    starter = actor("bea", "back_office")
    case = cases.start_case(ctx, starter, "no_lanes", {})
    assert [t.role for t in case.open_tasks] == ["back_office"]


def test_call_activity_tasks_are_projected(ctx: AppContext) -> None:
    deploy(ctx, "call_activity")
    specialist = actor(
        "sam", "agent", "specialist", "inbound", "telemarketing", "back_office", "team_lead"
    )
    case = cases.start_case(ctx, specialist, "call_activity_parent", {})
    assert case.open_tasks, case
    ctx.live.clear()
    with read_session(ctx.db) as session:
        assert load_head(session, case.id).lock_version == 1
