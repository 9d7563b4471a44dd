"""Best effort: which data a version's gateways ahead of a case's tokens read that the
case lacks (for the migration dry run). A name counts as provided when a task ahead sets
it: a script's assignment, a form field a person must fill in (any ``required`` list of
its schema), a decision's output or a service's result variable."""

from __future__ import annotations

import ast
import builtins
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .bundle import CompiledBundle

_LOCK = threading.Lock()
_MAX = 256

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
        with _LOCK:
            if len(_NEEDS) >= _MAX:
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
