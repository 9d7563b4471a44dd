"""The views services answer: frozen, no field they do not declare, and the REST keys."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from retention_flow.services.cases.views import CaseView, TaskView, built

TASK: dict[str, Any] = {
    "id": "t1",
    "case_id": "c1",
    "business_key": "RC-1",
    "process_id": "three_steps",
    "element_id": "call_customer",
    "name": "Call the customer",
    "role": "telemarketing",
    "state": "ready",
    "claimed_by": None,
    "due_at": "2026-12-03T10:00:00Z",
    "priority": 50,
    "created_at": "2026-12-01T10:00:00Z",
}
CASE: dict[str, Any] = {
    "id": "c1",
    "business_key": "RC-1",
    "process_id": "three_steps",
    "process_version": 1,
    "channel": "outbound",
    "status": "active",
    "outcome": None,
    "data": {"customer_id": "C-1"},
    "open_tasks": [TASK],
    "started_by": "alice",
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": "2026-12-01T10:00:00Z",
    "ended_at": None,
}


def test_a_view_is_frozen() -> None:
    case = CaseView.model_validate(CASE)
    with pytest.raises(ValidationError, match="frozen"):
        case.status = "cancelled"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        case.open_tasks[0].state = "claimed"  # type: ignore[misc]
    assert case.status == "active" and case.open_tasks[0].state == "ready"


@pytest.mark.parametrize("view, fields", [(CaseView, CASE), (TaskView, TASK)])
def test_a_view_refuses_a_field_it_does_not_declare(view: Any, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="statuss"):
        view.model_validate({**fields, "statuss": "active"})


def test_a_view_refuses_a_missing_field() -> None:
    without = {k: v for k, v in CASE.items() if k != "process_version"}
    with pytest.raises(ValidationError, match="process_version"):
        CaseView.model_validate(without)


def test_a_tasks_partner_scope_is_read_by_services_but_not_answered() -> None:
    task = TaskView.model_validate({**TASK, "partner": "acme"})
    assert task.partner == "acme"
    assert "partner" not in task.model_dump()
    assert "partner" not in TaskView.model_json_schema(mode="serialization")["properties"]


def test_the_fast_build_equals_model_construct() -> None:
    """``built`` sets what ``model_construct`` sets (a pydantic upgrade that changes how a
    model holds its state fails here, not on a queue page)."""
    fields: dict[str, Any] = {**TASK, "claimed_at": None, "form": None, "segment": None}
    fields |= {"required_skills": [], "not_offered": None, "partner": "acme"}
    fast, slow = built(TaskView, dict(fields)), TaskView.model_construct(**fields)
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set == set(fields)
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert fast.model_copy(update={"not_offered": "x"}).not_offered == "x"
    with pytest.raises(ValidationError, match="frozen"):
        fast.state = "claimed"  # type: ignore[misc]
    case = {**CASE, "segment": None, "channel_reason": None, "open_tasks": [fast]}
    assert built(CaseView, dict(case)) == CaseView.model_construct(**case)
