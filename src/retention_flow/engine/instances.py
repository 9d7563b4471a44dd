"""Multi-instance user tasks: which instance a ready task is, and whether its completion
carries the output item the loop collects.

SpiffWorkflow runs each instance as a child task (spec ``<id> [child]``, same ``bpmn_id``)
of the multi-instance task, which keeps the items still to start in ``internal_data``.
Completing an instance without the output item makes SpiffWorkflow raise while merging
it into the collection; we check before running the task, so the agent gets a 422 that
names the item instead of a server error.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from ..core.errors import ValidationFailed


def _loop_of(task: Any) -> Any | None:
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, MultiInstanceTask):
        return None
    if parent.task_spec.task_spec != task.task_spec.name:
        return None
    return parent


def instance_of(task: Any) -> tuple[int, int] | None:
    """``(index, total)`` counted from 1 for an instance of a multi-instance task."""
    loop = _loop_of(task)
    if loop is None:
        return None
    siblings = [c for c in loop.children if c.task_spec.name == task.task_spec.name]
    remaining = loop.internal_data.get("remaining") or []
    cardinality = loop.internal_data.get("cardinality")
    total = len(siblings) + len(remaining)
    if isinstance(cardinality, int) and cardinality > total:
        total = cardinality
    index = next(i for i, c in enumerate(siblings, start=1) if c is task)
    return index, total


def instance_name(task: Any, name: str) -> str:
    """``"Call (2 of 3)"`` for the second of three instances; ``name`` otherwise."""
    found = instance_of(task)
    return f"{name} ({found[0]} of {found[1]})" if found else name


def check_output_item(task: Any, data: dict[str, Any]) -> None:
    """Refuse a completion of an instance whose data lacks the loop's output item."""
    loop = _loop_of(task)
    if loop is None:
        return
    spec = loop.task_spec
    if spec.data_output is None or spec.output_item is None:
        return
    item = spec.output_item.bpmn_id
    if item not in data and item not in task.data:
        element = task.task_spec.bpmn_id
        raise ValidationFailed(
            f"'{item}' is required: each instance of '{element}' adds its '{item}' "
            f"to '{spec.data_output.bpmn_id}'",
            errors=[{"field": item, "message": "required by the multi-instance task"}],
        )
