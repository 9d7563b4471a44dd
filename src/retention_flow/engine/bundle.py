"""Deployable bundles: BPMN + DMN + JSON form schemas (+ an optional ``bundle.json``).

``compile_bundle`` parses and validates a bundle once; the result (SpiffWorkflow specs
plus the metadata our runtime needs per user task) is what ``SpecCache`` keeps per
deployed version. Validation collects every problem it can find and names the file,
the element id and the problem, so a process owner can fix a diagram in one pass.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from pydantic import BaseModel, Field, ValidationError
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from ..core.errors import InvalidProcess, ScriptError
from ..core.roles import WORK_ROLES, normalise_role

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_BUNDLE_FILES = 200
MANIFEST_NAME = "bundle.json"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

#: Checks a script or expression; raises ScriptError naming the problem.
SourceCheck = Callable[[str, str], None]


@dataclass(frozen=True)
class Issue:
    file: str | None
    element_id: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"file": self.file, "element_id": self.element_id, "message": self.message}


class RoleDefaults(BaseModel):
    due: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)


class Manifest(BaseModel):
    """``bundle.json``: what the diagrams alone cannot say."""

    model_config = {"extra": "forbid"}

    roles: dict[str, str] = Field(default_factory=dict, description="lane name -> role")
    channel: str | dict[str, str] | None = Field(
        default=None, description="one channel for all processes, or process id -> channel"
    )
    defaults: dict[str, RoleDefaults] = Field(
        default_factory=dict, description="role -> default due (ISO duration) and priority"
    )
    correlation_keys: list[str] = Field(
        default_factory=list, description="case data keys that messages may correlate on"
    )
    outcome_variable: str = "outcome"

    def channel_for(self, process_id: str) -> str | None:
        if isinstance(self.channel, dict):
            return self.channel.get(process_id)
        return self.channel


@dataclass(frozen=True)
class UserTaskMeta:
    element_id: str
    name: str
    role: str | None  # None: the case starter's role
    form_file: str | None
    form_schema: dict[str, Any] | None
    due: str | None  # ISO duration
    priority: int | None
    #: task data key naming the partner organisation the task is scoped to
    partner_variable: str | None = None
    #: element id of a task whose completer may not complete this one (four eyes)
    four_eyes_with: str | None = None
    #: priority the work item gets when a non-interrupting SLA timer on it fires
    escalated_priority: int | None = None
    #: count the due time in business hours (the calendar in settings)
    business_due: bool = False


@dataclass(frozen=True)
class Boundary:
    attached_to: str
    interrupting: bool


@dataclass
class ProcessInfo:
    process_id: str
    name: str
    file_name: str
    channel: str | None
    spec: Any
    subprocess_specs: dict[str, Any]


@dataclass
class CompiledBundle:
    content_hash: str
    files: dict[str, str]
    manifest: Manifest
    processes: dict[str, ProcessInfo] = field(default_factory=dict)
    #: keyed by (spec name, element id): the spec name is the process the task sits in
    user_tasks: dict[tuple[str, str], UserTaskMeta] = field(default_factory=dict)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: boundary event id -> the activity it is attached to
    boundaries: dict[str, Boundary] = field(default_factory=dict)

    def user_task(self, spec_name: str, element_id: str) -> UserTaskMeta | None:
        return self.user_tasks.get((spec_name, element_id))


# --------------------------------------------------------------------------- loading


def is_bundle_file(name: str) -> bool:
    """BPMN, DMN, form schemas (``*.schema.json``) and the manifest (``bundle.json``)."""
    lower = name.lower()
    return lower.endswith((".bpmn", ".dmn", ".schema.json")) or lower == MANIFEST_NAME


def load_bundle_path(path: Path) -> dict[str, bytes]:
    """A folder (its bundle files, not recursive; other files such as a README or test
    scenarios are left out), a .zip, or one .bpmn file."""
    if path.is_dir():
        files = {
            p.name: p.read_bytes()
            for p in sorted(path.iterdir())
            if p.is_file() and is_bundle_file(p.name)
        }
        if not files:
            raise InvalidProcess(f"{path}: no .bpmn, .dmn or .schema.json files in this folder")
        return files
    if path.suffix.lower() == ".zip":
        return load_zip(path.read_bytes())
    return {path.name: path.read_bytes()}


def load_zip(content: bytes, max_total: int = 50 * MAX_FILE_BYTES) -> dict[str, bytes]:
    """Read a zip bundle defensively: bounded member count and sizes (zip bombs)."""
    try:
        archive = zipfile.ZipFile(BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise InvalidProcess(f"not a zip archive: {exc}") from exc
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_BUNDLE_FILES:
        raise InvalidProcess(f"zip has {len(members)} files; at most {MAX_BUNDLE_FILES}")
    files: dict[str, bytes] = {}
    total = 0
    for member in members:
        name = Path(member.filename).name
        if member.file_size > MAX_FILE_BYTES:
            raise InvalidProcess(f"{name}: larger than {MAX_FILE_BYTES} bytes")
        with archive.open(member) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InvalidProcess(f"{name}: larger than {MAX_FILE_BYTES} bytes")
        total += len(data)
        if total > max_total:
            raise InvalidProcess("zip expands to more than the bundle size limit")
        files[name] = data
    return files


def bundle_hash(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- validation


def _safe_xml(name: str, text: str) -> etree._Element:
    """Parse XML refusing DTDs and entities outright (XXE, billion laughs)."""
    head = text[:4096].upper()
    if "<!DOCTYPE" in head or "<!ENTITY" in text.upper():
        raise InvalidProcess(
            f"{name}: DOCTYPE and entity declarations are not allowed",
            errors=[Issue(name, None, "DOCTYPE and entity declarations are not allowed").as_dict()],
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(text.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidProcess(
            f"{name}: not well-formed XML: {exc}",
            errors=[Issue(name, None, f"not well-formed XML: {exc}").as_dict()],
        ) from exc


def _decode(name: str, content: bytes, issues: list[Issue]) -> str | None:
    if len(content) > MAX_FILE_BYTES:
        issues.append(Issue(name, None, f"file is larger than {MAX_FILE_BYTES} bytes"))
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        issues.append(Issue(name, None, "file is not UTF-8 text"))
        return None


def compile_bundle(
    raw_files: Mapping[str, bytes],
    *,
    check_source: SourceCheck | None = None,
    service_names: Iterable[str] | None = None,
) -> CompiledBundle:
    """Parse and validate; raise ``InvalidProcess`` with every issue found."""
    issues: list[Issue] = []
    if not raw_files:
        raise InvalidProcess(
            "the bundle is empty", errors=[Issue(None, None, "no files").as_dict()]
        )
    if len(raw_files) > MAX_BUNDLE_FILES:
        raise InvalidProcess(f"a bundle has at most {MAX_BUNDLE_FILES} files")

    files: dict[str, str] = {}
    for name, content in raw_files.items():
        if not is_bundle_file(name):
            issues.append(
                Issue(
                    name,
                    None,
                    "unsupported file (expected .bpmn, .dmn, *.schema.json, bundle.json)",
                )
            )
            continue
        text = _decode(name, content, issues)
        if text is not None:
            files[name] = text
    _raise_if(issues)

    content_hash = bundle_hash(files)  # before the manifest is taken out: it counts too
    manifest = _parse_manifest(files, issues)
    boundaries: dict[str, Boundary] = {}
    forms = _parse_forms(files, issues)

    parser = SpiffBpmnParser(validator=VALIDATOR)
    trees: dict[str, etree._Element] = {}
    for name in sorted(files):
        suffix = Path(name).suffix.lower()
        if suffix not in {".bpmn", ".dmn"}:
            continue
        try:
            tree = _safe_xml(name, files[name])
        except InvalidProcess as exc:
            issues.extend(Issue(e["file"], e["element_id"], e["message"]) for e in exc.errors)
            continue
        trees[name] = tree
        if suffix == ".bpmn":
            _check_tree(name, tree, manifest, issues)
            boundaries.update(_boundaries(tree))
        try:
            if suffix == ".bpmn":
                parser.add_bpmn_xml(tree, filename=name)
            else:
                parser.add_dmn_xml(tree, filename=name)
        except ValidationException as exc:
            issues.append(Issue(exc.file_name or name, exc.id or None, _spiff_message(exc)))
        except (SpiffWorkflowException, etree.LxmlError, ValueError, KeyError) as exc:
            issues.append(Issue(name, None, f"cannot parse: {exc}"))
    _raise_if(issues)
    if not any(n.lower().endswith(".bpmn") for n in files):
        raise InvalidProcess(
            "the bundle has no BPMN file", errors=[Issue(None, None, "no .bpmn file").as_dict()]
        )

    bundle = CompiledBundle(
        content_hash=content_hash,
        files=files,
        manifest=manifest,
        forms=forms,
        boundaries=boundaries,
    )
    executable = [
        pid for pid in parser.get_process_ids() if parser.get_process_parser(pid).process_executable
    ]
    if not executable:
        issues.append(Issue(None, None, 'no executable process (isExecutable="true")'))
    services = set(service_names) if service_names is not None else None
    seen_specs: set[str] = set()
    for pid in executable:
        pparser = parser.get_process_parser(pid)
        file_name = pparser.filename or ""
        try:
            spec = parser.get_spec(pid)
            subspecs = parser.get_subprocess_specs(pid)
        except ValidationException as exc:
            issues.append(Issue(exc.file_name or file_name, exc.id or None, _spiff_message(exc)))
            continue
        except SpiffWorkflowException as exc:
            issues.append(Issue(file_name, getattr(exc, "id", None), str(exc)))
            continue
        except Exception as exc:  # parser bugs must still become a clear message
            issues.append(Issue(file_name, None, f"cannot build process '{pid}': {exc}"))
            continue
        bundle.processes[pid] = ProcessInfo(
            process_id=pid,
            name=pparser.get_name() or pid,
            file_name=file_name,
            channel=manifest.channel_for(pid),
            spec=spec,
            subprocess_specs=subspecs,
        )
        for one in [spec, *[s for s in subspecs.values() if s is not None]]:
            if one.name in seen_specs:
                continue
            seen_specs.add(one.name)
            one_file = (
                parser.get_process_parser(one.name).filename
                if parser.get_process_parser(one.name)
                else None
            ) or file_name
            _check_spec(one, one_file, bundle, forms, manifest, issues, check_source, services)
    _raise_if(issues)
    return bundle


def _raise_if(issues: list[Issue]) -> None:
    if issues:
        first = issues[0]
        where = ":".join(p for p in (first.file, first.element_id) if p)
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise InvalidProcess(
            f"{where + ': ' if where else ''}{first.message}{more}",
            errors=[i.as_dict() for i in issues],
        )


def _spiff_message(exc: ValidationException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    line = getattr(exc, "line_number", "")
    return f"{text} (line {line})" if line else text


def _parse_manifest(files: dict[str, str], issues: list[Issue]) -> Manifest:
    text = files.pop(MANIFEST_NAME, None)
    if text is None:
        return Manifest()
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            issues.append(Issue(MANIFEST_NAME, None, f"{loc}: {err['msg']}"))
        return Manifest()


def _parse_forms(files: dict[str, str], issues: list[Issue]) -> dict[str, dict[str, Any]]:
    forms: dict[str, dict[str, Any]] = {}
    for name, text in files.items():
        if not name.lower().endswith(".json"):
            continue
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as exc:
            issues.append(Issue(name, None, f"not valid JSON: {exc}"))
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            path = "/".join(str(p) for p in exc.path) or "(root)"
            issues.append(Issue(name, None, f"not a valid JSON Schema at {path}: {exc.message}"))
            continue
        if not isinstance(schema, dict) or schema.get("type") != "object":
            issues.append(Issue(name, None, 'a form schema must have "type": "object"'))
            continue
        forms[name] = schema
    return forms


def _is_user_task(task_spec: Any) -> bool:
    return bool(getattr(task_spec, "manual", False))


def _check_spec(
    spec: Any,
    file_name: str,
    bundle: CompiledBundle,
    forms: dict[str, dict[str, Any]],
    manifest: Manifest,
    issues: list[Issue],
    check_source: SourceCheck | None,
    services: set[str] | None,
) -> None:
    for task_spec in spec.task_specs.values():
        element_id = getattr(task_spec, "bpmn_id", None)
        if element_id is None:
            continue  # SpiffWorkflow's internal tasks

        def add(message: str, element_id: str = element_id) -> None:
            issues.append(Issue(file_name, element_id, message))

        role = _lane_role(task_spec, manifest, add)
        if check_source is not None:
            _check_scripts(task_spec, check_source, add)
        _check_timer(task_spec, check_source, add)
        operator = getattr(task_spec, "operation_name", None)
        if operator is not None and services is not None and operator not in services:
            add(
                f"service task calls unknown service '{operator}'; "
                f"known: {', '.join(sorted(services)) or 'none'}"
            )
        if _is_user_task(task_spec):
            meta = _user_task_meta(task_spec, element_id, role, forms, manifest, add)
            bundle.user_tasks[(spec.name, element_id)] = meta


def _check_tree(name: str, tree: etree._Element, manifest: Manifest, issues: list[Issue]) -> None:
    """Checks on the XML itself: reserved ids, lanes that name no role."""
    for node in tree.iter():
        if isinstance(node.tag, str) and node.get("id") == "Start":
            issues.append(
                Issue(name, "Start", "the element id 'Start' is reserved by the engine; rename it")
            )
    _check_flows(name, tree, issues)
    for lane in tree.iter(f"{{{BPMN_NS}}}lane"):
        lane_name = lane.get("name") or ""
        if _resolve_role(lane_name, manifest) is None:
            issues.append(
                Issue(
                    name,
                    lane.get("id"),
                    f"lane '{lane_name}' is not a role; name the lane after one "
                    f"({', '.join(sorted(WORK_ROLES - {'system'}))}) "
                    'or map it in bundle.json "roles"',
                )
            )


def _boundaries(tree: etree._Element) -> dict[str, Boundary]:
    return {
        str(node.get("id")): Boundary(
            attached_to=str(node.get("attachedToRef")),
            interrupting=node.get("cancelActivity", "true") != "false",
        )
        for node in tree.iter(f"{{{BPMN_NS}}}boundaryEvent")
        if node.get("id") and node.get("attachedToRef")
    }


def _check_flows(name: str, tree: etree._Element, issues: list[Issue]) -> None:
    """Dangling sequence flows, and gateways that cannot choose (SpiffWorkflow's own
    messages for these name the wrong element or mislead)."""
    for process in tree.iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess"):
        ids = {n.get("id") for n in process.iter() if isinstance(n.tag, str) and n.get("id")}
        flows = list(process.iterchildren(f"{{{BPMN_NS}}}sequenceFlow"))
        for flow in flows:
            for end in ("sourceRef", "targetRef"):
                ref = flow.get(end)
                if ref not in ids:
                    issues.append(
                        Issue(name, flow.get("id"), f"sequence flow {end} '{ref}' does not exist")
                    )
        for kind in ("exclusiveGateway", "inclusiveGateway"):
            for gateway in process.iterchildren(f"{{{BPMN_NS}}}{kind}"):
                gid, default = gateway.get("id"), gateway.get("default")
                outgoing = [f for f in flows if f.get("sourceRef") == gid]
                if len(outgoing) < 2:
                    continue
                bare = [
                    f.get("id")
                    for f in outgoing
                    if f.get("id") != default
                    and f.find(f"{{{BPMN_NS}}}conditionExpression") is None
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


def _resolve_role(lane: str, manifest: Manifest) -> str | None:
    role = normalise_role(manifest.roles.get(lane) or lane)
    return role if role in WORK_ROLES else None


def _lane_role(task_spec: Any, manifest: Manifest, add: Callable[[str], None]) -> str | None:
    """The role of the task's lane (unknown lanes are reported once, per lane)."""
    lane = getattr(task_spec, "lane", None)
    return _resolve_role(lane, manifest) if lane else None


def _check_scripts(task_spec: Any, check_source: SourceCheck, add: Callable[[str], None]) -> None:
    sources: list[tuple[str, str, str]] = []
    if getattr(task_spec, "script", None):
        sources.append(("script", task_spec.script, "exec"))
    for attr in ("prescript", "postscript"):
        if getattr(task_spec, attr, None):
            sources.append((attr, getattr(task_spec, attr), "exec"))
    for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
        text = _condition_text(condition)
        if text is not None:
            sources.append(("condition", text, "eval"))
    for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
        sources.append((f"parameter '{name}'", str(param.get("value", "")), "eval"))
    for what, source, mode in sources:
        try:
            check_source(source, mode)
        except ScriptError as exc:
            add(f"{what}: {exc.detail}")


def _condition_text(condition: Any) -> str | None:
    """SpiffWorkflow wraps a gateway condition in an operator holding the text."""
    if condition is None:
        return None
    if isinstance(condition, str):
        return condition
    args = getattr(condition, "args", None)
    return str(args[0]) if args else None


def _check_timer(
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


def _user_task_meta(
    task_spec: Any,
    element_id: str,
    role: str | None,
    forms: dict[str, dict[str, Any]],
    manifest: Manifest,
    add: Callable[[str], None],
) -> UserTaskMeta:
    props: dict[str, str] = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    form_file = props.get("formJsonSchemaFilename") or None
    schema = None
    if form_file:
        schema = forms.get(form_file)
        if schema is None:
            add(f"form schema '{form_file}' is not in the bundle (or is invalid)")
    defaults = manifest.defaults.get(role or "", RoleDefaults())
    due = props.get("due") or defaults.due
    if due:
        try:
            TimerEventDefinition.parse_iso_duration(due)
        except Exception:
            add(f"due {due!r} is not an ISO 8601 duration such as PT4H or P2D")
            due = None
    priority: int | None = defaults.priority
    if props.get("priority") not in (None, ""):
        try:
            priority = int(props["priority"])
            if not 0 <= priority <= 100:
                raise ValueError
        except ValueError:
            add(f"priority {props['priority']!r} must be a whole number from 0 to 100")
            priority = None
    escalated = _int_property(props, "escalatedPriority", add)
    calendar = props.get("dueCalendar", "calendar")
    if calendar not in ("calendar", "business"):
        add(f"dueCalendar {calendar!r} must be 'calendar' or 'business'")
    return UserTaskMeta(
        element_id=element_id,
        name=getattr(task_spec, "bpmn_name", None) or element_id,
        role=role,
        form_file=form_file,
        form_schema=schema,
        due=due,
        priority=priority,
        partner_variable=props.get("partnerVariable") or None,
        four_eyes_with=props.get("fourEyesWith") or None,
        escalated_priority=escalated,
        business_due=calendar == "business",
    )


def _int_property(props: dict[str, str], name: str, add: Callable[[str], None]) -> int | None:
    raw = props.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
        if not 0 <= value <= 100:
            raise ValueError
    except ValueError:
        add(f"{name} {raw!r} must be a whole number from 0 to 100")
        return None
    return value


def due_at(created: datetime, duration: str) -> datetime:
    """``created`` plus an ISO 8601 duration (months and years by the calendar)."""
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    return created + TimerEventDefinition.get_timedelta_from_start(parsed, created)
