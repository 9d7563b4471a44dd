"""Before/after values of each changed cell of a decision table, for the compare page:
a non-programmer checks what a rule did and does now, not only that it changed."""

from __future__ import annotations

from typing import Any

from lxml import etree

from .compiler import _safe_xml


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def _text(el: etree._Element) -> str:
    text = next((c.text for c in el if isinstance(c.tag, str) and _local(c) == "text"), None)
    return (text or "").strip()


def _columns(table: etree._Element) -> list[str]:
    """Column headings in cell order: inputs, outputs, then the annotation."""
    heads: list[str] = []
    for kind in ("input", "output"):
        for column in table:
            if isinstance(column.tag, str) and _local(column) == kind:
                heads.append(column.get("label") or column.get("name") or str(column.get("id")))
    return heads


def _rules(xml: etree._Element) -> dict[str, dict[str, Any]]:
    """Per rule id: its number, its description and its cells by position."""
    rules: dict[str, dict[str, Any]] = {}
    for table in xml.iter():
        if not isinstance(table.tag, str) or _local(table) != "decisionTable":
            continue
        heads = _columns(table)
        number = 0
        for rule in table:
            if not isinstance(rule.tag, str) or _local(rule) != "rule":
                continue
            number += 1
            cells: dict[str, tuple[str, str]] = {}
            position = 0
            for cell in rule:
                if not isinstance(cell.tag, str):
                    continue
                kind = _local(cell)
                if kind == "description":
                    continue
                heading = heads[position] if position < len(heads) else "annotation"
                if kind in ("inputEntry", "outputEntry"):
                    position += 1
                cells[heading] = (str(cell.get("id") or ""), _text(cell))
            description = next(
                (
                    c.text or ""
                    for c in rule
                    if isinstance(c.tag, str) and _local(c) == "description"
                ),
                "",
            )
            cells["Annotation"] = ("", description.strip())
            rules[str(rule.get("id"))] = {"number": number, "cells": cells}
    return rules


def cell_changes(name: str, old_xml: str, new_xml: str) -> list[dict[str, Any]]:
    """``[{rule_id, rule, column, cell_id, before, after}]`` for every cell whose value
    differs between the versions of a rule kept in both (added and removed rules are in
    the element diff, with all their cells)."""
    old = _rules(_safe_xml(name, old_xml))
    new = _rules(_safe_xml(name, new_xml))
    changes: list[dict[str, Any]] = []
    for rule_id, after in new.items():
        before = old.get(rule_id)
        if before is None:
            continue
        for column in after["cells"].keys() | before["cells"].keys():
            old_cell = before["cells"].get(column, ("", ""))
            new_cell = after["cells"].get(column, ("", ""))
            if old_cell[1] != new_cell[1]:
                changes.append(
                    {
                        "rule_id": rule_id,
                        "rule": after["number"],
                        "column": column,
                        "cell_id": new_cell[0] or old_cell[0],
                        "before": old_cell[1],
                        "after": new_cell[1],
                    }
                )
    changes.sort(key=lambda c: (c["rule"], c["column"]))
    return changes
