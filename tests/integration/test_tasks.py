"""Work items through the service layer: queues, roles, claims, forms, concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from retention_flow.core.errors import (
    Forbidden,
    NotFound,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotReady,
    ValidationFailed,
)
from retention_flow.db.models import WorkItem
from retention_flow.db.session import read_session, write_session
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView
from retention_flow.services.people import users
from retention_flow.services.platform.context import AppContext
from retention_flow.services.tasks import work_items as tasks
from tests.factories import LEAD, actor, deploy

AGENT = actor("alice", "agent", "telemarketing")
OTHER = actor("bob", "agent", "telemarketing")
BACK = actor("bea", "back_office")


@pytest.fixture
def started(ctx: AppContext) -> CaseView:
    deploy(ctx, "three_steps")
    return cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "C-1"}, business_key="RC-1")


def test_start_projects_the_first_task(ctx: AppContext, clock: Any, started: CaseView) -> None:
    assert started.status == "active" and started.process_version == 1
    [task] = started.open_tasks
    assert task.element_id == "call_customer" and task.role == "telemarketing"
    assert task.state == "ready" and task.priority == 70
    assert task.due_at == (clock.now() + timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    assert started.data["score"] == 42  # the script task ran


def test_queue_sorted_by_due_then_priority(ctx: AppContext, clock: Any) -> None:
    deploy(ctx, "three_steps")
    ids = []
    for minutes in (30, 10, 20):
        clock.set(clock.now() + timedelta(minutes=minutes))
        ids.append(cases.start_case(ctx, AGENT, "three_steps", {}).open_tasks[0].id)
    queue = tasks.list_queue(ctx, AGENT)
    assert [t.id for t in queue] == ids  # created in time order: due in that order
    assert tasks.list_queue(ctx, BACK) == []
    assert [t.id for t in tasks.list_queue(ctx, AGENT, limit=1, offset=1)] == ids[1:2]


def test_claim_roles_and_conflicts(ctx: AppContext, started: CaseView) -> None:
    task_id = started.open_tasks[0].id
    with pytest.raises(NotFound):  # outside the back office's lanes: hidden, as on GET
        tasks.claim(ctx, BACK, task_id)
    claimed = tasks.claim(ctx, AGENT, task_id)
    assert claimed.state == "claimed" and claimed.claimed_by == "alice"
    assert tasks.claim(ctx, AGENT, task_id).claimed_by == "alice"  # idempotent for the claimant
    with pytest.raises(TaskAlreadyClaimed):
        tasks.claim(ctx, OTHER, task_id)
    assert [t.id for t in tasks.list_queue(ctx, AGENT, queue="mine")] == [task_id]
    assert tasks.list_queue(ctx, OTHER) == []
    with pytest.raises(Forbidden):
        tasks.unclaim(ctx, OTHER, task_id)
    assert tasks.unclaim(ctx, AGENT, task_id).state == "ready"
    with pytest.raises(TaskNotClaimed):
        tasks.unclaim(ctx, AGENT, task_id)
    with pytest.raises(NotFound):
        tasks.claim(ctx, AGENT, "no-such-task")


def test_queue_page_counts_what_the_user_may_take(ctx: AppContext) -> None:
    deploy(ctx, "three_steps")
    ids = [cases.start_case(ctx, AGENT, "three_steps", {}).open_tasks[0].id for _ in range(4)]
    leads = {
        cases.start_case(ctx, AGENT, "three_steps", {}).open_tasks[0].id: partner
        for partner in ("acme", "acme", "globex")
    }
    page, count = tasks.queue_page(ctx, AGENT, limit=2)
    assert [t.id for t in page] == ids[:2] and count == 7  # counted: more than a page
    assert tasks.queue_page(ctx, AGENT, limit=50)[1] == 7  # the page reached the end
    assert tasks.queue_page(ctx, AGENT, limit=5, offset=50) == ([], 7)
    assert tasks.queue_page(ctx, BACK) == ([], 0)
    acme = actor("pia", "partner", partner="acme")
    work = WorkItem.__table__.c  # type: ignore[attr-defined]
    with write_session(ctx.db) as session:  # make three the partner lane's, of two orgs
        for task_id, partner in leads.items():
            session.execute(
                update(WorkItem.__table__)  # type: ignore[attr-defined]
                .where(work.id == task_id)
                .values(role="partner", partner=partner)
            )
        session.commit()
    assert tasks.queue_page(ctx, AGENT, limit=1)[1] == 4
    assert tasks.queue_page(ctx, acme, limit=1)[1] == 2
    assert len(tasks.queue_page(ctx, acme)[0]) == 2
    assert tasks.queue_page(ctx, actor("gus", "partner", partner="globex"))[1] == 1
    assert tasks.queue_page(ctx, LEAD, role="partner", limit=1)[1] == 3  # leads see all


def test_assign_needs_team_lead_and_reason(ctx: AppContext, started: CaseView) -> None:
    task_id = started.open_tasks[0].id
    with pytest.raises(Forbidden):
        tasks.assign(ctx, AGENT, task_id, "bob", "busy")
    with pytest.raises(ValidationFailed):
        tasks.assign(ctx, LEAD, task_id, "bob", " ")
    with pytest.raises(ValidationFailed, match="no active user 'bob'"):
        tasks.assign(ctx, LEAD, task_id, "bob", "alice is ill")
    users.add_user(ctx, "bob", "password-123", ["agent", "telemarketing"])
    assigned = tasks.assign(ctx, LEAD, task_id, "bob", "alice is ill")
    assert assigned.claimed_by == "bob"
    with read_session(ctx.db) as session:
        event = audit.history(session, started.id)[-1]
    assert event.type == "task_assigned" and event.actor == "lena"
    assert event.detail == {"assignee": "bob", "reason": "alice is ill", "was_claimed_by": None}


def test_assign_stays_within_the_leads_team(ctx: AppContext, started: CaseView) -> None:
    """A lead with a team assigns to its members, and takes tasks only from them; the
    assignee must hold the lane role; an admin is not bound to a team."""
    task_id = started.open_tasks[0].id
    for name, roles, team in [
        ("tom", ["team_lead"], "north"),
        ("ann", ["agent", "telemarketing"], "north"),
        ("sam", ["agent", "telemarketing"], "south"),
        ("pat", ["back_office"], "north"),
        ("ada", ["admin"], None),
    ]:
        users.add_user(ctx, name, "password-123", roles, team=team)
    tom = actor("tom", "team_lead")
    with pytest.raises(Forbidden, match="you lead team 'north'; sam is in team 'south'"):
        tasks.assign(ctx, tom, task_id, "sam", "cover")
    with pytest.raises(ValidationFailed, match="pat does not hold the role 'telemarketing'"):
        tasks.assign(ctx, tom, task_id, "pat", "cover")
    assert tasks.assign(ctx, tom, task_id, "ann", "cover").claimed_by == "ann"
    tasks.assign(ctx, actor("ada", "admin"), task_id, "sam", "south has capacity")
    with pytest.raises(Forbidden, match="claimed by sam of team 'south', outside your team"):
        tasks.assign(ctx, tom, task_id, "ann", "take it back")
    users.set_team(ctx, "sam", "north")
    assert tasks.assign(ctx, tom, task_id, "ann", "take it back").claimed_by == "ann"


def test_complete_validates_the_form(ctx: AppContext, started: CaseView) -> None:
    task_id = started.open_tasks[0].id
    with pytest.raises(ValidationFailed) as err:
        tasks.complete(ctx, AGENT, task_id, {"call_result": "maybe"})
    assert err.value.errors[0]["field"] == "call_result"
    with pytest.raises(ValidationFailed) as err:
        tasks.complete(ctx, AGENT, task_id, {})
    assert err.value.errors[0]["field"] == "call_result"
    with pytest.raises(ValidationFailed):
        tasks.complete(ctx, AGENT, task_id, {"call_result": "reached", "hack": 1})
    # nothing was stored by the refused attempts
    assert cases.get_case(ctx, started.id).open_tasks[0].id == task_id


def test_complete_walks_the_process_and_offers_next_tasks(
    ctx: AppContext, started: CaseView
) -> None:
    task_id = started.open_tasks[0].id
    result = tasks.complete(ctx, AGENT, task_id, {"call_result": "reached"})
    [nxt] = result.next_tasks
    assert nxt.element_id == "present_offer"
    result = tasks.complete(ctx, AGENT, nxt.id, {"offer_response": "accepted"})
    [nxt] = result.next_tasks
    result = tasks.complete(ctx, AGENT, nxt.id, {"confirmation_channel": "sms"})
    case = result.case
    assert case.status == "completed" and case.open_tasks == [] and result.next_tasks == []
    assert case.data["confirmation_channel"] == "sms"
    with pytest.raises(TaskNotReady):
        tasks.complete(ctx, AGENT, task_id, {"call_result": "reached"})
    with read_session(ctx.db) as session:
        items = session.execute(select(WorkItem).where(WorkItem.case_id == case.id)).scalars().all()  # type: ignore[arg-type]
        assert sorted(i.state for i in items) == ["completed"] * 3
        assert {i.ended_by for i in items} == {"alice"}
        types = [e.type for e in audit.history(session, case.id)]
    assert types[0] == "case_started" and types[-1] == "case_completed"
    assert types.count("task_completed") == 3 and types.count("task_ready") == 3


def test_completion_data_is_audited_before_and_after(ctx: AppContext, started: CaseView) -> None:
    task_id = started.open_tasks[0].id
    tasks.complete(ctx, AGENT, task_id, {"call_result": "reached"})
    with read_session(ctx.db) as session:
        done = next(e for e in audit.history(session, started.id) if e.type == "task_completed")
    assert done.actor == "alice" and done.element_id == "call_customer"
    assert done.data_before == {"call_result": None} and done.data_after == {
        "call_result": "reached"
    }


def test_claimed_by_another_cannot_complete(ctx: AppContext, started: CaseView) -> None:
    task_id = started.open_tasks[0].id
    tasks.claim(ctx, OTHER, task_id)
    with pytest.raises(TaskAlreadyClaimed):
        tasks.complete(ctx, AGENT, task_id, {"call_result": "reached"})


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_completions_exactly_one_wins(
    ctx: AppContext, started: CaseView, workers: int
) -> None:
    task_id = started.open_tasks[0].id
    agents = [actor(f"agent{i}", "agent", "telemarketing") for i in range(workers)]
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []

    def run(who: Any) -> None:
        barrier.wait()
        try:
            tasks.complete(ctx, who, task_id, {"call_result": "reached"})
            outcomes.append("ok")
        except (TaskNotReady, TaskAlreadyClaimed) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    case = cases.get_case(ctx, started.id)
    assert [t.element_id for t in case.open_tasks] == ["present_offer"]
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, started.id)]
        assert types.count("task_completed") == 1
        assert audit.verify(session).ok


def test_live_cache_and_database_agree(ctx: AppContext, started: CaseView) -> None:
    """A step on a workflow restored from the database equals one on the live object."""
    task_id = started.open_tasks[0].id
    ctx.live.clear()
    result = tasks.complete(ctx, AGENT, task_id, {"call_result": "reached"})
    assert result.next_tasks[0].element_id == "present_offer"
