"""Deploy-time checks of timer expressions: quoted ISO 8601 literals, or
``business_due("PT4H"[, "role"])`` in a timeDate timer."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from ..core.errors import ScriptError
from .bundle import SourceCheck


def _check_business_due(expression: str, definition: Any, add: Callable[[str], None]) -> bool:
    """``business_due("PT4H"[, "role"])``: a timeDate whose literal duration parses.
    True when the expression is such a call (checked here), False otherwise."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return False
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "business_due"
    ):
        return False
    if not isinstance(definition, TimeDateEventDefinition):
        add(
            f"timer expression {expression}: business_due gives a due time, so use it in a "
            "timeDate timer (not a duration or cycle)"
        )
        return True
    args = node.args
    literal = args[0].value if args and isinstance(args[0], ast.Constant) else None
    if not 1 <= len(args) <= 2 or node.keywords:
        add(f'timer expression {expression}: write business_due("PT4H") or ("PT4H", "role")')
    elif isinstance(literal, str):
        try:
            TimerEventDefinition.parse_iso_duration(literal)
        except Exception:
            add(f"timer expression {expression}: {literal!r} is not an ISO 8601 duration")
    return True


def check_timer(
    task_spec: Any, check_source: SourceCheck | None, add: Callable[[str], None]
) -> None:
    definition = getattr(task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return
    expression = (definition.expression or "").strip()
    if not expression:
        add("timer has no expression")
        return
    if check_source is not None:
        try:
            check_source(expression, "eval")
        except ScriptError as exc:
            add(f"timer expression: {exc.detail}")
            return
    if _UNQUOTED_ISO.match(expression):
        add(
            f"timer expression {expression} is not quoted: timer expressions are Python, "
            f'so write "{expression}" (with quotes) or a variable name'
        )
        return
    if _check_business_due(expression, definition, add):
        return
    try:
        value = _literal(expression)
    except ValueError:
        return  # a variable or computed expression: checked when the timer starts
    if not isinstance(value, str):
        add(f"timer expression {expression!r} must give an ISO 8601 string")
        return
    try:
        if isinstance(definition, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        elif isinstance(definition, TimeDateEventDefinition):
            TimerEventDefinition.parse_time_or_duration(value)
        elif isinstance(definition, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:
        add(f"timer value {value!r} is not a valid ISO 8601 {_timer_kind(definition)}")


_UNQUOTED_ISO = re.compile(r"^(R\d*/)?P[0-9YMWDTHS.,]+$|^\d{4}-\d{2}-\d{2}T[0-9:.+\-Z]+$")


def _timer_kind(definition: TimerEventDefinition) -> str:
    if isinstance(definition, DurationTimerEventDefinition):
        return 'duration (e.g. "PT2H")'
    if isinstance(definition, CycleTimerEventDefinition):
        return 'repeating interval (e.g. "R/PT24H")'
    return 'date-time (e.g. "2026-01-05T09:00:00Z")'


def _literal(expression: str) -> Any:
    import ast

    try:
        return ast.literal_eval(expression)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(expression) from exc
