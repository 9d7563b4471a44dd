"""Evaluate a decision table of a deployed bundle outside a workflow: the case's segment
when it starts, the first channel for an at-risk customer. The same SpiffWorkflow DMN
engine and sandboxed script engine as a business-rule task; the parsed table is kept per
bundle content and decision id (a bundle is immutable once deployed)."""

from __future__ import annotations

import threading
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..core.errors import ScriptError
from .bundle import CompiledBundle
from .compiler import _safe_xml
from .dmn_try import decision_task

_engines: dict[tuple[str, str], DMNEngine | None] = {}
_lock = threading.Lock()


def _engine(bundle: CompiledBundle, decision_id: str) -> DMNEngine | None:
    key = (bundle.content_hash, decision_id)
    if key in _engines:
        return _engines[key]
    found: DMNEngine | None = None
    for name, text in sorted(bundle.files.items()):
        if not name.lower().endswith(".dmn") or f'id="{decision_id}"' not in text:
            continue
        parser = BpmnDmnParser()
        parser.add_dmn_xml(_safe_xml(name, text), filename=name)
        dmn = parser.dmn_parsers.get(decision_id)
        if dmn is not None:
            dmn.parse()
            found = DMNEngine(dmn.decision.decisionTables[0])
            break
    with _lock:
        _engines[key] = found
    return found


def decide(
    bundle: CompiledBundle, decision_id: str, data: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """The outputs of every matching row, in table order (None: no such decision in the
    bundle). A cell failing on these inputs raises ``ScriptError``."""
    engine = _engine(bundle, decision_id)
    if engine is None:
        return None
    task = decision_task(engine.decision_table, data, decision_id)
    try:
        return [rule.output_as_dict(task) for rule in engine.decide(task)]
    except ScriptError:
        raise
    except (SpiffWorkflowException, Exception) as exc:  # the engine wraps sandbox errors
        raise ScriptError(f"decision {decision_id}: {exc}") from exc
