"""Due times and SLA timers in business hours (Mon-Fri 08:00-18:00 Europe/Berlin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retention_flow.core.config import Settings
from retention_flow.services import cases, processes, worker
from retention_flow.services.context import AppContext
from tests.factories import OWNER, SERVICE_HANDLERS, actor, bundle_files

FRIDAY_5PM = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
MONDAY_11AM = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # 4 opening hours later
AGENT = actor("alice", "agent", "telemarketing", "team_lead")


@pytest.fixture
def bctx(settings: Settings, clock: Any, engine: Any) -> AppContext:
    clock.set(FRIDAY_5PM)
    return AppContext(settings, clock=clock, engine=engine, service_handlers=SERVICE_HANDLERS)


def test_task_due_in_business_hours(bctx: AppContext) -> None:
    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b'<spiffworkflow:property name="due" value="PT4H" />',
        b'<spiffworkflow:property name="due" value="PT4H" />'
        b'<spiffworkflow:property name="dueCalendar" value="business" />',
        1,
    )
    processes.deploy(bctx, files, OWNER)
    case = cases.start_case(bctx, AGENT, "three_steps", {})
    assert case["open_tasks"][0]["due_at"] == "2026-01-12T10:00:00Z"


def test_sla_timer_in_business_hours(bctx: AppContext, clock: Any) -> None:
    files = bundle_files("timers")
    files["timers.bpmn"] = files["timers.bpmn"].replace(
        b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2H"</bpmn:timeDuration>',
        b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">business_due("PT4H")</bpmn:timeDate>',
    )
    processes.deploy(bctx, files, OWNER)
    case = cases.start_case(bctx, AGENT, "timers", {})
    clock.set(MONDAY_11AM - timedelta(minutes=1))  # the whole weekend passed: not yet due
    assert worker.fire_timers_once(bctx, "w") == 0
    clock.set(MONDAY_11AM + timedelta(seconds=1))
    assert worker.fire_timers_once(bctx, "w") == 1
    assert [t["element_id"] for t in cases.get_case(bctx, case["id"])["open_tasks"]] == [
        "handle_overdue"
    ]
