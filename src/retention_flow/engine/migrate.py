"""Moving running workflows to another version of their process (token moves within a
version are in ``moves``; the data check of the dry run in ``data_needs``).

Migration uses SpiffWorkflow's ``SpecDiff`` to align the old version's task specs with
the new one's, with two rules of ours on top:

* Alignment is by element id only, or by the caller's ``mapping`` (old id -> new id).
  SpiffWorkflow's structural guess (an unmatched spec aligned with an added one whose
  neighbours match) is dropped: a renamed element moves only when the mapping says so.
* A token (a READY, WAITING or STARTED task) on an element that is neither in the new
  version nor mapped refuses the migration (``check`` names it). Finished history on
  such an element is spliced out of the task tree (the audit trail keeps it);
  predictions on it are dropped and re-predicted from the new version.

Tokens on changed or mapped elements are reset (SpiffWorkflow's ``reset_branch``): the
task keeps its id (so its work item keeps its id and claim), a timer restarts from the
migration time. Tokens on unchanged elements keep their state (a timer keeps its due
time); their predicted successors are re-predicted from the new version.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.util.task import TaskState

from .bundle import CompiledBundle, ProcessInfo
from .data_needs import missing_data

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass(frozen=True)
class Token:
    """Where a case waits: an element with a READY, WAITING or STARTED task."""

    element_id: str
    process: str  # the spec the task sits in (the process, or a called process)
    state: str

    def as_dict(self) -> dict[str, str]:
        return {"element_id": self.element_id, "process": self.process, "state": self.state}


@dataclass
class Check:
    """Whether a workflow can move to the new version, and why not."""

    tokens: list[Token]
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def tokens(wf: BpmnWorkflow) -> list[Token]:
    found: list[Token] = []
    for task in wf.get_tasks(state=ACTIVE):
        element = getattr(task.task_spec, "bpmn_id", None)
        if element:
            state = TaskState.get_name(task.state).lower()
            found.append(Token(element, task.workflow.spec.name, state))
    return found


def element_ids(process: ProcessInfo) -> set[str]:
    """The BPMN element ids of a process and the processes it calls."""
    ids: set[str] = set()
    for spec in [process.spec, *process.subprocess_specs.values()]:
        ids.update(
            bpmn_id for ts in spec.task_specs.values() if (bpmn_id := getattr(ts, "bpmn_id", None))
        )
    return ids


def mapping_errors(
    old: ProcessInfo, new: ProcessInfo, mapping: Mapping[str, str]
) -> list[dict[str, str]]:
    """Mapping entries whose old id is not in the old version or new id not in the new."""
    old_ids, new_ids = element_ids(old), element_ids(new)
    errors: list[dict[str, str]] = []
    for source, target in mapping.items():
        if source not in old_ids:
            errors.append(
                {"field": f"mapping.{source}", "message": "not an element of the old version"}
            )
        if target not in new_ids:
            errors.append(
                {
                    "field": f"mapping.{source}",
                    "message": f"'{target}' is not an element of the new version",
                }
            )
    return errors


# --------------------------------------------------------------------------- migration


def _target(name: str, mapping: Mapping[str, str]) -> str:
    """The new spec name of an old one: ids map, and so do the specs SpiffWorkflow makes
    around an element (``call_customer.BoundaryEventSplit`` follows ``call_customer``)."""
    if name in mapping:
        return mapping[name]
    head, dot, tail = name.partition(".")
    if dot and head in mapping:
        return f"{mapping[head]}.{tail}"
    return name


#: SpecDiffs by (old spec, new spec, mapping): they depend on the specs only, and the specs
#: of a deployment are shared by all its cases (``SpecCache``), so a bulk migration diffs
#: each pair once. Entries keep their specs alive, so the ids cannot be reused.
_DIFFS: dict[tuple[int, int, frozenset[tuple[str, str]]], tuple[Any, Any, SpecDiff]] = {}
_DIFFS_LOCK = threading.Lock()
_DIFFS_MAX = 256


def _spec_diff(registry: Any, old: Any, new: Any, mapping: Mapping[str, str]) -> SpecDiff:
    key = (id(old), id(new), frozenset(mapping.items()))
    found = _DIFFS.get(key)
    if found is not None and found[0] is old and found[1] is new:
        return found[2]
    diff = _make_spec_diff(registry, old, new, mapping)
    with _DIFFS_LOCK:
        if len(_DIFFS) >= _DIFFS_MAX:
            _DIFFS.clear()
        _DIFFS[key] = (old, new, diff)
    return diff


def _make_spec_diff(registry: Any, old: Any, new: Any, mapping: Mapping[str, str]) -> SpecDiff:
    diff = SpecDiff(registry, old, new)
    for spec in old.task_specs.values():
        target = new.task_specs.get(_target(spec.name, mapping))
        if diff.alignment.get(spec) is not target:
            diff.alignment[spec] = target
            diff.comparisons.pop(spec, None)
            if target is not None:
                # a mapped element counts as changed: its token is reset on the new spec
                diff.comparisons[spec] = diff._compare_task_specs(spec, target) or ["mapped"]
    return diff


def workflows(wf: BpmnWorkflow) -> Iterator[Any]:
    yield wf
    yield from wf.subprocesses.values()


def _diffs(
    registry: Any, wf: BpmnWorkflow, new: ProcessInfo, mapping: Mapping[str, str]
) -> dict[Any, SpecDiff | None]:
    diffs: dict[Any, SpecDiff | None] = {wf: _spec_diff(registry, wf.spec, new.spec, mapping)}
    for sub in wf.subprocesses.values():
        new_spec = new.subprocess_specs.get(sub.spec.name)
        diffs[sub] = None if new_spec is None else _spec_diff(registry, sub.spec, new_spec, mapping)
    return diffs


def check(
    registry: Any,
    wf: BpmnWorkflow,
    new: ProcessInfo,
    new_bundle: CompiledBundle,
    mapping: Mapping[str, str],
    data: Mapping[str, Any],
) -> Check:
    """Can ``wf`` move to ``new``? Problems: tokens the new version cannot hold, and data
    the new version's gateways ahead of the tokens read that the case lacks."""
    result = Check(tokens(wf))
    targets: list[Any] = []
    for workflow, diff in _diffs(registry, wf, new, mapping).items():
        if diff is None:  # its tasks could not be restored on the new version
            name = workflow.spec.name
            result.problems.append(
                {
                    "reason": "process_missing",
                    "element_id": name,
                    "message": f"the called process '{name}' is not in the new version",
                }
            )
            continue
        for task in workflow.get_tasks(state=ACTIVE, skip_subprocesses=True):
            element = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
            aligned = diff.alignment.get(task.task_spec)
            if aligned is None:
                why = "the new version has no such element and the mapping does not cover it"
                result.problems.append(
                    {
                        "reason": "element_missing",
                        "element_id": element,
                        "message": f"token on '{element}': {why}",
                    }
                )
            else:
                targets.append(aligned)
    if result.ok:
        result.problems.extend(missing_data(new_bundle, targets, data))
    return result


def migrate(registry: Any, wf: BpmnWorkflow, new: ProcessInfo, mapping: Mapping[str, str]) -> None:
    """Move ``wf`` onto ``new`` in place (call ``check`` first: tokens must align)."""
    diffs = _diffs(registry, wf, new, mapping)
    wf.subprocess_specs = dict(new.subprocess_specs)
    for workflow, diff in diffs.items():
        if diff is None:  # a called process the new version lacks (``check`` refuses)
            continue
        new_spec = new.spec if workflow is wf else new.subprocess_specs[workflow.spec.name]
        _migrate_one(workflow, diff, new_spec)


def _migrate_one(workflow: Any, diff: SpecDiff, new_spec: Any) -> None:
    workflow.spec = new_spec
    changed = {spec for spec, keys in diff.comparisons.items() if keys}
    orphans_finished: list[Any] = []
    orphans_open: list[Any] = []
    reset: list[Any] = []
    repredict: list[Any] = []
    for task in list(workflow.tasks.values()):
        old = task.task_spec
        target = diff.alignment.get(old)
        if target is None:
            if old in new_spec.task_specs.values():
                continue  # already on the new spec (a subprocess migrated before)
            (orphans_finished if task.has_state(TaskState.FINISHED_MASK) else orphans_open).append(
                task
            )
            continue
        task.task_spec = target
        if task.has_state(TaskState.READY | TaskState.WAITING):
            (reset if old in changed else repredict).append(task)
        elif task.has_state(TaskState.STARTED):
            repredict.append(task)
    for task in orphans_open:
        if task.id in workflow.tasks and task.parent is not None:
            workflow._remove_task(task.id)
    for task in orphans_finished:
        _splice(workflow, task)
    for task in reset:
        if task.id in workflow.tasks:
            task.reset_branch(None)
    for task in repredict:
        if task.id in workflow.tasks:
            task.task_spec._predict(task, mask=TaskState.NOT_FINISHED_MASK)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None


def _splice(workflow: Any, task: Any) -> None:
    """Remove a finished task from the tree, its children taking its place."""
    parent = task.parent
    if parent is None or task.id not in workflow.tasks:
        return
    at = parent._children.index(task.id)
    for child in task.children:
        child.parent = parent
    parent._children[at : at + 1] = list(task._children)
    task._children = []
    workflow.tasks.pop(task.id)


# --------------------------------------------------------------------------- operations


def migration_operation(
    registry: Any, new: ProcessInfo, mapping: Mapping[str, str], defaults: Mapping[str, Any]
) -> Any:
    """An ``Operation`` (see ``runtime``): migrate, then give the tokens the ``defaults``
    the case lacks."""

    def op(wf: BpmnWorkflow) -> None:
        migrate(registry, wf, new, mapping)
        if defaults:
            for task in wf.get_tasks(state=ACTIVE):
                for key, value in defaults.items():
                    task.data.setdefault(key, copy.deepcopy(value))

    return op
