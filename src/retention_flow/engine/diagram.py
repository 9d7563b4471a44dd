"""The shape of a BPMN diagram for analytics: its flow nodes and sequence flows.

SpiffWorkflow records which elements ran, never which sequence flow was taken; the
heatmap (services/insight/heatmap.py) derives flows from these edges and the elements a case
passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compiler import _safe_xml
from .diff import _is_layout, _local

#: model elements that are not flow nodes (containers, data, artefacts)
_NOT_NODES = frozenset(
    {
        "definitions",
        "process",
        "collaboration",
        "participant",
        "laneSet",
        "lane",
        "sequenceFlow",
        "messageFlow",
        "message",
        "signal",
        "error",
        "escalation",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "textAnnotation",
        "association",
        "group",
        "category",
        "categoryValue",
    }
)


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    name: str | None


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str
    name: str | None


def diagram_shape(name: str, xml: str) -> tuple[list[Node], list[Flow]]:
    """Flow nodes (tasks, events, gateways, sub-processes) and sequence flows, in
    document order. Raises ``InvalidProcess`` for unreadable XML."""
    nodes: list[Node] = []
    flows: list[Flow] = []
    for el in _safe_xml(name, xml).iter():
        if not isinstance(el.tag, str) or not el.get("id") or _is_layout(el):
            continue
        kind = _local(el)
        if kind == "sequenceFlow":
            source, target = el.get("sourceRef"), el.get("targetRef")
            if source and target:
                flows.append(Flow(str(el.get("id")), source, target, el.get("name")))
        elif kind not in _NOT_NODES and not kind.endswith("EventDefinition"):
            parent = el.getparent()
            if parent is not None and _local(parent) in ("process", "subProcess", "transaction"):
                nodes.append(Node(str(el.get("id")), kind, el.get("name")))
    return nodes, flows
