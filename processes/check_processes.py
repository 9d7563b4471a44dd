"""Check the product's retention bundle in processes/retention against SpiffWorkflow and our conventions.

Run from the repository root:

    .venv/bin/python processes/check_processes.py [-v]

What it does (same approach as tests/data/check_diagrams.py, stricter where the bundle is the
product rather than test data):

* convention checks on every .bpmn: one process per file with its own collaboration,
  participant and lanes; lanes are roles; every flow node is named, documented
  (``bpmn:documentation``) and in exactly one lane; user tasks have a form in the bundle,
  ``due`` and ``priority``; exclusive gateways have a condition or default on every outgoing
  flow; service tasks use only the six operators we implement, with exactly their
  parameters; business-rule tasks name a decision in the bundle; call activities name a
  process in the bundle; timers are quoted ISO literals; message catches declare
  ``spiffworkflow:messageVariable``; no ``id`` attribute is used twice in a file (SpiffWorkflow
  looks nodes up by ``@id`` anywhere in the file, extension elements included); every end
  event is preceded by a script that sets ``outcome`` (or by a call activity whose process
  does), except ends of side branches started by a non-interrupting boundary event and ends
  of branches started by an unbounded timer start cycle (``"R/..."``: the instance never
  completes, so it has no outcome);
* diagram interchange: a shape with bounds for every flow node, lane and participant, an
  edge with waypoints for every flow, edges that start and end on their shapes, no shape
  overlaps, no edge running through an unrelated shape, shapes inside their lane;
* DMN: decision ids, COLLECT hit policy, a DMNDI shape per decision;
* form schemas: Draft 2020-12 ``check_schema``, ``type: object``, ``additionalProperties:
  false``, title and description on the form, a title on every property, ``enum`` equal to
  the ``oneOf`` consts, every form used by a user task;
* ``bundle.json``: only the keys our engine reads;
* parses the bundle with ``SpiffBpmnParser(validator=VALIDATOR)`` (XSD validation);
* runs ``retention_flow.engine.bundle.compile_bundle`` (our own validator) on the folder;
* drives every scenario of ``retention/scenarios.json`` on a frozen clock (``time_machine``)
  with a fake service connector for the six operators, validating submitted data against
  the task's form, sending messages through the waiting task's own event definition, and
  round-tripping the workflow through ``BpmnWorkflowSerializer`` after every step;
* proves coverage: every flow node of every process (so every end event and every boundary
  timer path) is completed by at least one scenario (a timer start cycle, which SpiffWorkflow
  keeps waiting for ever, counts once it has fired and its branch has run).

Exit status 0 when everything passes.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import time_machine
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUNDLE = HERE / "retention"
SCENARIOS = BUNDLE / "scenarios.json"
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

ROLES = {"telemarketing", "inbound", "specialist", "team_lead", "back_office", "partner"}
#: operator id -> exact parameter names (implemented in code, nothing else is allowed)
OPERATORS = {
    "enqueue_campaign_batch": {"campaign", "batch_size", "min_churn_risk"},
    "book_contract_change": {"customer_id", "case_number", "offer_code"},
    "write_letter": {"case_number", "customer_id", "kind", "offer_codes"},
    "allocate_partner": {"case_number", "eligible_partners", "exclude"},
    "record_settlement": {"case_number", "partner_id", "offer_code"},
    "process_cancellation": {"customer_id", "case_number"},
}
LETTER_KINDS = {"confirmation", "response_form", "reminder", "cancellation"}
CHURN_RISKS = ("low", "medium", "high")
OUTCOMES = {
    "retained",
    "lost",
    "no_response",
    "cancelled_by_customer",
    "no_partner",
    "lost_to_sla",
    "claim_rejected",
}
USER_TASK_PROPERTIES = {
    "formJsonSchemaFilename",
    "due",
    "priority",
    "partnerVariable",
    "fourEyesWith",
    "requiredSkills",
}
MANIFEST_KEYS = {
    "roles",
    "channel",
    "defaults",
    "correlation_keys",
    "outcome_variable",
    "retention_cases",
    "calendars",
    "due_calendar",
}
BUSINESS_DUE = re.compile(r'^business_due\("(P[0-9A-Z.]+)"(?:, "[a-z_]+")?\)$')

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {
    "bpmn": BPMN,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
DMN = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMNDI = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
FLOW_NODES = {
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
CONDITIONAL_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

Problem = tuple[str, str]  # (element id or file name, message)


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


# ----------------------------------------------------------------------------------------------
# Fake service connector: the six operators our engine implements
# ----------------------------------------------------------------------------------------------


class FakeServices:
    """The six operators, faked; allocate_partner answers the first eligible partner not
    excluded (or null); enqueue_campaign_batch answers a job id per campaign and day (the
    frozen clock's date), validating its parameters as the real handler does. Records every
    call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation_name not in OPERATORS:
            raise ValueError(f"unknown service operation {operation_name!r}")
        if set(params) != OPERATORS[operation_name]:
            raise ValueError(f"{operation_name}: parameters {sorted(params)}")
        self.calls.append((operation_name, json.loads(json.dumps(params))))
        if operation_name == "enqueue_campaign_batch":
            size = params["batch_size"]
            if params["min_churn_risk"] not in CHURN_RISKS:
                raise ValueError(
                    f"enqueue_campaign_batch: min_churn_risk {params['min_churn_risk']!r}"
                )
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 10_000:
                raise ValueError(f"enqueue_campaign_batch: batch_size {size!r} is not 1-10000")
            if not isinstance(params["campaign"], str) or not params["campaign"]:
                raise ValueError(f"enqueue_campaign_batch: campaign {params['campaign']!r}")
            day = dt.datetime.now(dt.UTC).date().isoformat()
            return {"status": "queued", "job_id": f"JOB-{params['campaign']}-{day}"}
        case = params["case_number"]
        if operation_name == "book_contract_change":
            return {
                "status": "booked",
                "booking_id": f"BK-{case}",
                "offer_code": params["offer_code"],
            }
        if operation_name == "write_letter":
            if params["kind"] not in LETTER_KINDS or not isinstance(params["offer_codes"], list):
                raise ValueError(f"write_letter: bad kind or offer_codes {params}")
            return {
                "status": "queued",
                "letter_id": f"LT-{case}-{params['kind']}",
                "kind": params["kind"],
            }
        if operation_name == "allocate_partner":
            free = [p for p in params["eligible_partners"] if p not in params["exclude"]]
            return {"partner_id": free[0] if free else None}
        if operation_name == "record_settlement":
            return {
                "status": "recorded",
                "settlement_id": f"ST-{case}",
                "partner_id": params["partner_id"],
            }
        return {"status": "cancelled", "cancellation_id": f"CX-{case}"}


def business_due(duration: str, role: str | None = None) -> str:
    """The product's timer helper (services/context.py): ``duration`` of the role's business
    hours from now, with the calendars of retention/bundle.json and the default settings."""
    from retention_flow.core.calendar import BusinessCalendar
    from retention_flow.core.config import Settings
    from retention_flow.engine.bundle import Manifest, calendar_of

    settings = Settings()
    base = BusinessCalendar.from_settings(
        settings.business_timezone,
        settings.business_hours,
        settings.business_days,
        settings.holidays,
    )
    manifest = Manifest.model_validate_json((HERE / "retention" / "bundle.json").read_text())
    defaults = manifest.defaults.get(role or "")
    name = defaults.calendar if defaults is not None else None
    calendar = calendar_of(manifest.calendars[name], base) if name else base
    return calendar.add_iso(dt.datetime.now(dt.UTC), duration).isoformat()


class FakeServiceEnvironment(TaskDataEnvironment):
    """Plain (unsandboxed) task-data environment whose call_service uses FakeServices."""

    def __init__(self, services: FakeServices) -> None:
        super().__init__({"business_due": business_due})
        self.services = services

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        return json.dumps(self.services.call(operation_name, params))


class CheckScriptEngine(PythonScriptEngine):
    """PythonScriptEngine.call_service refers to an undefined ``script`` in its except
    branch (NameError instead of the real error); this override reports the real one."""

    def call_service(self, task, **kwargs):
        try:
            return self.environment.call_service(task.data, **kwargs)
        except Exception as err:
            raise WorkflowTaskException(
                f"service call failed: {err}", task=task, exception=err
            ) from err


def make_engine(kind: str) -> tuple[PythonScriptEngine, FakeServices]:
    """'plain': SpiffWorkflow's own exec/eval; 'sandbox': our engine's RestrictedPython sandbox
    (retention_flow.engine.sandbox.make_script_engine) with the fake services as handlers."""
    services = FakeServices()
    if kind == "plain":
        return CheckScriptEngine(environment=FakeServiceEnvironment(services)), services
    from retention_flow.engine.sandbox import make_script_engine

    handlers = {op: (lambda data, params, op=op: services.call(op, params)) for op in OPERATORS}
    engine = make_script_engine(
        service_handlers=handlers, budget_seconds=5.0, helpers={"business_due": business_due}
    )
    return engine, services


# ----------------------------------------------------------------------------------------------
# Convention checks
# ----------------------------------------------------------------------------------------------


def check_timer_expression(kind: str, text: str | None) -> str | None:
    if text is None or not text.strip():
        return f"empty {kind}"
    business = BUSINESS_DUE.match(text.strip())
    if business is not None and kind == "timeDate":
        value = business.group(1)  # business hours: the duration counts opening hours
        kind = "timeDuration"
    else:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            return (
                f"{kind} {text.strip()!r} is not a quoted literal "
                "(SpiffWorkflow evaluates it as Python)"
            )
    if not isinstance(value, str):
        return f"{kind} {text.strip()!r} is not a string"
    try:
        if kind == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeDate":
            TimerEventDefinition.parse_time_or_duration(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception as err:
        return f"{kind} {value!r} is not a valid ISO 8601 value ({err})"
    return None


def _bounds(shape) -> tuple[float, float, float, float] | None:
    b = shape.find("dc:Bounds", NS)
    if b is None:
        return None
    return (float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height")))


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(inner, outer) -> bool:
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _on_border(point, box, tolerance=1.0) -> bool:
    x, y = point
    bx, by, bw, bh = box
    inside = (
        bx - tolerance <= x <= bx + bw + tolerance and by - tolerance <= y <= by + bh + tolerance
    )
    near = min(abs(x - bx), abs(x - bx - bw), abs(y - by), abs(y - by - bh)) <= tolerance
    return inside and near


def _segment_hits(p, q, box, margin=2.0) -> bool:
    """Does the axis-parallel segment p-q cross the interior of box?"""
    x1, y1 = p
    x2, y2 = q
    bx, by, bw, bh = box[0] + margin, box[1] + margin, box[2] - 2 * margin, box[3] - 2 * margin
    if abs(x1 - x2) < 0.5:  # vertical
        return bx < x1 < bx + bw and max(min(y1, y2), by) < min(max(y1, y2), by + bh)
    if abs(y1 - y2) < 0.5:  # horizontal
        return by < y1 < by + bh and max(min(x1, x2), bx) < min(max(x1, x2), bx + bw)
    return False  # diagonal segments are not drawn by us


def script_sets_outcome(el) -> bool:
    if local(el) != "scriptTask":
        return False
    text = el.findtext("bpmn:script", "", NS)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "outcome" for t in node.targets)
        for node in ast.walk(tree)
    )


def check_process(process, root, ctx: dict, problems: list[Problem]) -> None:
    pid = process.get("id")
    if not process.get("name"):
        problems.append((pid, "process has no name"))
    if not (process.findtext("bpmn:documentation", "", NS) or "").strip():
        problems.append((pid, "process has no documentation"))
    nodes = {
        el.get("id"): el for el in process if isinstance(el.tag, str) and local(el) in FLOW_NODES
    }
    flows = {el.get("id"): el for el in process.findall("bpmn:sequenceFlow", NS)}
    ctx["nodes"].update(nodes)
    ctx["flows"].update(flows)

    for nid, el in nodes.items():
        if not el.get("name"):
            problems.append((nid, f"{local(el)} has no name"))
        if not (el.findtext("bpmn:documentation", "", NS) or "").strip():
            problems.append((nid, f"{local(el)} has no bpmn:documentation"))

    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    ctx["lanes"] += lanes
    if not lanes:
        problems.append((pid, "process has no lanes"))
    membership = {nid: 0 for nid in nodes}
    for lane in lanes:
        if lane.get("name") not in ROLES:
            problems.append((lane.get("id"), f"lane name {lane.get('name')!r} is not a role"))
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            ref_id = (ref.text or "").strip()
            if ref_id in membership:
                membership[ref_id] += 1
            else:
                problems.append((lane.get("id"), f"flowNodeRef {ref_id!r} is not a flow node"))
    for nid, count in membership.items():
        if count != 1:
            problems.append((nid, f"flow node is in {count} lanes (must be exactly one)"))

    outgoing: dict[str, list] = {}
    incoming: dict[str, list] = {}
    for fid, flow in flows.items():
        for attr in ("sourceRef", "targetRef"):
            if flow.get(attr) not in nodes:
                problems.append((fid, f"sequence flow {attr} {flow.get(attr)!r} does not exist"))
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        incoming.setdefault(flow.get("targetRef"), []).append(flow)

    user_tasks = {nid for nid, el in nodes.items() if local(el) == "userTask"}
    for nid, el in nodes.items():
        kind = local(el)
        if kind not in ("startEvent", "boundaryEvent") and not incoming.get(nid):
            problems.append((nid, "no incoming sequence flow"))
        if kind != "endEvent" and not outgoing.get(nid):
            problems.append((nid, "no outgoing sequence flow"))
        if kind in CONDITIONAL_GATEWAYS:
            default = el.get("default")
            bare = [
                f.get("id")
                for f in outgoing.get(nid, [])
                if f.get("id") != default and f.find("bpmn:conditionExpression", NS) is None
            ]
            if bare:
                problems.append(
                    (nid, f"outgoing flows without a condition that are not the default: {bare}")
                )
            if default and default not in flows:
                problems.append((nid, f"default flow {default!r} does not exist"))
            if len(outgoing.get(nid, [])) > 1:
                unnamed = [f.get("id") for f in outgoing[nid] if not f.get("name")]
                if unnamed:
                    problems.append(
                        (nid, f"flows leaving a deciding gateway must be named: {unnamed}")
                    )
        if kind == "userTask":
            props = {
                p.get("name"): p.get("value")
                for p in el.findall(
                    "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS
                )
            }
            for unknown in set(props) - USER_TASK_PROPERTIES:
                problems.append((nid, f"unknown user task property {unknown!r}"))
            form = props.get("formJsonSchemaFilename")
            if not form:
                problems.append((nid, "user task has no formJsonSchemaFilename"))
            elif not (BUNDLE / form).is_file():
                problems.append((nid, f"formJsonSchemaFilename {form!r} is not in the bundle"))
            else:
                ctx["used_forms"].add(form)
            try:
                TimerEventDefinition.parse_iso_duration(props.get("due") or "")
            except Exception:
                problems.append((nid, f"due {props.get('due')!r} is not an ISO 8601 duration"))
            try:
                if not 0 <= int(props.get("priority", "")) <= 100:
                    raise ValueError
            except ValueError:
                problems.append(
                    (nid, f"priority {props.get('priority')!r} is not an integer 0-100")
                )
            if "fourEyesWith" in props and props["fourEyesWith"] not in user_tasks:
                problems.append(
                    (nid, f"fourEyesWith {props['fourEyesWith']!r} is not a user task here")
                )
            if "partnerVariable" in props and lane_of(nid, lanes) != "partner":
                problems.append((nid, "partnerVariable on a task outside the partner lane"))
        if kind == "businessRuleTask":
            ref = (
                el.findtext("bpmn:extensionElements/spiffworkflow:calledDecisionId", "", NS) or ""
            ).strip()
            if ref not in ctx["decisions"]:
                problems.append(
                    (nid, f"calls decision {ref!r}, not in the bundle ({sorted(ctx['decisions'])})")
                )
        if kind == "serviceTask":
            op = el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
            if op is None:
                problems.append((nid, "service task has no spiffworkflow:serviceTaskOperator"))
            else:
                check_operator(nid, op, problems)
        if kind == "callActivity" and el.get("calledElement") not in ctx["processes"]:
            problems.append(
                (nid, f"calledElement {el.get('calledElement')!r} is not a process in the bundle")
            )
        for timer in el.findall("bpmn:timerEventDefinition", NS):
            for child in timer:
                problem = check_timer_expression(local(child), child.text)
                if problem:
                    problems.append((nid, problem))
        for msg in el.findall("bpmn:messageEventDefinition", NS):
            if msg.get("messageRef") not in ctx["messages"]:
                problems.append((nid, f"messageRef {msg.get('messageRef')!r} does not exist"))
            variable = msg.findtext("bpmn:extensionElements/spiffworkflow:messageVariable", "", NS)
            if kind != "intermediateThrowEvent" and not (variable or "").strip():
                problems.append(
                    (nid, "message catch without spiffworkflow:messageVariable drops the payload")
                )
        if kind in ("scriptTask",):
            try:
                compile(el.findtext("bpmn:script", "", NS), nid, "exec")
            except SyntaxError as err:
                problems.append((nid, f"script does not compile: {err}"))

    # every end event sets the outcome (side branches of non-interrupting boundaries excepted)
    ctx["end_events"][pid] = sorted(nid for nid, el in nodes.items() if local(el) == "endEvent")
    ctx["boundaries"][pid] = sorted(
        nid for nid, el in nodes.items() if local(el) == "boundaryEvent"
    )
    ctx["all_nodes"][pid] = sorted(nodes)
    for nid in ctx["end_events"][pid]:
        verdict = outcome_before(nid, nodes, incoming, ctx, set())
        if verdict is False:
            problems.append((nid, "no script that sets 'outcome' on the way to this end event"))


def outcome_before(nid, nodes, incoming, ctx, seen) -> bool | None:
    """True: the path sets outcome; None: a side branch of a non-interrupting boundary, or a
    branch of an unbounded timer start cycle (that instance never completes: no outcome)."""
    if nid in seen:
        return False
    seen.add(nid)
    flows = incoming.get(nid, [])
    if len(flows) != 1:
        return False
    src = flows[0].get("sourceRef")
    el = nodes.get(src)
    if el is None:
        return False
    if script_sets_outcome(el):
        return True
    if local(el) == "callActivity":
        return el.get("calledElement") in ctx["processes"]
    if local(el) == "boundaryEvent" and el.get("cancelActivity") == "false":
        return None
    if local(el) == "startEvent" and unbounded_cycle(el):
        return None
    if local(el) in (
        "scriptTask",
        "serviceTask",
        "userTask",
        "intermediateCatchEvent",
        "boundaryEvent",
    ):
        return outcome_before(src, nodes, incoming, ctx, seen)
    return False


def unbounded_cycle(el) -> bool:
    """A timer event whose timeCycle repeats for ever ("R/PT24H"): as a start event it adds a
    branch at every firing and its instance never completes."""
    for cycle in el.findall("bpmn:timerEventDefinition/bpmn:timeCycle", NS):
        if check_timer_expression("timeCycle", cycle.text) is not None:
            continue  # reported as a timer problem
        value = ast.literal_eval(cycle.text.strip())
        if TimerEventDefinition.parse_iso_recurring_interval(value)[0] == -1:
            return True
    return False


def lane_of(nid, lanes) -> str | None:
    for lane in lanes:
        if any((r.text or "").strip() == nid for r in lane.findall("bpmn:flowNodeRef", NS)):
            return lane.get("name")
    return None


def check_operator(nid, op, problems: list[Problem]) -> None:
    name = op.get("id")
    if name not in OPERATORS:
        problems.append(
            (nid, f"service operator {name!r} is not one we implement ({sorted(OPERATORS)})")
        )
        return
    if not op.get("resultVariable"):
        problems.append((nid, "service task has no resultVariable"))
    params = {
        p.get("id"): p.get("value")
        for p in op.findall("spiffworkflow:parameters/spiffworkflow:parameter", NS)
    }
    if set(params) != OPERATORS[name]:
        problems.append(
            (nid, f"{name} takes exactly {sorted(OPERATORS[name])}, got {sorted(params)}")
        )
    for pname, value in params.items():
        try:
            compile(value or "", pname, "eval")
        except SyntaxError as err:
            problems.append((nid, f"parameter {pname} is not a Python expression: {err}"))
    if name == "write_letter":
        try:
            kind = ast.literal_eval(params.get("kind") or "")
        except (ValueError, SyntaxError):
            kind = None
        if kind not in LETTER_KINDS:
            problems.append((nid, f"write_letter kind must be a literal of {sorted(LETTER_KINDS)}"))
    if name == "enqueue_campaign_batch":
        try:
            risk = ast.literal_eval(params.get("min_churn_risk") or "")
        except (ValueError, SyntaxError):
            risk = None
        if risk not in CHURN_RISKS:
            problems.append((nid, f"min_churn_risk must be a literal of {list(CHURN_RISKS)}"))


def check_bpmn_file(path: Path, ctx: dict, problems: list[Problem]) -> None:
    try:
        tree = etree.parse(str(path), XML_PARSER)
    except etree.XMLSyntaxError as err:
        problems.append((path.name, f"malformed XML: {err}"))
        return
    if tree.docinfo.doctype:
        problems.append((path.name, "DOCTYPE is not allowed"))
    root = tree.getroot()
    ctx.update(nodes={}, flows={}, lanes=[])
    # SpiffWorkflow finds a flow node with the XPath .//*[@id=...] over the whole file, so a
    # BPMN element whose id is also the id of a spiffworkflow:serviceTaskOperator or
    # spiffworkflow:parameter (e.g. a service task called "process_cancellation") resolves to
    # the extension element ("no support implemented for this task type"). Extension elements
    # may repeat ids among themselves (operator and parameter ids are names).
    id_kinds: dict[str, list[str]] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") is not None:
            id_kinds.setdefault(el.get("id"), []).append(
                f"{etree.QName(el).namespace == BPMN}:{local(el)}"
            )
    for el in root.iter():
        if not isinstance(el.tag, str) or el.get("id") is None:
            continue
        if el.get("id") == "Start":
            problems.append(
                ("Start", "the id 'Start' clashes with SpiffWorkflow's internal start task")
            )
        if etree.QName(el).namespace == BPMN and len(id_kinds[el.get("id")]) > 1:
            problems.append(
                (
                    el.get("id"),
                    f"id is used {len(id_kinds[el.get('id')])} times in {path.name} "
                    "(SpiffWorkflow looks nodes up by @id anywhere in the file)",
                )
            )
    for msg in root.findall("bpmn:message", NS):
        if not msg.get("name"):
            problems.append((msg.get("id"), "message has no name"))
    processes = root.findall("bpmn:process", NS)
    collaborations = root.findall("bpmn:collaboration", NS)
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    if len(processes) != 1 or len(collaborations) != 1 or len(participants) != 1:
        problems.append((path.name, "one process, one collaboration and one participant per file"))
    for part in participants:
        if not part.get("name"):
            problems.append((part.get("id"), "participant has no name"))
        if part.get("processRef") not in {p.get("id") for p in processes}:
            problems.append((part.get("id"), "participant does not reference the file's process"))
    for process in processes:
        if process.get("isExecutable") != "true":
            problems.append((process.get("id"), "process is not executable"))
        check_process(process, root, ctx, problems)

    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in root.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    for el_id in [
        *ctx["nodes"],
        *(lane.get("id") for lane in ctx["lanes"]),
        *(p.get("id") for p in participants),
    ]:
        if el_id not in shapes or _bounds(shapes[el_id]) is None:
            problems.append((el_id, "no BPMNShape with bounds in the diagram"))
    all_boxes = {nid: _bounds(shapes[nid]) for nid in ctx["nodes"] if nid in shapes}
    boxes = {nid: b for nid, b in all_boxes.items() if local(ctx["nodes"][nid]) != "boundaryEvent"}
    for fid, flow in ctx["flows"].items():
        if fid not in edges or len(edges[fid].findall("di:waypoint", NS)) < 2:
            problems.append((fid, "no BPMNEdge with waypoints in the diagram"))
            continue
        points = [
            (float(w.get("x")), float(w.get("y"))) for w in edges[fid].findall("di:waypoint", NS)
        ]
        src, tgt = flow.get("sourceRef"), flow.get("targetRef")
        if src in all_boxes and not _on_border(points[0], all_boxes[src]):
            problems.append((fid, f"edge does not start on the border of {src}"))
        if tgt in all_boxes and not _on_border(points[-1], all_boxes[tgt]):
            problems.append((fid, f"edge does not end on the border of {tgt}"))
        host = ctx["nodes"][src].get("attachedToRef") if src in ctx["nodes"] else None
        for other, box in boxes.items():
            if other in (src, tgt, host):
                continue
            if any(_segment_hits(points[i], points[i + 1], box) for i in range(len(points) - 1)):
                problems.append((fid, f"edge runs through {other}"))
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if _overlap(boxes[a], boxes[b]):
                problems.append((a, f"shape overlaps {b}"))
    for nid, el in ctx["nodes"].items():
        if local(el) == "boundaryEvent" and nid in all_boxes and el.get("attachedToRef") in boxes:
            hx, hy, hw, hh = boxes[el.get("attachedToRef")]
            cx, cy = all_boxes[nid][0] + 18, all_boxes[nid][1] + 18
            if not _on_border((cx, cy), (hx, hy, hw, hh)):
                problems.append((nid, "boundary event is not on the border of its activity"))
    for lane in ctx["lanes"]:
        lane_box = _bounds(shapes[lane.get("id")]) if lane.get("id") in shapes else None
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            box = boxes.get((ref.text or "").strip())
            if lane_box and box and not _inside(box, lane_box):
                problems.append((ref.text.strip(), f"shape is outside its lane {lane.get('id')}"))


def check_dmn(path: Path, ctx: dict, problems: list[Problem]) -> None:
    try:
        root = etree.parse(str(path), XML_PARSER).getroot()
    except etree.XMLSyntaxError as err:
        problems.append((path.name, f"malformed XML: {err}"))
        return
    shaped = {s.get("dmnElementRef") for s in root.iter(f"{{{DMNDI}}}DMNShape")}
    for decision in root.iter(f"{{{DMN}}}decision"):
        did = decision.get("id")
        ctx["decisions"].add(did)
        if did not in shaped:
            problems.append((did, "decision has no DMNShape (DMNDI)"))
        table = decision.find(f"{{{DMN}}}decisionTable")
        if table is None or table.get("hitPolicy") != "COLLECT":
            problems.append((did, "decision table must use hit policy COLLECT"))
        for rule in decision.iter(f"{{{DMN}}}rule"):
            if not (rule.findtext(f"{{{DMN}}}description") or "").strip():
                problems.append((rule.get("id"), "rule has no description"))


def check_form_schemas(ctx: dict) -> list[Problem]:
    problems: list[Problem] = []
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for path in sorted(BUNDLE.glob("*.schema.json")):
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            problems.append((path.name, f"not JSON: {err}"))
            continue
        errors = sorted(meta.iter_errors(doc), key=lambda e: list(e.path))
        for err in errors:
            where = "/".join(str(p) for p in err.path) or "(root)"
            problems.append((path.name, f"not a valid JSON Schema at {where}: {err.message}"))
        if errors:
            continue
        Draft202012Validator.check_schema(doc)
        if doc.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append((path.name, "$schema must be draft 2020-12"))
        if doc.get("type") != "object" or doc.get("additionalProperties") is not False:
            problems.append((path.name, "form must be type object with additionalProperties false"))
        for key in ("title", "description"):
            if not doc.get(key):
                problems.append((path.name, f"form has no {key}"))
        for name in doc.get("required", []):
            if name not in doc.get("properties", {}):
                problems.append((path.name, f"required {name!r} is not a property"))
        for name, prop in doc.get("properties", {}).items():
            if "title" not in prop:
                problems.append((path.name, f"property {name} has no title"))
            if "oneOf" in prop or "enum" in prop:
                consts = [o.get("const") for o in prop.get("oneOf", [])]
                if consts != prop.get("enum") or any(
                    "title" not in o for o in prop.get("oneOf", [])
                ):
                    problems.append(
                        (path.name, f"property {name}: enum must equal the titled oneOf consts")
                    )
        if path.name not in ctx["used_forms"]:
            problems.append((path.name, "form is not used by any user task"))
    return problems


def check_manifest() -> list[Problem]:
    path = BUNDLE / "bundle.json"
    if not path.is_file():
        return [("bundle.json", "missing")]
    doc = json.loads(path.read_text())
    problems = [
        ("bundle.json", f"key {k!r} is not read by the engine") for k in set(doc) - MANIFEST_KEYS
    ]
    for pid, channel in (doc.get("channel") or {}).items():
        if not (BUNDLE / f"{pid}.bpmn").is_file():
            problems.append(("bundle.json", f"channel for unknown process {pid!r}"))
    for role in doc.get("defaults", {}):
        if role not in ROLES:
            problems.append(("bundle.json", f"defaults for unknown role {role!r}"))
    return problems


def convention_problems() -> tuple[list[Problem], dict]:
    problems: list[Problem] = []
    ctx: dict[str, Any] = {
        "decisions": set(),
        "processes": set(),
        "messages": set(),
        "used_forms": set(),
        "end_events": {},
        "boundaries": {},
        "all_nodes": {},
    }
    for path in sorted(BUNDLE.glob("*.dmn")):
        check_dmn(path, ctx, problems)
    for path in sorted(BUNDLE.glob("*.bpmn")):
        try:
            root = etree.parse(str(path), XML_PARSER).getroot()
        except etree.XMLSyntaxError:
            continue
        ctx["processes"] |= {p.get("id") for p in root.findall("bpmn:process", NS)}
        ctx["messages"] |= {m.get("id") for m in root.findall("bpmn:message", NS)}
        if {p.get("id") for p in root.findall("bpmn:process", NS)} != {path.stem}:
            problems.append((path.name, "the file must be named after its process id"))
    for path in sorted(BUNDLE.glob("*.bpmn")):
        check_bpmn_file(path, ctx, problems)
    problems += check_form_schemas(ctx)
    problems += check_manifest()
    return problems, ctx


# ----------------------------------------------------------------------------------------------
# Our own validator (retention_flow.engine.bundle)
# ----------------------------------------------------------------------------------------------


def sandbox_check():
    """The engine's script checker if it exists yet, else a RestrictedPython compile check."""
    try:
        from retention_flow.engine.sandbox import compile_script

        def check_with_sandbox(source: str, mode: str) -> None:
            compile_script(source, mode)  # raises ScriptRefused (a ScriptError)

        return check_with_sandbox, "retention_flow.engine.sandbox.compile_script"
    except ImportError:
        pass
    try:
        from RestrictedPython import compile_restricted
    except ImportError:
        return None, "none (neither the engine sandbox nor RestrictedPython is importable)"
    from retention_flow.core.errors import ScriptError

    def check(source: str, mode: str) -> None:
        try:
            compile_restricted(source, "<diagram>", mode)
        except SyntaxError as err:
            raise ScriptError(f"RestrictedPython refuses it: {err}") from err

    return check, "RestrictedPython.compile_restricted (the engine sandbox module is not there yet)"


def run_compile_bundle(log: Callable[[str], None]) -> list[str]:
    from retention_flow.core.errors import InvalidProcess
    from retention_flow.engine.bundle import load_bundle_path
    from retention_flow.engine.compiler import compile_bundle

    failures: list[str] = []
    files = load_bundle_path(BUNDLE)
    try:
        compiled = compile_bundle(files)
        print(
            f"    compile_bundle(load_bundle_path(retention)): ok, processes {sorted(compiled.processes)}"
        )
    except InvalidProcess as exc:
        errors = getattr(exc, "errors", None) or []
        only_scenarios = bool(errors) and all(e.get("file") == SCENARIOS.name for e in errors)
        for e in errors:
            print(f"    compile_bundle: {e.get('file')}: {e.get('element_id')}: {e.get('message')}")
        if only_scenarios:
            print(
                f"    compile_bundle complains only about {SCENARIOS.name}, which is not part of the "
                "bundle (an older loader read every .json as a form schema); see the next line"
            )
        else:
            failures.append(f"compile_bundle: {exc}")
    check, how = sandbox_check()
    bundle_only = {k: v for k, v in files.items() if k != SCENARIOS.name}
    try:
        compiled = compile_bundle(bundle_only, check_source=check, service_names=set(OPERATORS))
        print(
            f"    compile_bundle(bundle files, service_names={len(OPERATORS)} operators, "
            f"check_source={how}): ok"
        )
        for (spec, element), meta in sorted(compiled.user_tasks.items()):
            log(
                f"      {spec}/{element}: role={meta.role} due={meta.due} priority={meta.priority} "
                f"form={meta.form_file}"
            )
    except InvalidProcess as exc:
        failures.append(f"compile_bundle (bundle files): {exc}")
        for e in getattr(exc, "errors", None) or []:
            print(f"    compile_bundle: {e.get('file')}: {e.get('element_id')}: {e.get('message')}")
    return failures


# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------


class ScenarioFailure(Exception):
    pass


def parse_bundle(validate: bool) -> SpiffBpmnParser:
    parser = SpiffBpmnParser(validator=VALIDATOR if validate else None)
    parser.add_bpmn_files([str(p) for p in sorted(BUNDLE.glob("*.bpmn"))])
    parser.add_dmn_files([str(p) for p in sorted(BUNDLE.glob("*.dmn"))])
    return parser


def duration(expr: str, start: dt.datetime) -> dt.timedelta:
    return TimerEventDefinition.get_timedelta_from_start(
        TimerEventDefinition.parse_iso_duration(expr), start
    )


def definitions(definition) -> list:
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]


def waiting(wf: BpmnWorkflow) -> list:
    return [t for t in wf.event_manager.tasks.values() if t.has_state(TaskState.WAITING)]


def timer_values(wf: BpmnWorkflow) -> list[str]:
    return sorted(
        str(d.details(t).value)
        for t in waiting(wf)
        for d in definitions(t.task_spec.event_definition)
        if isinstance(d, TimerEventDefinition)
    )


def ready_manual(wf: BpmnWorkflow) -> list:
    return wf.get_tasks(state=TaskState.READY, manual=True)


def send_message(wf: BpmnWorkflow, name: str, payload: dict) -> None:
    """Send through the waiting task's own event definition (for an event-based gateway:
    the matching child of its MultipleEventDefinition), as our runtime does."""
    matches = [
        d
        for t in waiting(wf)
        for d in definitions(t.task_spec.event_definition)
        if isinstance(d, MessageEventDefinition) and d.name == name
    ]
    if not matches:
        raise ScenarioFailure(f"nothing waits for message {name!r}")
    wf.send_event(BpmnEvent(matches[0], json.loads(json.dumps(payload))))


def completed_tasks(wf: BpmnWorkflow) -> list:
    return [t for t in wf.get_tasks() if t.state == TaskState.COMPLETED and t.task_spec.bpmn_id]


def fired_cycle_timers(wf: BpmnWorkflow) -> list:
    """Cycle timer events (a timer start event "R/PT24H") that have fired: SpiffWorkflow keeps
    such a task WAITING for ever and adds a completed branch below it at every firing, so
    it never shows up among the completed tasks."""
    return [
        t
        for t in waiting(wf)
        if t.task_spec.bpmn_id
        and isinstance(getattr(t.task_spec, "event_definition", None), CycleTimerEventDefinition)
        and any(c.state == TaskState.COMPLETED for c in t.children)
    ]


def subset_mismatch(expected: dict, actual: dict) -> list[str]:
    return [
        f"{k}: expected {v!r}, got {actual.get(k, '<missing>')!r}"
        for k, v in expected.items()
        if actual.get(k) != v
    ]


def round_trip(wf: BpmnWorkflow, engine: PythonScriptEngine) -> BpmnWorkflow:
    state = SERIALIZER.serialize_json(wf)
    restored = SERIALIZER.deserialize_json(state)
    restored.script_engine = engine
    if json.loads(SERIALIZER.serialize_json(restored)) != json.loads(state):
        raise ScenarioFailure("serialize -> deserialize -> serialize changed the state")
    return restored


def case_data(wf: BpmnWorkflow) -> dict:
    """What our runtime reports as the case's data (retention_flow.engine.runtime.case_data)."""
    task = wf.last_task or wf.task_tree
    return dict(task.data)


def expected_calls_match(expected: list, calls: list[tuple[str, dict]]) -> list[str]:
    got = [(op, params) for op, params in calls]
    if len(expected) != len(got):
        return [
            f"expected {len(expected)} service calls, got {[g[0] + ':' + str(g[1].get('kind', '')) for g in got]}"
        ]
    bad = []
    for (op, want), (gop, gparams) in zip(expected, got):
        if op != gop or subset_mismatch(want, gparams):
            bad.append(f"expected {op} {want}, got {gop} {gparams}")
    return bad


def run_scenario(
    parser,
    bundle: dict,
    name: str,
    steps: list[dict],
    start: dt.datetime,
    log: Callable[[str], None],
    coverage: dict[str, set[str]],
    kind: str = "plain",
) -> None:
    process_id = bundle["process_id"]
    engine, services = make_engine(kind)
    start_data = bundle.get("start_data", {})
    with time_machine.travel(start, tick=False) as traveller:
        wf = BpmnWorkflow(
            parser.get_spec(process_id),
            parser.get_subprocess_specs(process_id),
            script_engine=engine,
        )
        # as retention_flow.engine.runtime.Runtime.new does
        wf.task_tree.data.update(json.loads(json.dumps(start_data)))
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(json.loads(json.dumps(start_data)))
        wf.do_engine_steps()
        for number, step in enumerate(steps, 1):
            where = f"step {number} {json.dumps(step)[:100]}"
            if "expect_ready" in step:
                actual = {t.task_spec.bpmn_id: t.task_spec.lane for t in ready_manual(wf)}
                if actual != step["expect_ready"]:
                    raise ScenarioFailure(f"{where}: ready tasks are {actual}")
            if "expect_timers" in step:
                actual_timers = timer_values(wf)
                if actual_timers != sorted(step["expect_timers"]):
                    raise ScenarioFailure(f"{where}: pending timers are {actual_timers}")
            if "complete" in step:
                matches = [t for t in ready_manual(wf) if t.task_spec.bpmn_id == step["complete"]]
                if len(matches) != 1:
                    raise ScenarioFailure(f"{where}: {len(matches)} ready tasks with that id")
                task = matches[0]
                props = (getattr(task.task_spec, "extensions", None) or {}).get("properties", {})
                form = props.get("formJsonSchemaFilename")
                schema = json.loads((BUNDLE / form).read_text())
                errors = [e.message for e in Draft202012Validator(schema).iter_errors(step["data"])]
                if errors:
                    raise ScenarioFailure(f"{where}: data does not match {form}: {errors}")
                if "partnerVariable" in props and not task.data.get(props["partnerVariable"]):
                    raise ScenarioFailure(
                        f"{where}: partnerVariable {props['partnerVariable']} is not set"
                    )
                task.data.update(json.loads(json.dumps(step["data"])))
                task.run()
                wf.do_engine_steps()
            if "message" in step:
                send_message(wf, step["message"], step["payload"])
                wf.do_engine_steps()
            if "advance" in step:
                traveller.shift(duration(step["advance"], dt.datetime.now(dt.UTC)))
                wf.refresh_timers()
                wf.do_engine_steps()
            if "expect_completed" in step and wf.completed != step["expect_completed"]:
                raise ScenarioFailure(f"{where}: completed is {wf.completed}")
            if "expect_ends" in step:
                done = completed_tasks(wf)
                missing = set(step["expect_ends"]) - {t.task_spec.bpmn_id for t in done}
                if missing:
                    raise ScenarioFailure(f"{where}: end events not reached: {sorted(missing)}")
                first = [t for t in done if t.task_spec.bpmn_id == step["expect_ends"][0]][-1]
                bad = subset_mismatch(step.get("expect_data", {}), first.data)
                if bad:
                    raise ScenarioFailure(f"{where}: data at {first.task_spec.bpmn_id}: {bad}")
            if step.get("expect_completed"):
                final = case_data(wf)
                bad = subset_mismatch(step.get("expect_data", {}), final)
                if bad:
                    raise ScenarioFailure(f"{where}: case data at the end: {bad}")
                if final.get("outcome") not in OUTCOMES:
                    raise ScenarioFailure(
                        f"{where}: outcome {final.get('outcome')!r} is not one of {sorted(OUTCOMES)}"
                    )
            wf = round_trip(wf, engine)
            log(f"      {where}: ok")
        for task in completed_tasks(wf) + fired_cycle_timers(wf):
            coverage.setdefault(task.workflow.spec.name, set()).add(task.task_spec.bpmn_id)
        expected = bundle.get("expect_service_calls", {}).get(name)
        if expected is not None:
            bad = expected_calls_match(expected, services.calls)
            if bad:
                raise ScenarioFailure(f"service calls: {bad}")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every scenario step")
    args = ap.parse_args()

    def log(line: str) -> None:
        if args.verbose:
            print(line)

    failures: list[str] = []
    print(f"[bundle] {BUNDLE}")
    problems, ctx = convention_problems()
    for element, message in problems:
        failures.append(f"{element}: {message}")
        print(f"    CONVENTION {element}: {message}")
    forms = sorted(BUNDLE.glob("*.schema.json"))
    print(
        f"    conventions: {'ok' if not problems else 'FAILED'} ({len(list(BUNDLE.glob('*.bpmn')))} BPMN, "
        f"{len(list(BUNDLE.glob('*.dmn')))} DMN, {len(forms)} forms pass Draft202012Validator.check_schema)"
    )
    try:
        parse_bundle(validate=True)
        print("    XSD validation (SpiffWorkflow VALIDATOR): ok")
    except Exception as err:
        failures.append(f"XSD validation: {type(err).__name__}: {err}")
        print(f"    XSD validation FAILED: {type(err).__name__}: {err}")
    try:
        failures += run_compile_bundle(log)
    except Exception as err:  # the validator itself crashed: report it, go on with the rest
        failures.append(f"compile_bundle crashed: {type(err).__name__}: {err}")
        print(f"    compile_bundle CRASHED: {type(err).__name__}: {err}")

    broken: set[str] = set()
    try:
        parser = parse_bundle(validate=True)
        process_ids = sorted(parser.get_process_ids())
    except Exception as err:
        failures.append(f"SpiffWorkflow cannot parse the bundle: {type(err).__name__}: {err}")
        parser, process_ids = None, []
    for process_id in process_ids:
        try:
            parser.get_spec(process_id)
            parser.get_subprocess_specs(process_id)
            print(f"    {process_id}: get_spec ok")
        except Exception as err:
            broken.add(process_id)
            where = getattr(err, "id", None) or ""
            failures.append(f"{process_id}: get_spec: {type(err).__name__}: {err} {where}".strip())
            print(
                f"    {process_id}: get_spec FAILED {type(err).__name__}: {err} (element {where!r})"
            )
    scenarios = json.loads(SCENARIOS.read_text())
    start = dt.datetime.fromisoformat(scenarios["start_time"])
    coverage: dict[str, set[str]] = {}
    kinds = ["plain"]
    try:
        import retention_flow.engine.sandbox  # noqa: F401

        kinds.append("sandbox")
    except ImportError as err:
        print(f"    (scenarios run without the engine sandbox: {err})")
    for key, bundle in scenarios["bundles"].items():
        if parser is None or bundle["process_id"] in broken:
            failures.append(f"{key}: scenarios not run, the process does not build")
            continue
        for name, steps in bundle["scenarios"].items():
            verdicts = []
            for kind in kinds:
                try:
                    run_scenario(parser, bundle, name, steps, start, log, coverage, kind)
                    verdicts.append(f"{kind} ok")
                except Exception as err:
                    failures.append(f"{key}/{name} ({kind}): {type(err).__name__}: {err}")
                    verdicts.append(f"{kind} FAILED {type(err).__name__}: {err}")
            print(
                f"    scenario {key}/{name} ({len(steps)} steps, serializer round trip after each): "
                + "; ".join(verdicts)
            )

    print("[coverage] flow nodes completed by at least one scenario")
    for pid, nodes in sorted(ctx["all_nodes"].items()):
        missing = sorted(set(nodes) - coverage.get(pid, set()))
        ends = ctx["end_events"][pid]
        timers = ctx["boundaries"][pid]
        print(
            f"    {pid}: {len(nodes) - len(missing)}/{len(nodes)} nodes, end events {ends}, "
            f"boundary events {timers}" + (f"; NOT COVERED {missing}" if missing else "")
        )
        if missing:
            failures.append(f"{pid}: not covered by any scenario: {missing}")

    print()
    if failures:
        print(f"FAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("retention bundle passes: conventions, XSD, compile_bundle, all scenarios, full coverage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
