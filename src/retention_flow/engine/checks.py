"""The checks a bundle must pass beyond SpiffWorkflow's parser, and the metadata they
read from the diagrams (lane roles, forms, due times, priorities, partner scope...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from pydantic import ValidationError
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition,
)

from ..core.errors import ScriptError
from ..core.roles import WORK_ROLES, normalise_role
from ..core.skills import SkillNeed, parse_need
from .bundle import (
    BPMN_NS,
    MANIFEST_NAME,
    Boundary,
    CompiledBundle,
    Issue,
    Manifest,
    RoleDefaults,
    SourceCheck,
    UserTaskMeta,
    calendar_of,
)
from .flow_checks import check_flows
from .timer_checks import check_timer


def parse_manifest(files: dict[str, str], issues: list[Issue]) -> Manifest:
    text = files.pop(MANIFEST_NAME, None)
    if text is None:
        return Manifest()
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            issues.append(Issue(MANIFEST_NAME, None, f"{loc}: {err['msg']}"))
        return Manifest()
    _check_calendars(manifest, issues)
    return manifest


def _check_calendars(manifest: Manifest, issues: list[Issue]) -> None:
    """Each named calendar must make a calendar; each role's calendar must be named."""
    for name, spec in manifest.calendars.items():
        try:
            calendar_of(spec, None)
        except (ValueError, KeyError) as exc:
            issues.append(Issue(MANIFEST_NAME, None, f"calendars.{name}: {exc}"))
    for role, defaults in manifest.defaults.items():
        if defaults.calendar is not None and defaults.calendar not in manifest.calendars:
            known = ", ".join(sorted(manifest.calendars)) or "none"
            issues.append(
                Issue(
                    MANIFEST_NAME,
                    None,
                    f"defaults.{role}.calendar: no calendar named {defaults.calendar!r} "
                    f"(calendars: {known})",
                )
            )


def parse_forms(files: dict[str, str], issues: list[Issue]) -> dict[str, dict[str, Any]]:
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


def check_spec(
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

        role = _lane_role(task_spec, manifest)
        if check_source is not None:
            _check_scripts(task_spec, check_source, add)
        check_timer(task_spec, check_source, add)
        operator = getattr(task_spec, "operation_name", None)
        if operator is not None and services is not None and operator not in services:
            add(
                f"service task calls unknown service '{operator}'; "
                f"known: {', '.join(sorted(services)) or 'none'}"
            )
        if _is_user_task(task_spec):
            meta = _user_task_meta(task_spec, element_id, role, forms, manifest, add)
            bundle.user_tasks[(spec.name, element_id)] = meta


def check_tree(name: str, tree: etree._Element, manifest: Manifest, issues: list[Issue]) -> None:
    """Checks on the XML itself: reserved ids, lanes that name no role."""
    for node in tree.iter():
        if isinstance(node.tag, str) and node.get("id") == "Start":
            issues.append(
                Issue(name, "Start", "the element id 'Start' is reserved by the engine; rename it")
            )
    check_flows(name, tree, issues)
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


def boundaries_of(tree: etree._Element) -> dict[str, Boundary]:
    return {
        str(node.get("id")): Boundary(
            attached_to=str(node.get("attachedToRef")),
            interrupting=node.get("cancelActivity", "true") != "false",
        )
        for node in tree.iter(f"{{{BPMN_NS}}}boundaryEvent")
        if node.get("id") and node.get("attachedToRef")
    }


def _resolve_role(lane: str, manifest: Manifest) -> str | None:
    role = normalise_role(manifest.roles.get(lane) or lane)
    return role if role in WORK_ROLES else None


def _lane_role(task_spec: Any, manifest: Manifest) -> str | None:
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
    calendar = props.get("dueCalendar") or None
    if calendar not in (None, "calendar", "business"):
        add(f"dueCalendar {calendar!r} must be 'calendar' or 'business'")
        calendar = None
    calendar = calendar or manifest.due_calendar
    skills: list[SkillNeed] = []
    try:
        skills = parse_need(props.get("requiredSkills") or "")
    except ValueError as exc:
        add(f"requiredSkills: {exc}")
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
        due_calendar=calendar,
        required_skills=tuple(skills),
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
