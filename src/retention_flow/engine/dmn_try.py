"""Run one decision table on given inputs, for the DMN editor's "try it" box: the same
SpiffWorkflow DMN engine and the same sandboxed script engine as a running case, over a
table that is not deployed (the editor's current XML). Every cell passes the deploy-time
source check first, so nothing the deploy would refuse is ever run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..core.errors import InvalidProcess, ScriptError
from .bundle import Issue, SourceCheck
from .compiler import _safe_xml
from .dmn_checks import check_decisions
from .sandbox import make_script_engine


def decision_task(table: Any, data: dict[str, Any], file_name: str) -> SimpleNamespace:
    """What the DMN engine and the sandbox's error wrapping read of a task, for running a
    decision table outside a workflow (a budget of 0.5 s per evaluation)."""
    spec = SimpleNamespace(name=table.id, bpmn_id=table.id, bpmn_name=table.name, description="")
    task = SimpleNamespace(
        data=dict(data),
        task_spec=spec,
        workflow=SimpleNamespace(
            script_engine=make_script_engine(budget_seconds=0.5),
            spec=SimpleNamespace(file=file_name),
        ),
    )
    task.workflow.top_workflow = task.workflow
    return task


def try_decision(
    name: str, xml: str, data: dict[str, Any], check_source: SourceCheck
) -> dict[str, Any]:
    """``{hit_policy, matches: [{rule_id, rule, description, outputs}], result}``.

    Raises ``InvalidProcess`` (with the cell) when a cell is refused or the table cannot
    be read, ``ScriptError`` when evaluating it on these inputs fails."""
    parser = BpmnDmnParser()
    try:
        parser.add_dmn_xml(_safe_xml(name, xml), filename=name)
    except (SpiffWorkflowException, ValueError, KeyError) as exc:
        problem = Issue(name, None, str(exc)).as_dict()
        raise InvalidProcess(f"{name}: {exc}", errors=[problem]) from exc
    issues: list[Issue] = []
    check_decisions(parser, check_source, issues)
    if issues:
        raise InvalidProcess(issues[0].message, errors=[i.as_dict() for i in issues])
    dmn_parser = next(iter(parser.dmn_parsers.values()))
    table = dmn_parser.decision.decisionTables[0]
    engine = DMNEngine(table)
    task = decision_task(table, data, name)
    try:
        rules = engine.decide(task)
        matches = [
            {
                "rule_id": rule.id,
                "rule": rule.row_number,
                "description": rule.description or "",
                "outputs": rule.output_as_dict(task),
            }
            for rule in rules
        ]
        result = engine.result(task)
    except ScriptError:
        raise
    except Exception as exc:  # the engine wraps the sandbox's errors in its own
        raise ScriptError(_plain(exc)) from exc
    return {"hit_policy": table.hit_policy, "matches": matches, "result": result}


def _plain(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", []) if "row" in n]
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return "; ".join([text, *notes])
