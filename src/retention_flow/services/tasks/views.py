"""The views the task use cases answer beyond a work item (``cases.views.TaskView``): a
task with its form and context, a completion's answer, and what a page says about a task
that ended or was reassigned."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from retention_flow.services.cases.views import CaseView, TaskView
from retention_flow.services.platform.view import View


class TaskDetail(TaskView):
    """A work item with its form's JSON Schema and the case context an agent needs."""

    form: dict[str, Any] | None = Field(  # type: ignore[assignment]
        default=None, description="JSON Schema of the form"
    )
    context: dict[str, Any] = Field(
        description="the case data, plus `customer` and `contract` from the customer "
        "register (null when unknown) and `previous_attempts`: the case's completed tasks, "
        "newest first (element_id, name, completed_by, completed_at, recorded)"
    )


class Completed(View):
    """What completing a task answers: the case, and the new tasks of the agent's roles."""

    case: CaseView
    next_tasks: list[TaskView]


class TaskEnd(View):
    """Who ended a task and when (None while it is open), with its state and claimant."""

    state: str | None
    ended_by: str | None
    ended_at: str | None
    claimed_by: str | None


class Assignment(View):
    """A task's latest reassignment: by whom, when, to whom and why."""

    by: str
    at: str
    assignee: str | None
    reason: str | None


__all__ = ["Assignment", "Completed", "TaskDetail", "TaskEnd"]
