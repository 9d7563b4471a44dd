"""The product's channels (processes/retention) through the service layer: service tasks
write real rows exactly once, partner leads stay inside their organisation, the
four-eyes rule holds, and an SLA timer escalates to the team lead with a higher priority."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from retention_flow.core.errors import Forbidden, NotFound
from retention_flow.db.session import read_session
from retention_flow.db.tables import CASE, CONTRACT_CHANGE, LETTER, SETTLEMENT_LINE
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.audit import trail as audit
from retention_flow.services.cases import incidents
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.cases.views import CaseView, TaskView
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.tasks import work_items as tasks
from tests.factories import OWNER

BUNDLE = Path(__file__).resolve().parents[2] / "processes" / "retention"
START = {
    name: spec["start_data"]
    for name, spec in json.loads((BUNDLE / "scenarios.json").read_text())["bundles"].items()
}
AGENT = Actor("tom", frozenset({"agent", "telemarketing"}))
LEAD = Actor("lena", frozenset({"team_lead", "agent"}))
BACK = Actor("bea", frozenset({"back_office"}))
BACK2 = Actor("ben", frozenset({"back_office"}))


@pytest.fixture
def ctx(product_ctx: AppContext) -> AppContext:
    processes.deploy(product_ctx, load_bundle_path(BUNDLE), OWNER)
    return product_ctx


def _count(ctx: AppContext, table: Any, case_id: str) -> int:
    with read_session(ctx.db) as session:
        query = select(func.count()).select_from(table).where(table.c.case_id == case_id)
        return int(session.execute(query).scalar_one())


def _only(case: CaseView, element: str) -> TaskView:
    [task] = [t for t in case.open_tasks if t.element_id == element]
    return task


def test_outbound_retained_books_once_and_writes_a_letter(ctx: AppContext) -> None:
    case = cases.start_case(ctx, AGENT, "outbound_telemarketing", START["outbound_telemarketing"])
    done = tasks.complete(
        ctx,
        AGENT,
        _only(case, "call_customer").id,
        {"reached": True, "call_outcome": "accepted"},
    )
    assert done.case.status == "completed" and done.case.outcome == "retained"
    assert _count(ctx, CONTRACT_CHANGE, case.id) == 1
    assert _count(ctx, LETTER, case.id) == 1
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, case.id)]
    assert "contract_changed" in types and "letter_queued" in types


def test_a_retried_step_does_not_book_twice(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The letter service fails after the booking: the booking is rolled back with the
    step, the case waits in an incident, and the retry books exactly once."""
    from retention_flow.services.steps import handlers

    real = handlers.write_letter
    calls = {"n": 0}

    def flaky(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("printer offline")
        return real(data, params)

    ctx.service_handlers["write_letter"] = flaky
    ctx.script_engine.environment.service_handlers["write_letter"] = flaky
    case = cases.start_case(ctx, AGENT, "outbound_telemarketing", START["outbound_telemarketing"])
    result = tasks.complete(
        ctx,
        AGENT,
        _only(case, "call_customer").id,
        {"reached": True, "call_outcome": "accepted"},
    )
    assert result.case.status == "incident"
    assert _count(ctx, CONTRACT_CHANGE, case.id) == 0  # rolled back with the failed step
    fixed = incidents.retry_case(ctx, LEAD, case.id)
    assert fixed.status == "completed" and fixed.outcome == "retained"
    assert _count(ctx, CONTRACT_CHANGE, case.id) == 1
    assert _count(ctx, LETTER, case.id) == 1


def test_sla_timer_escalates_to_team_lead_with_higher_priority(ctx: AppContext, clock: Any) -> None:
    case = cases.start_case(ctx, AGENT, "outbound_telemarketing", START["outbound_telemarketing"])
    call = _only(case, "call_customer")
    clock.advance(timedelta(hours=5))
    assert worker.fire_timers_once(ctx, "w1") == 1
    after = cases.get_case(ctx, case.id)
    assert _only(after, "call_customer").priority == 90 > call.priority
    assert _only(after, "escalate_overdue_call").role == "team_lead"
    assert [t.element_id for t in tasks.list_queue(ctx, LEAD, role="team_lead")] == [
        "escalate_overdue_call"
    ]
    with read_session(ctx.db) as session:
        types = [e.type for e in audit.history(session, case.id)]
    assert types.count("timer_fired") == 1 and types.count("task_escalated") == 1


def _partner_lead(ctx: AppContext) -> tuple[CaseView, TaskView]:
    case = cases.start_case(ctx, BACK, "sales_partner", START["sales_partner"])
    lead = _only(case, "work_lead")
    assert lead.partner == case.data["allocated_partner"]
    return case, lead


def test_partners_see_only_their_own_leads(ctx: AppContext) -> None:
    _case, lead = _partner_lead(ctx)
    mine = Actor("pia", frozenset({"partner"}), lead.partner)
    other = Actor("otto", frozenset({"partner"}), "p_somebody_else")
    assert [t.id for t in tasks.list_queue(ctx, mine)] == [lead.id]
    assert tasks.list_queue(ctx, other) == []
    for attempt in (
        lambda: tasks.claim(ctx, other, lead.id),
        lambda: tasks.get_task(ctx, other, lead.id),
        lambda: tasks.complete(ctx, other, lead.id, {"partner_outcome": "declined"}),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert tasks.claim(ctx, mine, lead.id).claimed_by == "pia"


def test_four_eyes_validation_of_a_partner_claim(ctx: AppContext) -> None:
    case, lead = _partner_lead(ctx)
    partner_user = Actor("pia", frozenset({"partner", "back_office"}), lead.partner)
    result = tasks.complete(
        ctx, partner_user, lead.id, {"partner_outcome": "retained", "offer_code": "DISCOUNT_20"}
    )
    validate = _only(result.case, "validate_claim")
    with pytest.raises(Forbidden, match="four-eyes"):
        tasks.claim(ctx, partner_user, validate.id)
    with pytest.raises(Forbidden, match="four-eyes"):
        tasks.complete(ctx, partner_user, validate.id, {"claim_valid": True})
    done = tasks.complete(ctx, BACK2, validate.id, {"claim_valid": True})
    assert done.case.outcome == "retained"
    assert _count(ctx, SETTLEMENT_LINE, case.id) == 1


def test_daily_campaign_starts_cases_for_at_risk_customers(ctx: AppContext, clock: Any) -> None:
    from retention_flow.services.platform import demo

    demo.seed(ctx, processes_dir=BUNDLE.parent, customers=300, cases_total=0, password="pw-123456")
    campaign = cases.start_case(
        ctx, LEAD, "outbound_campaign", {"campaign": "jan", "batch_size": 5}
    )
    clock.advance(timedelta(days=1, minutes=1))
    assert worker.fire_timers_once(ctx, "w") == 1
    assert worker.run_jobs_once(ctx, "w", worker.default_job_handlers()) == 1
    with read_session(ctx.db) as session:
        started = session.execute(
            select(func.count())
            .select_from(CASE)
            .where(CASE.c.process_id == "outbound_telemarketing")
        ).scalar_one()
    assert started == 5
    review = _only(cases.get_case(ctx, campaign.id), "review_batch")
    assert review.role == "team_lead"
    # the next day's batch skips customers who already have an open case (the 5 calls'
    # SLA timers fire too: 6 timers)
    clock.advance(timedelta(days=1))
    assert worker.fire_timers_once(ctx, "w") == 6
    assert worker.run_jobs_once(ctx, "w", worker.default_job_handlers()) == 1
    with read_session(ctx.db) as session:
        rows = (
            session.execute(
                select(CASE.c.data).where(CASE.c.process_id == "outbound_telemarketing")
            )
            .scalars()
            .all()
        )
    customers = [r["customer_id"] for r in rows]
    assert len(customers) == 10 and len(set(customers)) == 10


def test_a_late_escalation_branch_does_not_undo_the_main_paths_data(
    ctx: AppContext, clock: Any
) -> None:
    """The team lead finishes the escalation after the case went on: its branch carries a
    copy of the data from when the timer fired, which must not overwrite newer values."""
    case = cases.start_case(ctx, AGENT, "outbound_telemarketing", START["outbound_telemarketing"])
    clock.advance(timedelta(hours=5))
    worker.fire_timers_once(ctx, "w")
    step = tasks.complete(
        ctx,
        AGENT,
        _only(cases.get_case(ctx, case.id), "call_customer").id,
        {"reached": False},
    )
    assert step.case.data["attempts"] == 1
    clock.advance(timedelta(days=1, minutes=1))
    worker.fire_timers_once(ctx, "w")
    retry = _only(cases.get_case(ctx, case.id), "call_customer")
    tasks.complete(ctx, AGENT, retry.id, {"reached": True, "call_outcome": "accepted"})
    escalation = _only(cases.get_case(ctx, case.id), "escalate_overdue_call")
    done = tasks.complete(ctx, LEAD, escalation.id, {"action_taken": "reminded_agent"})
    assert done.case.status == "completed"
    assert done.case.outcome == "retained" and done.case.data["attempts"] == 1
