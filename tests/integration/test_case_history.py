"""The auditor's case history: events, diagram marks, chain check, JSON and CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from retention_flow.core.errors import NotFound
from retention_flow.db.session import write_session
from retention_flow.db.tables import AUDIT_EVENT
from retention_flow.services.cases import history as case_history
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import worker
from retention_flow.services.tasks import work_items as tasks
from tests.factories import actor, deploy

AGENT = actor("alice", "agent", "telemarketing", "team_lead")


def _worked_case(ctx: Any) -> str:
    deploy(ctx, "three_steps")
    case = cases.start_case(ctx, AGENT, "three_steps", {"customer_id": "=HYPERLINK(1)"})
    task = case.open_tasks[0]
    tasks.claim(ctx, AGENT, task.id)
    tasks.complete(ctx, AGENT, task.id, {"call_result": "reached"})
    return str(case.id)


def test_history_marks_completed_and_current_elements(ctx: Any) -> None:
    case_id = _worked_case(ctx)
    found = case_history.case_history(ctx, case_id)
    assert found.case.id == case_id
    assert [e.seq for e in found.events] == list(range(1, len(found.events) + 1))
    assert found.marks.model_dump() == {
        "completed": {"start_event": 1, "prepare_case": 1, "call_customer": 1},
        "current": ["present_offer"],
        "failed": [],
    }
    assert found.verify["ok"] is True


def test_fired_timers_count_once_and_pending_ones_are_current(ctx: Any, clock: Any) -> None:
    deploy(ctx, "timers")
    case_id = cases.start_case(ctx, AGENT, "timers", {}).id
    assert case_history.case_history(ctx, case_id).marks.current == [
        "call_customer",
        "call_overdue",
    ]
    clock.advance(timedelta(hours=3))
    worker.fire_timers_once(ctx, "w1")
    marks = case_history.case_history(ctx, case_id).marks
    assert marks.completed["call_overdue"] == 1
    assert marks.current == ["handle_overdue"]


def test_a_tampered_event_shows_in_the_case_check(ctx: Any) -> None:
    case_id = _worked_case(ctx)
    with write_session(ctx.db) as session:
        session.execute(
            update(AUDIT_EVENT)
            .where(AUDIT_EVENT.c.stream == case_id, AUDIT_EVENT.c.seq == 2)
            .values(actor="mallory")
        )
        session.commit()
    check = case_history.case_history(ctx, case_id).verify
    assert check["ok"] is False and check["broken_seq"] == 2


def test_exports_hold_every_event(ctx: Any) -> None:
    case_id = _worked_case(ctx)
    document = case_history.export(ctx, case_id)
    json.dumps(document.model_dump(mode="json"))  # JSON-ready
    rows = list(csv.DictReader(io.StringIO(case_history.export_csv(ctx, case_id))))
    assert len(rows) == len(document.events)
    assert [r["hash"] for r in rows] == [e.hash for e in document.events]
    assert rows[0]["type"] == "case_started"
    # a value that a spreadsheet would run as a formula is quoted
    assert '"=HYPERLINK(1)"' in rows[0]["data_after"]
    assert not any(v.startswith("=") for r in rows for v in r.values())


def test_unknown_case_is_not_found(ctx: Any) -> None:
    with pytest.raises(NotFound):
        case_history.case_history(ctx, "nope")
    with pytest.raises(NotFound):
        case_history.export_csv(ctx, "nope")


def test_case_search_by_creation_date(ctx: Any, clock: Any) -> None:
    from retention_flow.services.cases import reads as queries

    deploy(ctx, "three_steps")
    early = cases.start_case(ctx, AGENT, "three_steps", {})
    clock.advance(timedelta(days=2))
    late = cases.start_case(ctx, AGENT, "three_steps", {})
    cut = clock.now() - timedelta(days=1)
    before, n_before = queries.list_cases(ctx, AGENT, created_to=cut)
    after, n_after = queries.list_cases(ctx, AGENT, created_from=cut)
    assert [c.id for c in before] == [early.id] and n_before == 1
    assert [c.id for c in after] == [late.id] and n_after == 1


def test_an_open_incident_marks_the_failing_element(ctx: Any) -> None:
    from retention_flow.services.cases import incidents
    from retention_flow.services.process_models import deployments as processes
    from tests.factories import OWNER, bundle_files

    files = bundle_files("three_steps")
    files["three_steps.bpmn"] = files["three_steps.bpmn"].replace(
        b"score = 42", b"score = 42 // divisor"
    )
    processes.deploy(ctx, files, OWNER)
    case = cases.start_case(ctx, AGENT, "three_steps", {"divisor": 0})
    assert case_history.case_history(ctx, case.id).marks.failed == ["prepare_case"]
    incidents.retry_case(ctx, AGENT, case.id, {"divisor": 2}, "divisor corrected")
    assert case_history.case_history(ctx, case.id).marks.failed == []
