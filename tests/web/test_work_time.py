"""Handling time measures work: it counts from the agent opening the task page (or
claiming it) to completing it, pauses excluded, through the pages a user takes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from retention_flow.core.clock import FrozenClock
from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, WORK_ITEM
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, deploy
from tests.web.conftest import PageClient

AGENT = actor("agent", "agent", "telemarketing")
OTHER = actor("agent2", "agent", "telemarketing")


@pytest.fixture
def task_id(ctx: AppContext) -> str:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"case_number": "RC-1"}, business_key="RC-1")
    return str(case.open_tasks[0].id)


def _item(ctx: AppContext, task_id: str) -> dict[str, Any]:
    with read_session(ctx.db) as session:
        row = session.execute(select(WORK_ITEM).where(WORK_ITEM.c.id == task_id)).mappings()
        return dict(row.one())


def _events(ctx: AppContext, task_id: str) -> list[str]:
    with read_session(ctx.db) as session:
        statement = select(AUDIT_EVENT.c.type).where(AUDIT_EVENT.c.task_id == task_id)
        return list(session.execute(statement.order_by(AUDIT_EVENT.c.id)).scalars())


def test_handling_counts_from_opening_the_page_to_submitting(
    ctx: AppContext, clock: FrozenClock, pages: dict[str, PageClient], task_id: str
) -> None:
    created = clock.now()
    clock.advance(timedelta(seconds=40))  # waits in the queue
    assert pages["agent"].get(f"/tasks/{task_id}").status_code == 200
    clock.advance(timedelta(seconds=95))  # the call
    answer = pages["agent"].post(f"/tasks/{task_id}/complete", {"call_result": "reached"})
    assert answer.status_code == 303
    item = _item(ctx, task_id)
    assert item["handling_seconds"] == 95.0
    assert item["first_worked_at"] == created + timedelta(seconds=40)
    assert item["state"] == "completed" and item["work_started_at"] is None
    assert _events(ctx, task_id)[-3:] == ["task_opened", "task_claimed", "task_completed"]


def test_a_release_pauses_the_clock(
    ctx: AppContext, clock: FrozenClock, pages: dict[str, PageClient], task_id: str
) -> None:
    agent = pages["agent"]
    agent.post(f"/tasks/{task_id}/claim")
    clock.advance(timedelta(seconds=60))
    assert agent.post(f"/tasks/{task_id}/release").status_code == 303
    clock.advance(timedelta(minutes=30))  # back in the queue: not handling
    agent.get(f"/tasks/{task_id}")
    clock.advance(timedelta(seconds=30))
    agent.post(f"/tasks/{task_id}/complete", {"call_result": "reached"})
    assert _item(ctx, task_id)["handling_seconds"] == 90.0


def test_viewing_without_the_lane_starts_nothing_and_a_pass_through_counts_zero(
    ctx: AppContext, clock: FrozenClock, pages: dict[str, PageClient], task_id: str
) -> None:
    assert pages["team_lead"].get(f"/tasks/{task_id}").status_code == 200
    assert _item(ctx, task_id)["work_started_at"] is None
    pages["agent"].get(f"/tasks/{task_id}")  # the agent opens it ...
    clock.advance(timedelta(seconds=50))
    # ... and a colleague completes it straight from the queue: their work took no time
    tasks.complete(ctx, OTHER, task_id, {"call_result": "reached"})
    assert _item(ctx, task_id)["handling_seconds"] == 0.0
    assert _events(ctx, task_id).count("task_opened") == 1
