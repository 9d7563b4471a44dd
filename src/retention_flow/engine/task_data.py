"""What tasks leave in a workflow's data: a new case's data, the keys a step changed,
and the check that what scripts, decisions and service tasks left is interoperable JSON."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from ..core import strict_json


def case_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """What the most recently completed task left behind (a new case's data)."""
    task = wf.last_task
    if task is None:
        task = wf.task_tree
    data = dict(task.data)
    return data


_MISSING = object()


def data_changes(completed: list[Any]) -> dict[str, Any]:
    """The data keys the given tasks set, in completion order.

    A case's data is the merge of these changes over its life, not the data of whichever
    task completed last: with a non-interrupting branch (an escalation) the last task to
    finish may carry a stale copy of the data from when its branch split off, and must
    not undo what the main path did meanwhile.
    """
    changes: dict[str, Any] = {}
    for task in completed:
        parent = task.parent.data if task.parent is not None else {}
        for key, value in task.data.items():
            if parent.get(key, _MISSING) != value:
                changes[key] = value
    return changes


def check_output(task: Any) -> None:
    """Refuse what a script, decision or service task left that is not interoperable
    JSON (NaN, an infinity, a lone surrogate, a huge integer, a datetime...): raised
    inside the engine loop, it becomes an incident naming the element."""
    parent = task.parent.data if task.parent is not None else {}
    changed = {k: v for k, v in task.data.items() if parent.get(k, _MISSING) != v}
    if changed:
        found = strict_json.problems(changed)
        if found:
            first = found[0]
            raise strict_json.JsonRefused(
                f"the step left {first['field']}: {first['message']}", errors=found
            )
