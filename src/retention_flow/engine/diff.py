"""Which model elements changed between two versions of a BPMN or DMN file.

An element is anything in the model with an ``id`` (tasks, events, gateways, flows,
lanes, decisions, rules, ...). Diagram interchange (shapes, edges, their bounds) is
layout, not model, and is left out: moving a shape is no change. An element is
*changed* when its own content differs: its tag, attributes, text, and the children that
have no id of their own (scripts, conditions, extension properties, incoming/outgoing
references). Children with their own id are compared on their own, so adding a task
does not mark its process as changed. The cells of a DMN rule (input, output and
annotation entries) count as part of their rule, so editing a cell changes the rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from .compiler import _safe_xml

#: Diagram-interchange namespaces end in one of these segments (BPMN DI, DD DI/DC, DMNDI).
_LAYOUT_SEGMENTS = frozenset({"DI", "DC", "DMNDI", "BPMNDI"})
#: Elements with an id that belong to their parent's content.
_FOLDED = frozenset({"inputEntry", "outputEntry", "annotationEntry"})


@dataclass(frozen=True)
class Element:
    id: str
    type: str
    name: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "type": self.type, "name": self.name}


@dataclass
class ElementDiff:
    added: list[Element] = field(default_factory=list)
    removed: list[Element] = field(default_factory=list)
    changed: list[Element] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, list[dict[str, str | None]]]:
        return {
            "added": [e.as_dict() for e in self.added],
            "removed": [e.as_dict() for e in self.removed],
            "changed": [e.as_dict() for e in self.changed],
        }


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def _is_layout(el: etree._Element) -> bool:
    namespace = etree.QName(el).namespace or ""
    return namespace.rstrip("/").rsplit("/", 1)[-1] in _LAYOUT_SEGMENTS


def _own(el: etree._Element) -> bool:
    """An element compared on its own (it has an id and is model, not a rule cell)."""
    return bool(el.get("id")) and not _is_layout(el) and _local(el) not in _FOLDED


def _signature(el: etree._Element) -> tuple[object, ...]:
    """The element's semantic content. Children are compared as a set (sorted): the
    modeler rewrites ``incoming``/``outgoing`` references and extension properties in a
    new order after a delete and its undo, which changes the XML but not the model."""
    children = tuple(
        sorted(
            (
                _signature(child)
                for child in el
                if isinstance(child.tag, str) and not _own(child) and not _is_layout(child)
            ),
            key=repr,
        )
    )
    return (el.tag, tuple(sorted(el.attrib.items())), (el.text or "").strip(), children)


def _elements(root: etree._Element) -> Iterator[tuple[Element, tuple[object, ...]]]:
    for el in root.iter():
        if isinstance(el.tag, str) and _own(el):
            yield Element(str(el.get("id")), _local(el), el.get("name")), _signature(el)


def element_diff(name: str, old_xml: str, new_xml: str) -> ElementDiff:
    """Elements added, removed and changed from ``old_xml`` to ``new_xml`` (document
    order of the file they are in). Raises ``InvalidProcess`` for unreadable XML."""
    old = {e.id: (e, sig) for e, sig in _elements(_safe_xml(name, old_xml))}
    new = {e.id: (e, sig) for e, sig in _elements(_safe_xml(name, new_xml))}
    result = ElementDiff()
    for element_id, (element, sig) in new.items():
        if element_id not in old:
            result.added.append(element)
        elif old[element_id][1] != sig:
            result.changed.append(element)
    result.removed = [e for element_id, (e, _sig) in old.items() if element_id not in new]
    return result
