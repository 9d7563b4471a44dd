"""Work items: queues, the task page, complete with form validation; claim / unclaim /
assign live in ``claims`` and are re-exported here.

Lanes are roles: a user may claim a task whose role is among theirs; a team lead assigns
within their team; completing takes the claim (or claims a ready task in passing)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from sqlmodel import Session

from retention_flow.core.data_limits import check_case_data
from retention_flow.core.errors import (
    CaseNotActive,
    TaskAlreadyClaimed,
    TaskNotReady,
    ValidationFailed,
)
from retention_flow.db.session import read_session
from retention_flow.engine.runtime import Operation, Runtime
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.views import task_view
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for
from retention_flow.services.routing.skills import check_skills
from retention_flow.services.steps.runner import step_case
from retention_flow.services.steps.save import OPEN_STATES, CaseHead
from retention_flow.services.tasks import work_time

# claims live in their own module; callers use them as tasks.claim etc.
from retention_flow.services.tasks.claims import assign, claim, open_for_work, unclaim
from retention_flow.services.tasks.queue_pages import list_queue, queue_page
from retention_flow.services.tasks.rules import (
    SELECT_ITEM_CASE,
    check_can_see,
    check_four_eyes,
    check_role,
    four_eyes_partner,
    load_item,
    load_item_with_head,
)
from retention_flow.services.tasks.task_context import task_context
from retention_flow.services.tasks.views import Completed, TaskDetail

__all__ = [
    "assign",
    "claim",
    "complete",
    "get_task",
    "list_queue",
    "open_for_work",
    "queue_page",
    "unclaim",
    "validate_form",
]

_validators: dict[int, Draft202012Validator] = {}
_validators_lock = threading.Lock()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    key = id(schema)
    found = _validators.get(key)
    if found is None:
        found = Draft202012Validator(schema)
        with _validators_lock:
            _validators[key] = found
    return found


def validate_form(schema: dict[str, Any] | None, data: dict[str, Any]) -> None:
    if schema is None:
        return
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        details = [
            {
                "field": ".".join(str(p) for p in e.path) or _missing_field(e) or "(form)",
                "message": e.message,
            }
            for e in errors
        ]
        raise ValidationFailed(
            f"the form data is invalid: {details[0]['field']}: {details[0]['message']}",
            errors=details,
        )


def _missing_field(error: Any) -> str | None:
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                return str(name)
    return None


def get_task(ctx: AppContext, actor: Actor, task_id: str) -> TaskDetail:
    """The work item with its form schema and the case data an agent needs."""
    with read_session(ctx.db) as session:
        item = load_item(session, task_id, SELECT_ITEM_CASE)
        check_can_see(actor, item)
        bundle = bundle_for(ctx, session, item["case_deployment_id"])
        fields = dict(task_view(item))
        fields["form"] = bundle.forms.get(item["form"]) if item["form"] else None
        fields["context"] = task_context(session, item["case_id"], item["case_data"] or {})
        return TaskDetail.model_construct(**fields)


# --------------------------------------------------------------------------- complete


def complete(ctx: AppContext, actor: Actor, task_id: str, data: dict[str, Any]) -> Completed:
    """Complete a task with form data → ``{"case": ..., "next_tasks": [...]}``.

    The claimant completes; a ready task of one's own role is claimed in passing.
    Exactly one of two concurrent completions wins; the other gets ``task_not_ready``
    (or ``task_already_claimed``) and nothing is applied twice.
    """
    check_case_data(data, ctx.data_limits)

    loaded: dict[int, Mapping[Any, Any]] = {}

    def case_of(session: Session) -> CaseHead:
        item, head = load_item_with_head(session, task_id)
        loaded[id(session)] = item
        check_can_see(actor, item)  # an invisible task is 404, whatever its state
        return head

    def make(session: Session, head: CaseHead) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        current = loaded.pop(id(session), None) or load_item(session, task_id)
        check_can_see(actor, current)
        if current["state"] not in OPEN_STATES:
            raise TaskNotReady(f"task {task_id} was already {current['state']}")
        if current["state"] == "claimed" and current["claimed_by"] != actor.username:
            raise TaskAlreadyClaimed(f"task {task_id} is claimed by {current['claimed_by']}")
        events: list[NewEvent] = []
        if current["state"] == "ready":
            check_role(actor, current)
            check_skills(session, actor.username, current)
            events.append(
                NewEvent(
                    "task_claimed",
                    actor.username,
                    element_id=current["element_id"],
                    task_id=task_id,
                )
            )
        other = four_eyes_partner(ctx, session, head.deployment_id, current["element_id"])
        if other:
            check_four_eyes(session, actor, current, other)
        bundle = bundle_for(ctx, session, head.deployment_id)
        validate_form(bundle.forms.get(current["form"]) if current["form"] else None, data)
        # handling time, final: written as the step closes the item, in its transaction
        work = work_time.completion_values(current, actor.username, ctx.now())
        before = {k: head.data.get(k) for k in data}
        events.append(
            NewEvent(
                "task_completed",
                actor.username,
                element_id=current["element_id"],
                task_id=task_id,
                data_before=before,
                data_after=data,
            )
        )
        closing = {"completed_task": task_id, "completed_columns": work}
        return Runtime.complete_user_task(task_id, data), events, closing

    try:
        result, view = step_case(ctx, actor, case_of, make)
    except CaseNotActive as exc:
        raise TaskNotReady(f"task {task_id} cannot be completed: {exc.detail}") from exc
    next_tasks = [task_view(i) for i in result.new_work_items if i["role"] in actor.roles]
    return Completed.model_construct(case=view, next_tasks=next_tasks)
