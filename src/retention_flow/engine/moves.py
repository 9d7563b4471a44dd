"""Token moves within a case's own version (like Camunda's process instance
modification): cancel the tokens at some elements, start tokens at others."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.util.task import TaskState

from ..core.errors import ValidationFailed
from .migrate import ACTIVE, workflows


def _refused(what: str, element: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{what} '{element}': {message}",
        errors=[{"field": what, "element_id": element, "message": message}],
    )


def move(wf: BpmnWorkflow, cancel: list[str], activate: list[str], data: Mapping[str, Any]) -> None:
    """Cancel the tokens at ``cancel`` and start new ones at ``activate``.

    A cancelled activity takes its boundary events with it; a cancelled call activity its
    called process. An activated element gets a fresh task under the place of the first
    cancelled token (or of the case's first remaining token), carrying ``data`` (the
    case data); an element with boundary events is entered through them, so its timers
    are set again. Raises ``ValidationFailed`` naming an element without a token or not in
    this version; nothing is changed then.
    """
    found: list[Any] = []
    for element in cancel:
        hits = [
            t
            for t in wf.get_tasks(state=ACTIVE)
            if getattr(t.task_spec, "bpmn_id", None) == element
        ]
        if not hits:
            raise _refused("cancel", element, "has no token on this case")
        found.extend(hits)
    specs: list[tuple[Any, Any]] = []  # (workflow, spec)
    for element in activate:
        located = _locate(wf, element)
        if located is None:
            raise _refused("activate", element, "is not an element of this case's version")
        specs.append(located)
    anchor = found[0].parent if found else None
    if anchor is not None and isinstance(anchor.task_spec, BoundaryEventSplit):
        anchor = anchor.parent  # the activity's place, not its boundary split's
    for task in found:
        if task.id in task.workflow.tasks and not task.has_state(TaskState.FINISHED_MASK):
            _cancel_token(wf, task)
    if not specs and not any(
        getattr(t.task_spec, "bpmn_id", None) for t in wf.get_tasks(state=ACTIVE)
    ):
        raise _refused(
            "cancel", cancel[0], "would leave the case without a token (cancel the case instead)"
        )
    for workflow, spec in specs:
        parent = anchor if anchor is not None and anchor.workflow is workflow else None
        if parent is None:
            parent = _any_place(workflow)
        entry = _entry(spec)
        child = parent._add_child(entry, TaskState.FUTURE)
        child.data = copy.deepcopy(dict(data))
        entry._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
        entry._update(child)
    wf.completed = False


def _locate(wf: BpmnWorkflow, element: str) -> tuple[Any, Any] | None:
    for workflow in workflows(wf):
        for spec in workflow.spec.task_specs.values():
            if getattr(spec, "bpmn_id", None) == element and not isinstance(
                spec, BoundaryEventSplit
            ):
                return workflow, spec
    return None


def _entry(spec: Any) -> Any:
    """An activity with boundary events is entered through its boundary split."""
    for parent in spec.inputs:
        if isinstance(parent, BoundaryEventSplit):
            return parent
    return spec


def _cancel_token(wf: BpmnWorkflow, task: Any) -> None:
    """An activity goes with its boundary events; a boundary event goes alone."""
    parent = task.parent
    if isinstance(task.task_spec, BoundaryEvent):
        _cancel_one(wf, task)
        return
    if parent is not None and isinstance(parent.task_spec, BoundaryEventSplit):
        for sibling in parent.children:  # the activity and its boundary events
            if not sibling.has_state(TaskState.FINISHED_MASK):
                _cancel_one(wf, sibling)
        # the join after them would wait forever for the cancelled branches
        return
    _cancel_one(wf, task)


def _cancel_one(wf: BpmnWorkflow, task: Any) -> None:
    if task.id in wf.subprocesses:
        wf.delete_subprocess(task)
    task.cancel()


def _any_place(workflow: Any) -> Any:
    """Where a token with no cancelled neighbour starts: beside a live token, else
    after the last finished task."""
    for task in workflow.get_tasks(state=ACTIVE, skip_subprocesses=True):
        if task.parent is not None:
            return task.parent
    last = workflow.last_task
    return last if last is not None else workflow.task_tree


def move_operation(cancel: list[str], activate: list[str], data: Mapping[str, Any]) -> Any:
    def op(wf: BpmnWorkflow) -> None:
        move(wf, cancel, activate, data)

    return op
