"""The stages of ``save_step`` one by one (``services/steps/plan.py``), each fed by a real
case on a real database: a three-step case is started through the service layer, its
live workflow is run one operation further by the runtime, and every stage is asked what
it would write. The last tests write through ``save_step`` itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from retention_flow.core.errors import CaseConflict
from retention_flow.db import tables
from retention_flow.db.session import read_session, write_session
from retention_flow.engine.runtime import PendingTimer, Runtime, StepFailed
from retention_flow.services.audit.trail import Head, NewEvent
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models.deployments import bundle_for, process_of
from retention_flow.services.steps.plan import (
    Ending,
    StepInput,
    audit_events,
    case_values,
    plan_incident,
    plan_keys,
    plan_timers,
    project_work_items,
    status_and_outcome,
)
from retention_flow.services.steps.save import (
    checkout,
    load_head,
    load_state,
    save_step,
    waiting_of,
)
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing")
SEALED = Head(7, "ab" * 32, "k1", "seal")


@pytest.fixture
def step(ctx: AppContext) -> Iterator[StepInput]:
    """A started case, its first task completed in memory (not yet saved)."""
    deploy(ctx, "three_steps")
    view = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"})
    task_id = view.open_tasks[0].id
    with write_session(ctx.db) as session:
        head = load_head(session, view.id)
        bundle = bundle_for(ctx, session, head.deployment_id)
        wf = checkout(ctx, session, head, process_of(bundle, head.process_id))
        before = waiting_of(ctx.runtime.snapshot(wf, bundle, []))
        data = {"call_result": "reached"}
        log = ctx.runtime.run(wf, Runtime.complete_user_task(task_id, data), lambda: None)
        snapshot = ctx.runtime.snapshot(wf, bundle, log.ran, {**head.data, **log.changes})
    # the session is closed again: each test opens its own when it writes
    yield StepInput(
        head=head,
        wf=wf,
        bundle=bundle,
        snapshot=snapshot,
        events=[NewEvent("task_completed", "alice", task_id=task_id)],
        actor="alice",
        before=before,
        completed_task=task_id,
    )


def test_status_and_outcome_by_kind_of_step(ctx: AppContext, step: StepInput) -> None:
    now = ctx.now()
    assert status_and_outcome(step, now) == Ending("active", None, None)
    cancelled = dataclasses.replace(step, cancelled=True)
    assert status_and_outcome(cancelled, now) == Ending("cancelled", "cancelled", now)
    failure = StepFailed(
        element_id="x", task_id=None, error=ValueError("boom"), tb="", workflow=step.wf
    )
    assert status_and_outcome(dataclasses.replace(step, failure=failure), now).status == "incident"
    done = dataclasses.replace(
        step,
        snapshot=dataclasses.replace(step.snapshot, completed=True, data={"outcome": "kept"}),
    )
    assert status_and_outcome(done, now) == Ending("completed", "kept", now)


def test_work_items_new_task_in_completed_one_closed(ctx: AppContext, step: StepInput) -> None:
    [done] = step.open_before
    plan = project_work_items(ctx, step, ctx.now())
    [item] = plan.new_items
    assert item["element_id"] == "present_offer" and item["state"] == "ready"
    assert item["case_id"] == step.head.id and item["due_at"] > ctx.now()
    assert plan.closed == {done: "completed"}
    assert [e.type for e in plan.events] == ["task_ready"]
    assert not plan.kept_open and not plan.escalated


def test_work_items_cancelled_and_escalated(ctx: AppContext, step: StepInput) -> None:
    [(done, element)] = step.open_before.items()
    not_completed = dataclasses.replace(step, completed_task=None)
    plan = project_work_items(ctx, not_completed, ctx.now())
    assert plan.closed == {done: "cancelled"}
    assert [e.type for e in plan.events] == ["task_ready", "task_cancelled"]
    # nothing ran: the open task stays open and an SLA timer on it raises its priority
    assert step.before is not None  # the fixture's case waited on something
    stays = dataclasses.replace(
        step, snapshot=dataclasses.replace(step.snapshot, ready=[]), escalate={element: 90}
    )
    stays = dataclasses.replace(stays, before=dataclasses.replace(step.before, ready={}))
    assert project_work_items(ctx, stays, ctx.now()).escalated == []
    live = dataclasses.replace(step, escalate={element: 90})
    live = dataclasses.replace(live, snapshot=_still_ready(ctx, step))
    plan = project_work_items(ctx, live, ctx.now())
    assert plan.escalated == [(done, 90)] and plan.kept_open
    assert [e.type for e in plan.events] == ["task_escalated"]


def _still_ready(ctx: AppContext, step: StepInput) -> Any:
    """The snapshot of the case as saved: its first task still ready."""
    with read_session(ctx.db) as session:
        state = load_state(session, step.head.id)
    process = process_of(step.bundle, step.head.process_id)
    wf = ctx.runtime.load(process, state, step.head.serializer_version)
    return ctx.runtime.snapshot(wf, step.bundle, [])


def test_audit_events_in_chain_order(ctx: AppContext, step: StepInput) -> None:
    now = ctx.now()
    failure = StepFailed(
        element_id="x", task_id=None, error=ValueError("boom"), tb="tb", workflow=step.wf
    )
    failed = dataclasses.replace(step, failure=failure)
    incident = plan_incident(failed, now)
    assert incident is not None and incident.row["error_type"] == "ValueError"
    assert incident.event.detail and incident.event.detail["incident_id"] == incident.id
    items = project_work_items(ctx, failed, now)
    events = audit_events(failed, status_and_outcome(failed, now), items, incident)
    assert [e.type for e in events] == [
        "task_completed",
        "data_changed",
        "task_ready",
        "incident_raised",
    ]
    cancelled = dataclasses.replace(step, cancelled=True)
    events = audit_events(cancelled, status_and_outcome(cancelled, now), items, None)
    assert events[-1].type == "case_cancelled"
    assert plan_incident(step, now) is None


def test_timers_rewritten_only_when_they_changed(ctx: AppContext, step: StepInput) -> None:
    assert plan_timers(step).rows == [] and not plan_timers(step).delete
    due = ctx.now() + timedelta(hours=1)
    timer = PendingTimer("t-1", "wait", "duration", due)
    with_timer = dataclasses.replace(
        step, snapshot=dataclasses.replace(step.snapshot, timers=[timer])
    )
    plan = plan_timers(with_timer)
    assert not plan.delete and [r["id"] for r in plan.rows] == ["t-1"]
    assert plan.rows[0]["state"] == "pending" and plan.rows[0]["due_at"] == due
    assert step.before is not None
    same = dataclasses.replace(
        with_timer, before=dataclasses.replace(step.before, timers={("t-1", due)})
    )
    assert plan_timers(same).rows == [] and not plan_timers(same).delete
    gone = dataclasses.replace(same, snapshot=step.snapshot)
    assert plan_timers(gone).delete and plan_timers(gone).rows == []


def test_correlation_keys_only_those_that_changed(step: StepInput) -> None:
    manifest = step.bundle.manifest.model_copy(update={"correlation_keys": ["msisdn", "id"]})
    bundle = dataclasses.replace(step.bundle, manifest=manifest)
    head = dataclasses.replace(step.head, data={"msisdn": "1", "id": 5})
    plan = plan_keys(head, bundle, {"msisdn": "2", "id": 5}, fresh=False)
    assert plan.delete == ["msisdn"]
    assert plan.rows == [{"case_id": head.id, "key": "msisdn", "value": "2"}]
    plan = plan_keys(head, bundle, {"msisdn": None, "id": 5}, fresh=False)
    assert plan.delete == ["msisdn"] and plan.rows == []
    fresh = plan_keys(head, bundle, {"msisdn": "1", "id": 5}, fresh=True)
    assert fresh.delete == [] and [r["key"] for r in fresh.rows] == ["msisdn", "id"]


def test_case_values_only_what_changed(ctx: AppContext, step: StepInput) -> None:
    now = ctx.now()
    ending = status_and_outcome(step, now)
    serializer = step.head.serializer_version
    values = case_values(step, ending, SEALED, "{}", serializer, now)
    assert set(values) == {
        "state",
        "audit_seq",
        "audit_hash",
        "audit_seal_key",
        "audit_seal",
        "updated_at",
        "data",
    }
    assert values["data"]["call_result"] == "reached" and values["data"]["customer_id"] == "C-1"
    cancelled = dataclasses.replace(step, cancelled=True)
    values = case_values(cancelled, status_and_outcome(cancelled, now), SEALED, "{}", "v2", now)
    assert values["status"] == "cancelled" and values["ended_at"] == now
    assert values["serializer_version"] == "v2" and values["outcome"] == "cancelled"


def test_save_step_writes_the_plan_and_a_stale_head_writes_nothing(
    ctx: AppContext, step: StepInput
) -> None:
    with write_session(ctx.db) as session:
        result = save_step(ctx, session, step)
        session.commit()
    assert result.head.lock_version == step.head.lock_version + 1
    [item] = result.new_work_items
    assert tasks.get_task(ctx, AGENT, item["id"]).state == "ready"
    count = select(func.count()).select_from(tables.AUDIT_EVENT)
    with write_session(ctx.db) as session:
        events = session.execute(count).scalar_one()
        with pytest.raises(CaseConflict):
            save_step(ctx, session, step)  # the head it was given is no longer current
    with write_session(ctx.db) as session:
        assert session.execute(count).scalar_one() == events
        assert load_head(session, step.head.id) == result.head
