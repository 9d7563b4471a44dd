"""Deploy-time checks of decision tables: every cell an expression the sandbox accepts.

Each decision table is checked once (not once per business-rule task that calls it), and
each problem names the DMN file and the cell's own element id (an input entry, an output
entry, or the input column for its expression), which is what the DMN editor marks."""

from __future__ import annotations

import ast
from typing import Any

from ..core.errors import ScriptError
from .bundle import Issue, SourceCheck

#: the name SpiffWorkflow's DMN engine gives the input value in an entry using ``?``
DMN_INPUT = "dmninputexpr"


def check_decisions(parser: Any, check_source: SourceCheck | None, issues: list[Issue]) -> None:
    """Check the cells of every decision table the parser holds (none without a check)."""
    if check_source is None:
        return
    for dmn_parser in getattr(parser, "dmn_parsers", {}).values():
        try:
            dmn_parser.parse()
        except Exception as exc:
            # building a business-rule task's spec reports the same problem at its cell
            if not any(i.file == dmn_parser.filename for i in issues):
                issues.append(Issue(dmn_parser.filename, None, f"cannot read the decision: {exc}"))
            continue
        for table in dmn_parser.decision.decisionTables:
            for element_id, what, source in decision_sources(table):
                try:
                    check_source(source, "eval")
                except ScriptError as exc:
                    issues.append(Issue(dmn_parser.filename, element_id, f"{what}: {exc.detail}"))


def decision_sources(table: Any) -> list[tuple[str, str, str]]:
    """``(cell id, where, expression)`` for each expression the DMN engine evaluates,
    composed as the engine composes it: each input expression, each input entry tested
    against its input (``?`` stands for the value; else ``input == entry`` or ``input
    <entry>`` for an entry such as ``> 5``), and each output entry. They run in the same
    sandbox, so a table cell is held to the same rules as a script."""
    where = f"decision table '{table.id}'"
    out: list[tuple[str, str, str]] = []
    for number, column in enumerate(table.inputs, start=1):
        if column.expression:
            out.append((column.id, f"{where} input {number}", column.expression))
    for rule in table.rules:
        row = f"{where} rule {rule.row_number or rule.id}"
        for entry in rule.inputEntries:
            expression = (entry.input.expression or "") if entry.input is not None else ""
            for text in entry.lhs:
                if text and text.strip() not in ("", "-"):
                    out.append((entry.id, f"{row} input entry", composed(expression, text)))
        for entry in rule.outputEntries:
            if entry.text and entry.text.strip():
                out.append((entry.id, f"{row} output entry", entry.text))
    return out


def composed(expression: str, entry: str) -> str:
    if "?" in entry:
        return entry.replace("?", DMN_INPUT)
    try:
        ast.parse(entry.strip(), mode="eval")
    except SyntaxError:  # an operator first, e.g. "> 5": the input goes in front
        return f"({expression or DMN_INPUT}) {entry}"
    return f"({expression or DMN_INPUT}) == ({entry})"
