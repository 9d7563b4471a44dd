"""JSON merge patch (RFC 7396) of a case's data, applied to a live workflow.

A case's data lives in its tasks: each task inherits its parent's data when it becomes
ready, and passes its own on when it completes. A correction therefore goes into every
task that has not finished yet (ready, waiting, started; in call activities too), so the
steps still to run see the corrected values; finished tasks are history and stay as
they were.
"""

from __future__ import annotations

import copy
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

OPEN_TASK_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, ``null`` removes a key, anything else
    (arrays included) replaces. Neither argument is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def patch_open_tasks(patch: dict[str, Any]) -> Any:
    """An operation (see ``runtime.Operation``) applying ``patch`` to the data of every
    unfinished task of the workflow."""

    def op(wf: BpmnWorkflow) -> None:
        for task in wf.get_tasks(state=OPEN_TASK_STATES):
            patched = merge_patch(task.data, patch)
            task.data.clear()
            task.data.update(patched)

    return op
