"""Due times and SLA timers in business hours (Mon-Fri 08:00-18:00 Europe/Berlin)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from retention_flow.core.config import Settings
from retention_flow.core.errors import InvalidProcess
from retention_flow.db.models import Timer
from retention_flow.db.session import read_session
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import worker
from retention_flow.services.platform.context import AppContext
from retention_flow.services.process_models import deployments as processes
from tests.factories import OWNER, SERVICE_HANDLERS, actor, bundle_files

FRIDAY_5PM = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
MONDAY_11AM = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # 4 opening hours later
AGENT = actor("alice", "agent", "telemarketing", "team_lead")
PROCESSES = Path(__file__).resolve().parents[2] / "processes"


@pytest.fixture
def bctx(settings: Settings, clock: Any, engine: Any) -> AppContext:
    clock.set(FRIDAY_5PM)
    return AppContext(settings, clock=clock, engine=engine, service_handlers=SERVICE_HANDLERS)


@pytest.fixture
def product_bctx(settings: Settings, clock: Any, engine: Any) -> AppContext:
    from retention_flow.services.steps.handlers import default_service_handlers

    clock.set(FRIDAY_5PM)
    return AppContext(
        settings, clock=clock, engine=engine, service_handlers=default_service_handlers()
    )


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
    assert case.open_tasks[0].due_at == "2026-01-12T10:00:00Z"


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
    assert [t.element_id for t in cases.get_case(bctx, case.id).open_tasks] == ["handle_overdue"]


# --------------------------------------------------------------------- calendars per role

SATURDAY_9AM_BERLIN = "2026-01-10T08:00:00Z"  # Fri 17:00 + 3 h to 20:00 + 1 h on Saturday
LATE_SHIFT = {
    "calendars": {"late_shift": {"hours": "08:00-20:00", "days": "mon,tue,wed,thu,fri,sat"}},
    "defaults": {"telemarketing": {"calendar": "late_shift"}},
    "due_calendar": "business",
}


def _with_manifest(name: str, manifest: dict[str, Any]) -> dict[str, bytes]:
    files = bundle_files(name)
    files["bundle.json"] = json.dumps(manifest).encode()
    return files


def test_role_calendar_from_bundle_sets_due_times(bctx: AppContext) -> None:
    """bundle.json gives telemarketing a late shift and says due times count business hours:
    the call's PT4H runs Friday 17:00-20:00 and Saturday 08:00-09:00 (Berlin)."""
    processes.deploy(bctx, _with_manifest("three_steps", LATE_SHIFT), OWNER)
    case = cases.start_case(bctx, AGENT, "three_steps", {})
    assert case.open_tasks[0].due_at == SATURDAY_9AM_BERLIN


def test_bundle_due_calendar_business_without_role_calendar(bctx: AppContext) -> None:
    """No calendar for the role: the settings' calendar (Mon-Fri 08-18) counts."""
    processes.deploy(bctx, _with_manifest("three_steps", {"due_calendar": "business"}), OWNER)
    case = cases.start_case(bctx, AGENT, "three_steps", {})
    assert case.open_tasks[0].due_at == "2026-01-12T10:00:00Z"


def test_sla_timer_counts_the_roles_calendar(bctx: AppContext, clock: Any) -> None:
    files = _with_manifest("timers", LATE_SHIFT)
    files["timers.bpmn"] = files["timers.bpmn"].replace(
        b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2H"</bpmn:timeDuration>',
        b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">'
        b'business_due("PT4H", "telemarketing")</bpmn:timeDate>',
    )
    processes.deploy(bctx, files, OWNER)
    case = cases.start_case(bctx, AGENT, "timers", {})
    due = datetime.fromisoformat(SATURDAY_9AM_BERLIN)
    clock.set(due - timedelta(minutes=1))
    assert worker.fire_timers_once(bctx, "w") == 0
    clock.set(due + timedelta(seconds=1))
    assert worker.fire_timers_once(bctx, "w") == 1
    assert "handle_overdue" in [t.element_id for t in cases.get_case(bctx, case.id).open_tasks]


@pytest.mark.parametrize(
    ("manifest", "timer", "message"),
    [
        ({"defaults": {"telemarketing": {"calendar": "night"}}}, None, "no calendar named 'night'"),
        ({"calendars": {"x": {"timezone": "Mars/Olympus"}}}, None, "calendars.x"),
        ({"calendars": {"x": {"hours": "18:00-08:00"}}}, None, "must close after they open"),
        ({"calendars": {"x": {"days": "someday"}}}, None, "use names such as mon"),
        ({"calendars": {"x": {"opens": "08:00"}}}, None, "calendars.x.opens"),
        (
            {},
            b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">business_due("PT4H")'
            b"</bpmn:timeDuration>",
            "use it in a timeDate timer",
        ),
        (
            {},
            b'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">business_due("4 hours")'
            b"</bpmn:timeDate>",
            "is not an ISO 8601 duration",
        ),
    ],
)
def test_calendar_mistakes_are_named_at_deploy(
    bctx: AppContext, manifest: dict[str, Any], timer: bytes | None, message: str
) -> None:
    files = _with_manifest("timers", manifest)
    if timer is not None:
        files["timers.bpmn"] = files["timers.bpmn"].replace(
            b'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2H"</bpmn:timeDuration>',
            timer,
        )
    with pytest.raises(InvalidProcess) as err:
        processes.deploy(bctx, files, OWNER)
    assert any(message in e["message"] for e in err.value.errors), err.value.errors


def test_shipped_outbound_sla_and_retry_wait_skip_the_weekend(product_bctx: AppContext) -> None:
    """The shipped diagrams count business hours: a call opened on Friday 17:00 (Berlin) is
    due, and escalates, on Monday 11:00 — not on Friday night."""
    processes.deploy(product_bctx, load_bundle_path(PROCESSES / "retention"), OWNER)
    start = json.loads((PROCESSES / "retention" / "scenarios.json").read_text())
    data = start["bundles"]["outbound_telemarketing"]["start_data"]
    case = cases.start_case(product_bctx, AGENT, "outbound_telemarketing", data)
    [call] = [t for t in case.open_tasks if t.element_id == "call_customer"]
    assert call.due_at == "2026-01-12T10:00:00Z"
    with read_session(product_bctx.db) as session:
        timers = session.exec(select(Timer.due_at).where(Timer.case_id == case.id)).all()
    assert [t.isoformat() for t in timers] == ["2026-01-12T10:00:00+00:00"]
