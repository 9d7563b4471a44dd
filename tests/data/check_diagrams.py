"""Check the BPMN/DMN test diagrams in tests/data against SpiffWorkflow and our conventions.

Run from the repository root:

    .venv/bin/python tests/data/check_diagrams.py [-v]

For every valid bundle (a folder with .bpmn/.dmn files and form schemas) it

* checks our modelling conventions (names, lanes = roles, forms present, gateways with
  conditions or a default, literal timer expressions, complete diagram interchange);
* validates every ``*.schema.json`` with Draft 2020-12 ``check_schema``;
* parses the bundle with ``SpiffBpmnParser`` (with and without XSD validation), builds a
  ``BpmnWorkflow`` for every executable process and runs ``do_engine_steps()``;
* drives the scenarios of ``scenarios.json`` to their end on a frozen clock
  (``time_machine``), validating the submitted data against the task's form and
  round-tripping the workflow through ``BpmnWorkflowSerializer`` after every step.

For every folder under ``invalid/`` it prints what SpiffWorkflow itself says (stage, exception
type and message) and what the convention checks say, and checks that the element named in
``EXPECTED.txt`` is reported by one of the two.

Exit status 0 when everything valid passes and every invalid bundle is rejected.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
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
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

DATA_DIR = Path(__file__).resolve().parent
INVALID_DIR = DATA_DIR / "invalid"
SKIP_DIRS = {"invalid", "hostile", "__pycache__"}
ROLES = {"telemarketing", "inbound", "specialist", "team_lead", "back_office", "partner"}

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {
    "bpmn": BPMN,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)
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


def q(tag: str) -> str:
    return f"{{{BPMN}}}{tag}"


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


# ----------------------------------------------------------------------------------------------
# Script engine with a fake service connector
# ----------------------------------------------------------------------------------------------


class FakeServiceEnvironment(TaskDataEnvironment):
    """Plain task-data environment whose call_service answers book_contract_change."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        self.calls.append((operation_name, params))
        if operation_name != "book_contract_change":
            raise ValueError(f"unknown service operation {operation_name!r}")
        return json.dumps({"status": "booked", "operation": operation_name, **params})


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


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def bundle_files(folder: Path) -> tuple[list[Path], list[Path]]:
    return sorted(folder.glob("*.bpmn")), sorted(folder.glob("*.dmn"))


def parse_bundle(folder: Path, validate: bool = False) -> SpiffBpmnParser:
    parser = SpiffBpmnParser(validator=VALIDATOR if validate else None)
    bpmn_files, dmn_files = bundle_files(folder)
    parser.add_bpmn_files([str(p) for p in bpmn_files])
    parser.add_dmn_files([str(p) for p in dmn_files])
    return parser


def duration(expr: str, start: dt.datetime) -> dt.timedelta:
    parsed = TimerEventDefinition.parse_iso_duration(expr)
    return TimerEventDefinition.get_timedelta_from_start(parsed, start)


def check_timer_expression(kind: str, text: str | None) -> str | None:
    """Our rule: a timer is a quoted literal SpiffWorkflow can parse. Returns a problem or None."""
    if text is None or not text.strip():
        return f"empty {kind}"
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return (
            f"{kind} {text.strip()!r} is not a quoted literal; SpiffWorkflow evaluates it "
            f'as Python (write "{text.strip()}" with quotes)'
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


def form_properties(task) -> dict[str, str]:
    return (getattr(task.task_spec, "extensions", None) or {}).get("properties", {})


def ready_manual(wf: BpmnWorkflow) -> list:
    return wf.get_tasks(state=TaskState.READY, manual=True)


def timer_values(wf: BpmnWorkflow) -> list[str]:
    """Due times of all pending timers.

    wf.waiting_events() reports an event-based gateway as one MultipleEventDefinition with
    name and value None, so its timers (and messages) are read from the gateway task itself.
    """
    values: list[str] = []
    for task in wf.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        children = (
            definition.event_definitions
            if isinstance(definition, MultipleEventDefinition)
            else [definition]
        )
        for child in children:
            if isinstance(child, TimerEventDefinition):
                values.append(str(child.details(task).value))
    return sorted(values)


def finished(wf: BpmnWorkflow, bpmn_ids: list[str]) -> list:
    """Completed tasks with these ids. Not wf.get_tasks(state=COMPLETED): that iterator does
    not descend below a task in a lower state, e.g. below a WAITING cycle-timer start event."""
    return [
        t
        for t in wf.get_tasks()
        if t.state == TaskState.COMPLETED and t.task_spec.bpmn_id in bpmn_ids
    ]


def subset_mismatch(expected: dict, actual: dict) -> list[str]:
    return [
        f"{k}: expected {v!r}, got {actual.get(k, '<missing>')!r}"
        for k, v in expected.items()
        if actual.get(k) != v
    ]


# ----------------------------------------------------------------------------------------------
# Convention checks (what our validator should also say)
# ----------------------------------------------------------------------------------------------


def dmn_decision_ids(folder: Path, problems: list[Problem]) -> set[str]:
    ids: set[str] = set()
    for path in sorted(folder.glob("*.dmn")):
        try:
            root = etree.parse(str(path), XML_PARSER).getroot()
        except etree.XMLSyntaxError as err:
            problems.append((path.name, f"malformed XML: {err}"))
            continue
        for ns in DMN_NAMESPACES:
            ids |= {d.get("id") for d in root.iter(f"{{{ns}}}decision")}
    return ids


def check_form_schemas(folder: Path) -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.schema.json")):
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            problems.append((path.name, f"not JSON: {err}"))
            continue
        # check_schema raises only the best match; list every meta-schema error instead
        meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        errors = sorted(meta.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            for err in errors:
                where = "/".join(str(p) for p in err.path) or "(root)"
                problems.append((path.name, f"not a valid JSON Schema at {where}: {err.message}"))
            continue
        Draft202012Validator.check_schema(doc)
        if doc.get("type") != "object" or doc.get("additionalProperties") is not False:
            problems.append((path.name, "form must be type object with additionalProperties false"))
        for name, prop in doc.get("properties", {}).items():
            if "title" not in prop:
                problems.append((path.name, f"property {name} has no title"))
    return problems


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


def check_process(process, folder: Path, ctx: dict, problems: list[Problem]) -> None:
    pid = process.get("id")
    if not process.get("name"):
        problems.append((pid, "process has no name"))
    nodes = {
        el.get("id"): el for el in process if isinstance(el.tag, str) and local(el) in FLOW_NODES
    }
    flows = {el.get("id"): el for el in process.findall("bpmn:sequenceFlow", NS)}
    ctx["nodes"].update(nodes)
    ctx["flows"].update(flows)

    for nid, el in nodes.items():
        if not el.get("name"):
            problems.append((nid, f"{local(el)} has no name"))

    # lanes are roles; every flow node in exactly one lane
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    ctx["lanes"] += lanes
    if lanes:
        membership = {nid: 0 for nid in nodes}
        for lane in lanes:
            name = lane.get("name")
            if name not in ROLES:
                problems.append(
                    (
                        lane.get("id"),
                        f"lane name {name!r} is not a role ({', '.join(sorted(ROLES))})",
                    )
                )
            for ref in lane.findall("bpmn:flowNodeRef", NS):
                ref_id = (ref.text or "").strip()
                if ref_id in membership:
                    membership[ref_id] += 1
                else:
                    problems.append((lane.get("id"), f"flowNodeRef {ref_id!r} is not a flow node"))
        for nid, count in membership.items():
            if count != 1:
                problems.append((nid, f"flow node is in {count} lanes (must be exactly one)"))

    # sequence flows
    outgoing: dict[str, list] = {}
    for fid, flow in flows.items():
        for attr in ("sourceRef", "targetRef"):
            if flow.get(attr) not in nodes:
                problems.append((fid, f"sequence flow {attr} {flow.get(attr)!r} does not exist"))
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)

    for nid, el in nodes.items():
        kind = local(el)
        if kind in CONDITIONAL_GATEWAYS:
            default = el.get("default")
            bare = [
                f.get("id")
                for f in outgoing.get(nid, [])
                if f.get("id") != default and f.find("bpmn:conditionExpression", NS) is None
            ]
            if bare:
                problems.append(
                    (
                        nid,
                        f"{kind} has outgoing flows without a condition "
                        f"({', '.join(bare)}) and they are not the default flow",
                    )
                )
            if default and default not in flows:
                problems.append((nid, f"default flow {default!r} does not exist"))
        if kind == "userTask":
            props = {
                p.get("name"): p.get("value")
                for p in el.findall(
                    "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS
                )
            }
            form = props.get("formJsonSchemaFilename")
            if not form:
                problems.append((nid, "user task has no formJsonSchemaFilename"))
            elif not (folder / form).is_file():
                problems.append((nid, f"formJsonSchemaFilename {form!r} is not in the bundle"))
            due = props.get("due")
            try:
                TimerEventDefinition.parse_iso_duration(due or "")
            except Exception:
                problems.append((nid, f"due {due!r} is not an ISO 8601 duration"))
            try:
                int(props.get("priority", ""))
            except ValueError:
                problems.append((nid, f"priority {props.get('priority')!r} is not an integer"))
        if kind == "businessRuleTask":
            ref = el.findtext("bpmn:extensionElements/spiffworkflow:calledDecisionId", None, NS)
            if (ref or "").strip() not in ctx["decisions"]:
                problems.append(
                    (
                        nid,
                        f"calls decision {ref!r}, which is not in the bundle "
                        f"(available: {', '.join(sorted(ctx['decisions'])) or '-'})",
                    )
                )
        if (
            kind == "serviceTask"
            and el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS) is None
        ):
            problems.append((nid, "service task has no spiffworkflow:serviceTaskOperator"))
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


def check_bpmn_file(path: Path, folder: Path, ctx: dict, problems: list[Problem]) -> None:
    try:
        tree = etree.parse(str(path), XML_PARSER)
    except etree.XMLSyntaxError as err:
        problems.append((path.name, f"malformed XML: {err}"))
        return
    if tree.docinfo.doctype:
        problems.append((path.name, "DOCTYPE is not allowed"))
    root = tree.getroot()
    ctx.update(nodes={}, flows={}, lanes=[])
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") == "Start":
            problems.append(
                (
                    "Start",
                    f"{local(el)} uses the reserved id 'Start' (clashes with "
                    "SpiffWorkflow's internal start task)",
                )
            )
    for msg in root.findall("bpmn:message", NS):
        if not msg.get("name"):
            problems.append((msg.get("id"), "message has no name"))
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    for part in participants:
        if not part.get("name"):
            problems.append((part.get("id"), "participant has no name"))
    for process in root.findall("bpmn:process", NS):
        check_process(process, folder, ctx, problems)

    # diagram interchange: every node/lane/participant a shape, every flow an edge
    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in root.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    for el_id in [
        *ctx["nodes"],
        *(lane.get("id") for lane in ctx["lanes"]),
        *(p.get("id") for p in participants),
    ]:
        if el_id not in shapes or _bounds(shapes[el_id]) is None:
            problems.append((el_id, "no BPMNShape with bounds in the diagram"))
    for fid in ctx["flows"]:
        if fid not in edges or len(edges[fid].findall("di:waypoint", NS)) < 2:
            problems.append((fid, "no BPMNEdge with waypoints in the diagram"))
    boxes = {
        nid: _bounds(shapes[nid])
        for nid in ctx["nodes"]
        if nid in shapes and local(ctx["nodes"][nid]) != "boundaryEvent"
    }
    ids = sorted(b for b in boxes if boxes[b])
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if _overlap(boxes[a], boxes[b]):
                problems.append((a, f"shape overlaps {b}"))
    for lane in ctx["lanes"]:
        lane_box = _bounds(shapes[lane.get("id")]) if lane.get("id") in shapes else None
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            box = boxes.get((ref.text or "").strip())
            if lane_box and box and not _inside(box, lane_box):
                problems.append((ref.text.strip(), f"shape is outside its lane {lane.get('id')}"))


def convention_problems(folder: Path) -> list[Problem]:
    problems: list[Problem] = []
    ctx: dict[str, Any] = {
        "decisions": dmn_decision_ids(folder, problems),
        "processes": set(),
        "messages": set(),
    }
    for path in sorted(folder.glob("*.bpmn")):  # collect ids across the bundle first
        try:
            root = etree.parse(str(path), XML_PARSER).getroot()
        except etree.XMLSyntaxError:
            continue
        ctx["processes"] |= {p.get("id") for p in root.findall("bpmn:process", NS)}
        ctx["messages"] |= {m.get("id") for m in root.findall("bpmn:message", NS)}
    for path in sorted(folder.glob("*.bpmn")):
        check_bpmn_file(path, folder, ctx, problems)
    return problems + check_form_schemas(folder)


# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------


class ScenarioFailure(Exception):
    pass


def round_trip(wf: BpmnWorkflow, engine: PythonScriptEngine) -> BpmnWorkflow:
    state = SERIALIZER.serialize_json(wf)
    restored = SERIALIZER.deserialize_json(state)
    restored.script_engine = engine
    if json.loads(SERIALIZER.serialize_json(restored)) != json.loads(state):
        raise ScenarioFailure("serialize -> deserialize -> serialize changed the state")
    return restored


def run_scenario(
    parser: SpiffBpmnParser,
    folder: Path,
    process_id: str,
    steps: list[dict],
    start: dt.datetime,
    log: Callable[[str], None],
) -> None:
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    engine = CheckScriptEngine(environment=FakeServiceEnvironment())
    with time_machine.travel(start, tick=False) as traveller:
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
        wf.do_engine_steps()
        for number, step in enumerate(steps, 1):
            where = f"step {number} {json.dumps(step)[:90]}"
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
                form = form_properties(task).get("formJsonSchemaFilename")
                if form:
                    validator = Draft202012Validator(json.loads((folder / form).read_text()))
                    errors = [e.message for e in validator.iter_errors(step["data"])]
                    if errors:
                        raise ScenarioFailure(f"{where}: data does not match {form}: {errors}")
                task.data.update(step["data"])
                task.run()
                wf.do_engine_steps()
            if "message" in step:
                # Build the event definition from the name alone, as the engine will: it must be
                # the spiff subclass, event definitions compare by exact class.
                event = BpmnEvent(MessageEventDefinition(step["message"]), step["payload"])
                wf.send_event(event)
                wf.do_engine_steps()
            if "advance" in step:
                now = dt.datetime.now(dt.UTC)
                traveller.shift(duration(step["advance"], now))
                wf.refresh_timers()
                wf.do_engine_steps()
            if "expect_completed" in step and wf.completed != step["expect_completed"]:
                raise ScenarioFailure(f"{where}: completed is {wf.completed}")
            if "expect_ends" in step:
                done = finished(wf, step["expect_ends"])
                missing = set(step["expect_ends"]) - {t.task_spec.bpmn_id for t in done}
                if missing:
                    raise ScenarioFailure(f"{where}: end events not reached: {sorted(missing)}")
                first = [t for t in done if t.task_spec.bpmn_id == step["expect_ends"][0]][-1]
                bad = subset_mismatch(step.get("expect_data", {}), first.data)
                if bad:
                    raise ScenarioFailure(f"{where}: data at {first.task_spec.bpmn_id}: {bad}")
            wf = round_trip(wf, engine)
            log(f"      {where}: ok")


# ----------------------------------------------------------------------------------------------
# Invalid bundles: what does SpiffWorkflow say?
# ----------------------------------------------------------------------------------------------


def spiff_verdict(folder: Path, validate: bool = False) -> dict[str, Any]:
    stage = "parse (add_bpmn_files/add_dmn_files)"
    try:
        parser = parse_bundle(folder, validate)
        for process_id in parser.get_process_ids():
            stage = "get_spec"
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
            stage = "run (BpmnWorkflow constructor)"
            wf = BpmnWorkflow(
                spec,
                subprocess_specs,
                script_engine=CheckScriptEngine(environment=FakeServiceEnvironment()),
            )
            stage = "run (do_engine_steps)"
            wf.do_engine_steps()
    except Exception as err:
        task = getattr(err, "task", None)
        element = getattr(err, "id", None) or (task.task_spec.bpmn_id if task else None)
        if element is None and getattr(err, "task_spec", None) is not None:
            element = err.task_spec.name
        cause = err.__cause__ or err.__context__
        return {
            "accepted": False,
            "stage": stage,
            "type": type(err).__name__,
            "message": str(err).strip(),
            "element": element,
            "tag": getattr(err, "tag", None),
            "cause": f"{type(cause).__name__}: {cause}" if cause else None,
        }
    return {"accepted": True, "stage": "runs", "type": None, "message": None, "element": None}


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def check_valid(scenarios: dict, log: Callable[[str], None]) -> list[str]:
    failures: list[str] = []
    start = dt.datetime.fromisoformat(scenarios["start_time"])
    bundles = scenarios["bundles"]
    folders = sorted(
        p
        for p in DATA_DIR.iterdir()
        if p.is_dir() and p.name not in SKIP_DIRS and any(p.glob("*.bpmn"))
    )
    for folder in folders:
        print(f"[valid] {folder.name}")
        problems = convention_problems(folder)
        for element, message in problems:
            failures.append(f"{folder.name}: {element}: {message}")
            print(f"    CONVENTION {element}: {message}")
        schemas = sorted(folder.glob("*.schema.json"))
        print(
            f"    conventions: {'ok' if not problems else 'FAILED'}; "
            f"{len(schemas)} form schemas pass Draft202012Validator.check_schema"
        )
        try:
            parse_bundle(folder, validate=True)
            print("    XSD validation (spiff VALIDATOR): ok")
        except Exception as err:
            failures.append(f"{folder.name}: XSD validation: {type(err).__name__}: {err}")
            print(f"    XSD validation FAILED: {type(err).__name__}: {err}")
        try:
            parser = parse_bundle(folder)
            for process_id in sorted(parser.get_process_ids()):
                wf = BpmnWorkflow(
                    parser.get_spec(process_id),
                    parser.get_subprocess_specs(process_id),
                    script_engine=CheckScriptEngine(environment=FakeServiceEnvironment()),
                )
                wf.do_engine_steps()
                ready = {t.task_spec.bpmn_id: t.task_spec.lane for t in ready_manual(wf)}
                print(f"    {process_id}: parses, starts; ready after start: {ready}")
        except Exception as err:
            failures.append(f"{folder.name}: {type(err).__name__}: {err}")
            print(f"    SPIFF FAILED: {type(err).__name__}: {err}")
            continue
        for key, bundle in bundles.items():
            if bundle.get("folder", key) != folder.name:
                continue
            for name, steps in bundle["scenarios"].items():
                try:
                    run_scenario(parser, folder, bundle["process_id"], steps, start, log)
                    print(
                        f"    scenario {bundle['process_id']}/{name}: ok ({len(steps)} steps, "
                        "serializer round trip after each)"
                    )
                except Exception as err:
                    failures.append(f"{folder.name}/{name}: {type(err).__name__}: {err}")
                    print(
                        f"    scenario {bundle['process_id']}/{name}: FAILED "
                        f"{type(err).__name__}: {err}"
                    )
    known = {b.get("folder", k) for k, b in bundles.items()}
    for folder in folders:
        if folder.name not in known:
            failures.append(f"{folder.name}: no scenario in scenarios.json")
    return failures


def check_invalid() -> list[str]:
    failures: list[str] = []
    for folder in sorted(p for p in INVALID_DIR.iterdir() if p.is_dir()):
        expected = (folder / "EXPECTED.txt").read_text().strip()
        expected_id = expected.split(":", 1)[0].strip()
        print(f"[invalid] {folder.name}")
        print(f"    expected : {expected}")
        verdict = spiff_verdict(folder)
        if verdict["accepted"]:
            print("    spiff    : accepted - parses, get_spec and do_engine_steps all succeed")
        else:
            print(
                f"    spiff    : fails at {verdict['stage']}: {verdict['type']}: "
                f"{verdict['message']!r}"
            )
            print(
                f"               element={verdict['element']!r} tag={verdict['tag']!r}"
                + (f" cause={verdict['cause']!r}" if verdict["cause"] else "")
            )
        xsd = spiff_verdict(folder, validate=True)
        if xsd["stage"] != verdict["stage"] or xsd["message"] != verdict["message"]:
            print(f"    spiff+XSD: fails at {xsd['stage']}: {xsd['type']}: {xsd['message']!r}")
        else:
            print("    spiff+XSD: same as without the XSD validator")
        problems = convention_problems(folder)
        for element, message in problems:
            print(f"    ours     : {element}: {message}")
        reported = {element for element, _ in problems} | {verdict["element"]}
        mentioned = expected_id in reported or expected_id in (verdict["message"] or "")
        if not problems and verdict["accepted"]:
            failures.append(f"invalid/{folder.name}: nobody rejects it")
        elif not mentioned:
            failures.append(f"invalid/{folder.name}: {expected_id!r} is not named by any check")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="print every scenario step")
    args = ap.parse_args()

    def log(line: str) -> None:
        if args.verbose:
            print(line)

    scenarios = json.loads((DATA_DIR / "scenarios.json").read_text())
    failures = check_valid(scenarios, log)
    print()
    failures += check_invalid()
    print()
    if failures:
        print(f"FAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("all valid bundles pass; all invalid bundles are rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
