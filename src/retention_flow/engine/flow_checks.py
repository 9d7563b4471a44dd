"""Checks on a diagram's sequence flows, on the XML itself: dangling flows, gateways that
cannot choose, and elements the flow cannot reach or leave (SpiffWorkflow's own messages
for these name the wrong element, mislead, or say nothing: a task left without an
outgoing flow after its gateway's flow was deleted would simply end the case there)."""

from __future__ import annotations

from lxml import etree

from .bundle import BPMN_NS, Issue

_NS = f"{{{BPMN_NS}}}"
#: flow nodes that must be reached by a flow and must leave by one
_ACTIVITIES = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
}


def check_flows(name: str, tree: etree._Element, issues: list[Issue]) -> None:
    """Every check of this module, for each process and sub-process of the file."""
    for process in tree.iter(f"{_NS}process", f"{_NS}subProcess"):
        flows = list(process.iterchildren(f"{_NS}sequenceFlow"))
        _check_dangling(name, process, flows, issues)
        _check_gateways(name, process, flows, issues)
        _check_connected(name, process, flows, issues)


def _check_dangling(
    name: str, process: etree._Element, flows: list[etree._Element], issues: list[Issue]
) -> None:
    ids = {n.get("id") for n in process.iter() if isinstance(n.tag, str) and n.get("id")}
    for flow in flows:
        for end in ("sourceRef", "targetRef"):
            ref = flow.get(end)
            if ref not in ids:
                issues.append(
                    Issue(name, flow.get("id"), f"sequence flow {end} '{ref}' does not exist")
                )


def _check_gateways(
    name: str, process: etree._Element, flows: list[etree._Element], issues: list[Issue]
) -> None:
    for kind in ("exclusiveGateway", "inclusiveGateway"):
        for gateway in process.iterchildren(f"{_NS}{kind}"):
            gid, default = gateway.get("id"), gateway.get("default")
            outgoing = [f for f in flows if f.get("sourceRef") == gid]
            if len(outgoing) < 2:
                continue
            bare = [
                f.get("id")
                for f in outgoing
                if f.get("id") != default and f.find(f"{_NS}conditionExpression") is None
            ]
            if bare:
                issues.append(
                    Issue(
                        name,
                        gid,
                        f"gateway has outgoing flows without a condition ({', '.join(bare)})"
                        + ("" if default else " and no default flow"),
                    )
                )


def _label(node: etree._Element) -> str:
    kind = etree.QName(node).localname
    text = node.get("name")
    return f"{kind} '{text}'" if text else kind


def _check_connected(
    name: str, process: etree._Element, flows: list[etree._Element], issues: list[Issue]
) -> None:
    """An activity, gateway or intermediate event needs an incoming and an outgoing
    sequence flow; an end event an incoming one, a start event an outgoing one. Left
    alone: event sub-processes, compensation handlers, link events (reached by name)."""
    sources = {f.get("sourceRef") for f in flows}
    targets = {f.get("targetRef") for f in flows}
    for node in process.iterchildren():
        if not isinstance(node.tag, str) or not node.get("id"):
            continue
        kind = etree.QName(node).localname
        nid = node.get("id")
        if kind in _ACTIVITIES:
            if node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true":
                continue
            if node.find(f"{_NS}linkEventDefinition") is not None:
                continue
            need_in, need_out = True, True
        elif kind == "endEvent":
            need_in, need_out = True, False
        elif kind == "startEvent":
            need_in, need_out = False, True
        else:
            continue
        missing = [
            what
            for what, needed, present in (
                ("incoming", need_in, nid in targets),
                ("outgoing", need_out, nid in sources),
            )
            if needed and not present
        ]
        if missing:
            issues.append(
                Issue(
                    name,
                    nid,
                    f"{_label(node)} is not connected: it has no {' and no '.join(missing)} "
                    "sequence flow",
                )
            )
