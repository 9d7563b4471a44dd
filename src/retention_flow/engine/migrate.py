"""Moving running workflows: to another version of their process (migration) and between
the elements of their own version (token moves, like Camunda's instance modification).

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

import ast
import builtins
import copy
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.util.task import TaskState

from ..core.errors import ValidationFailed
from .bundle import CompiledBundle, ProcessInfo

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


def _workflows(wf: BpmnWorkflow) -> Iterator[Any]:
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
        for task in workflow.get_tasks(state=ACTIVE, skip_subprocesses=True):
            element = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
            aligned = diff.alignment.get(task.task_spec) if diff is not None else None
            if aligned is None:
                if diff is None:
                    why = f"the called process '{workflow.spec.name}' is not in the new version"
                else:
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
        if diff is None:  # a called process the new version lacks: it holds no token
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


# --------------------------------------------------------------------------- data needs

_NOT_DATA = frozenset(dir(builtins)) | {"now", "True", "False", "None"}


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names read, names written) by a Python expression or script; empty if unparsable."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    read: set[str] = set()
    written: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (written if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            written.add(node.name)
    return read - written, written


def _reachable(starts: Iterable[Any], specs: Iterable[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    stack = list(starts)
    while stack:
        spec = stack.pop()
        if spec.name in seen:
            continue
        seen[spec.name] = spec
        stack.extend(spec.outputs)
    called = {getattr(s, "spec", None) for s in seen.values()}
    for sub in specs:  # a call activity ahead: everything in the called process too
        if sub.name in called:
            for inner in sub.task_specs.values():
                seen.setdefault(f"{sub.name}/{inner.name}", inner)
    return list(seen.values())


def _provided(spec: Any, bundle: CompiledBundle) -> set[str]:
    """Data names a task ahead will set: script assignments, form fields a person must
    fill in (any ``required`` list of its schema), a decision's or service's result."""
    names: set[str] = set()
    script = getattr(spec, "script", None)
    if isinstance(script, str):
        names |= _names(script)[1]
    for attr in ("prescript", "postscript"):
        text = getattr(spec, attr, None)
        if isinstance(text, str):
            names |= _names(text)[1]
    result = getattr(spec, "result_variable", None)
    if result:
        names.add(str(result))
    engine = getattr(spec, "dmnEngine", None)
    if engine is not None:
        table = getattr(engine, "decision_table", None)
        names.update(o.name for o in getattr(table, "outputs", []) if getattr(o, "name", None))
    bpmn_id = getattr(spec, "bpmn_id", None)
    for (_process, element), meta in bundle.user_tasks.items():
        if element == bpmn_id and meta.form_schema:
            names |= _required_anywhere(meta.form_schema)
    return names


def _required_anywhere(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        required = schema.get("required")
        if isinstance(required, list):
            found.update(str(n) for n in required)
        for value in schema.values():
            found |= _required_anywhere(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _required_anywhere(value)
    return found


_NEEDS: dict[tuple[int, frozenset[int]], tuple[Any, list[tuple[str, str]]]] = {}


def missing_data(
    bundle: CompiledBundle, starts: list[Any], data: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Best effort: names the gateways ahead of the tokens read (in the new version) that
    the case data lacks and no task ahead sets."""
    key = (id(bundle), frozenset(id(s) for s in starts))
    found = _NEEDS.get(key)
    if found is None or found[0] is not bundle:
        with _DIFFS_LOCK:
            if len(_NEEDS) >= _DIFFS_MAX:
                _NEEDS.clear()
            found = _NEEDS[key] = (bundle, _needs(bundle, starts))
    problems: list[dict[str, Any]] = []
    for element, name in found[1]:
        if name not in data:
            problems.append(
                {
                    "reason": "data_missing",
                    "element_id": element,
                    "field": name,
                    "message": f"gateway '{element}' reads '{name}', which the case lacks",
                }
            )
    return problems


def _needs(bundle: CompiledBundle, starts: list[Any]) -> list[tuple[str, str]]:
    """(gateway element, data name) pairs read ahead of ``starts`` that no task ahead sets."""
    all_specs = [p.spec for p in bundle.processes.values()] + [
        s for p in bundle.processes.values() for s in p.subprocess_specs.values()
    ]
    ahead = _reachable(starts, all_specs)
    provided: set[str] = set()
    for spec in ahead:
        provided |= _provided(spec, bundle)
    needs: list[tuple[str, str]] = []
    reported: set[str] = set()
    for spec in ahead:
        for operator, _target_name in getattr(spec, "cond_task_specs", []) or []:
            condition = (getattr(operator, "args", None) or [None])[0]
            if not isinstance(condition, str):
                continue
            for name in sorted(_names(condition)[0] - _NOT_DATA - provided - reported):
                reported.add(name)
                needs.append((getattr(spec, "bpmn_id", None) or spec.name, name))
    return needs


# --------------------------------------------------------------------------- moves


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
    for task in found:
        if task.id in task.workflow.tasks and not task.has_state(TaskState.FINISHED_MASK):
            _cancel_token(wf, task)
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
    for workflow in _workflows(wf):
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
    parent = task.parent
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


def move_operation(cancel: list[str], activate: list[str], data: Mapping[str, Any]) -> Any:
    def op(wf: BpmnWorkflow) -> None:
        move(wf, cancel, activate, data)

    return op
