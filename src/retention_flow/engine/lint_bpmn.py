"""Modelling conventions of a BPMN file (``retention-flow lint``), beyond what a bundle
needs to deploy (``checks``, ``flow_checks``, ``timer_checks``): one process per file with
its own participant, every element named and documented, one lane per flow node, named
choices at deciding gateways, complete user tasks, service tasks called with exactly
their parameters, message catches that keep their payload, and an outcome set on the
way to every end event."""

from __future__ import annotations

import ast

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .bundle import BPMN_NS, Issue
from .checks import _resolve_role
from .lint_model import (
    NS,
    USER_TASK_PROPERTIES,
    Add,
    BundleIndex,
    local,
    text_of,
)

FLOW_NODES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "userTask",
        "scriptTask",
        "serviceTask",
        "businessRuleTask",
        "callActivity",
        "task",
        "manualTask",
        "sendTask",
        "receiveTask",
        "subProcess",
        "exclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "inclusiveGateway",
    }
)
DECIDING_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
#: elements on the way back from an end event to the script that set the outcome
_PASS_THROUGH = frozenset(
    {"scriptTask", "serviceTask", "userTask", "intermediateCatchEvent", "boundaryEvent"}
)


def lint_file(name: str, root: etree._Element, index: BundleIndex, issues: list[Issue]) -> None:
    """Every convention of one BPMN file."""

    def add(element: str | None, message: str) -> None:
        issues.append(Issue(name, element, message))

    _check_ids(name, root, add)
    for message in root.findall("bpmn:message", NS):
        if not message.get("name"):
            add(message.get("id"), "message has no name")
    processes = root.findall("bpmn:process", NS)
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    if {p.get("id") for p in processes} != {name.rsplit(".", 1)[0]}:
        add(None, "the file must be named after its process id")
    collaborations = root.findall("bpmn:collaboration", NS)
    if len(processes) != 1 or len(collaborations) != 1 or len(participants) != 1:
        add(None, "one process, one collaboration and one participant per file")
    for part in participants:
        if not part.get("name"):
            add(part.get("id"), "participant has no name")
        if part.get("processRef") not in {p.get("id") for p in processes}:
            add(part.get("id"), "participant does not reference the file's process")
    for process in processes:
        if process.get("isExecutable") != "true":
            add(process.get("id"), "process is not executable")
        lint_process(process, index, add)


def _check_ids(name: str, root: etree._Element, add: Add) -> None:
    """SpiffWorkflow finds a node by ``.//*[@id=...]`` over the whole file: a BPMN element
    whose id is also an extension element's (a service operator or parameter named like
    the task) resolves to the wrong element."""
    count: dict[str, int] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") is not None:
            count[str(el.get("id"))] = count.get(str(el.get("id")), 0) + 1
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).namespace != BPMN_NS:
            continue
        eid = el.get("id")
        if eid is not None and count[eid] > 1:
            add(
                eid,
                f"id is used {count[eid]} times in {name} "
                "(SpiffWorkflow looks nodes up by @id anywhere in the file)",
            )


def lint_process(process: etree._Element, index: BundleIndex, add: Add) -> None:
    pid = process.get("id")
    if not process.get("name"):
        add(pid, "process has no name")
    if not text_of(process, "bpmn:documentation"):
        add(pid, "process has no documentation")
    nodes = {
        str(el.get("id")): el
        for el in process
        if isinstance(el.tag, str) and local(el) in FLOW_NODES
    }
    flows = {str(el.get("id")): el for el in process.findall("bpmn:sequenceFlow", NS)}
    for nid, el in nodes.items():
        if not el.get("name"):
            add(nid, f"{local(el)} has no name")
        if not text_of(el, "bpmn:documentation"):
            add(nid, f"{local(el)} has no bpmn:documentation")
    lanes = _check_lanes(process, nodes, add)
    outgoing: dict[str, list[etree._Element]] = {}
    incoming: dict[str, list[etree._Element]] = {}
    for flow in flows.values():
        outgoing.setdefault(str(flow.get("sourceRef")), []).append(flow)
        incoming.setdefault(str(flow.get("targetRef")), []).append(flow)
    user_tasks = {nid for nid, el in nodes.items() if local(el) == "userTask"}
    for nid, el in nodes.items():
        kind = local(el)
        if kind in DECIDING_GATEWAYS:
            _check_gateway(nid, el, outgoing.get(nid, []), flows, add)
        elif kind == "userTask":
            _check_user_task(nid, el, user_tasks, lanes, index, add)
        elif kind == "serviceTask":
            _check_service_task(nid, el, index, add)
        for msg in el.findall("bpmn:messageEventDefinition", NS):
            if msg.get("messageRef") not in index.messages:
                add(nid, f"messageRef {msg.get('messageRef')!r} does not exist")
            variable = text_of(msg, "bpmn:extensionElements/spiffworkflow:messageVariable")
            if kind not in ("intermediateThrowEvent", "endEvent") and not variable:
                add(nid, "message catch without spiffworkflow:messageVariable drops the payload")
    for nid, el in nodes.items():
        if local(el) == "endEvent" and _outcome_before(nid, nodes, incoming, index, set()) is False:
            add(nid, f"no script that sets '{index.outcome}' on the way to this end event")


def _check_lanes(
    process: etree._Element, nodes: dict[str, etree._Element], add: Add
) -> dict[str, str]:
    """Every flow node in exactly one lane; answers node id -> its lane's name."""
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    if not lanes:
        add(process.get("id"), "process has no lanes")
        return {}
    membership = dict.fromkeys(nodes, 0)
    lane_of: dict[str, str] = {}
    for lane in lanes:
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            ref_id = (ref.text or "").strip()
            if ref_id not in membership:
                add(lane.get("id"), f"flowNodeRef {ref_id!r} is not a flow node")
                continue
            membership[ref_id] += 1
            lane_of[ref_id] = lane.get("name") or ""
    for nid, count in membership.items():
        if count != 1:
            add(nid, f"flow node is in {count} lanes (must be exactly one)")
    return lane_of


def _check_gateway(
    nid: str,
    gateway: etree._Element,
    leaving: list[etree._Element],
    flows: dict[str, etree._Element],
    add: Add,
) -> None:
    default = gateway.get("default")
    if default and default not in flows:
        add(nid, f"default flow {default!r} does not exist")
    if len(leaving) > 1:
        unnamed = [str(f.get("id")) for f in leaving if not f.get("name")]
        if unnamed:
            add(nid, f"flows leaving a deciding gateway must be named: {unnamed}")


def _check_user_task(
    nid: str,
    el: etree._Element,
    user_tasks: set[str],
    lanes: dict[str, str],
    index: BundleIndex,
    add: Add,
) -> None:
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    props = {str(p.get("name")): p.get("value") for p in el.findall(path, NS)}
    for unknown in sorted(set(props) - USER_TASK_PROPERTIES):
        add(nid, f"unknown user task property {unknown!r}")
    form = props.get("formJsonSchemaFilename")
    if not form:
        add(nid, "user task has no formJsonSchemaFilename")
    else:
        index.used_forms.add(form)
    role = _resolve_role(lanes.get(nid) or "", index.manifest)
    defaults = index.manifest.defaults.get(role or "")
    if not props.get("due") and (defaults is None or not defaults.due):
        add(nid, "user task has no due (nor a default of the lane's role)")
    if props.get("priority") is None and (defaults is None or defaults.priority is None):
        add(nid, "user task has no priority (nor a default of the lane's role)")
    four_eyes = props.get("fourEyesWith")
    if four_eyes is not None and four_eyes not in user_tasks:
        add(nid, f"fourEyesWith {four_eyes!r} is not a user task here")
    if "partnerVariable" in props and role != "partner":
        add(nid, "partnerVariable on a task outside the partner lane")


def _check_service_task(nid: str, el: etree._Element, index: BundleIndex, add: Add) -> None:
    operator = el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
    if operator is None:
        add(nid, "service task has no spiffworkflow:serviceTaskOperator")
        return
    spec = index.services.get(str(operator.get("id")))
    if spec is None:
        return  # unknown operators are a deploy error (checks.check_spec)
    if not operator.get("resultVariable"):
        add(nid, "service task has no resultVariable")
    path = "spiffworkflow:parameters/spiffworkflow:parameter"
    params = {str(p.get("id")): p.get("value") or "" for p in operator.findall(path, NS)}
    name = operator.get("id")
    if set(params) != spec.parameters:
        add(nid, f"{name} takes exactly {sorted(spec.parameters)}, got {sorted(params)}")
    for param, choices in sorted(spec.literals.items()):
        try:
            value = ast.literal_eval(params.get(param) or "")
        except (ValueError, SyntaxError):
            value = None
        if value not in choices:
            add(nid, f"{name} {param} must be a literal of {sorted(choices)}")


def _sets_outcome(el: etree._Element, outcome: str) -> bool:
    if local(el) != "scriptTask":
        return False
    try:
        tree = ast.parse(el.findtext("bpmn:script", "", NS) or "")
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == outcome for t in node.targets)
        for node in ast.walk(tree)
    )


def _outcome_before(
    nid: str,
    nodes: dict[str, etree._Element],
    incoming: dict[str, list[etree._Element]],
    index: BundleIndex,
    seen: set[str],
) -> bool | None:
    """True: the one path into ``nid`` sets the outcome; None: no outcome is due (a side
    branch of a non-interrupting boundary event, or a branch of a timer start cycle that
    repeats for ever: that instance never completes); False: no script sets it."""
    if nid in seen:
        return False
    seen.add(nid)
    flows = incoming.get(nid, [])
    if len(flows) != 1:
        return False
    src = str(flows[0].get("sourceRef"))
    el = nodes.get(src)
    if el is None:
        return False
    kind = local(el)
    if _sets_outcome(el, index.outcome):
        return True
    if kind == "callActivity":
        return el.get("calledElement") in index.processes
    if kind == "boundaryEvent" and el.get("cancelActivity") == "false":
        return None
    if kind == "startEvent" and _repeats_for_ever(el):
        return None
    if kind in _PASS_THROUGH:
        return _outcome_before(src, nodes, incoming, index, seen)
    return False


def _repeats_for_ever(el: etree._Element) -> bool:
    for cycle in el.findall("bpmn:timerEventDefinition/bpmn:timeCycle", NS):
        try:
            value = ast.literal_eval((cycle.text or "").strip())
            if TimerEventDefinition.parse_iso_recurring_interval(value)[0] == -1:
                return True
        except Exception:  # noqa: S112 - a bad timer is reported by timer_checks
            continue
    return False
