"""Deployable bundles: BPMN + DMN + JSON form schemas (+ an optional ``bundle.json``).

The types a compiled bundle is made of (``CompiledBundle``: SpiffWorkflow specs plus the
metadata our runtime needs per user task) and the loaders that read a bundle from a
folder or a zip. ``compiler.compile_bundle`` parses and validates one; ``SpecCache`` keeps
the result per deployed version.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition,
)

from ..core.calendar import DAY_NAMES, BusinessCalendar
from ..core.errors import InvalidProcess
from ..core.incentive_plan import IncentivePlan
from ..core.skills import SkillNeed

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
    calendar: str | None = Field(
        default=None,
        description="name of an entry in the bundle's calendars: the role's business hours",
    )


class CalendarSpec(BaseModel):
    """Business hours for some roles; a field left out comes from the settings' calendar."""

    model_config = {"extra": "forbid"}

    timezone: str | None = Field(default=None, description="IANA time zone")
    hours: str | None = Field(default=None, description="opening hours, e.g. 08:00-20:00")
    days: str | None = Field(default=None, description="working days, e.g. mon,tue,wed,thu,fri")
    holidays: list[date] | None = Field(default=None, description="closed days (ISO dates)")


def calendar_of(spec: CalendarSpec, base: BusinessCalendar | None) -> BusinessCalendar:
    """The calendar ``spec`` describes, its missing fields taken from ``base`` (the settings'
    calendar; without one, defaults that only serve to check the given fields)."""
    hours = spec.hours or (
        f"{base.opens:%H:%M}-{base.closes:%H:%M}" if base is not None else "08:00-18:00"
    )
    days = spec.days or (
        ",".join(DAY_NAMES[d] for d in sorted(base.workdays)) if base is not None else "mon"
    )
    zone = spec.timezone or (base.zone.key if base is not None else "UTC")
    holidays = spec.holidays if spec.holidays is not None else (base.holidays if base else ())
    return BusinessCalendar.from_settings(zone, hours, days, tuple(holidays))


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
    calendars: dict[str, CalendarSpec] = Field(
        default_factory=dict,
        description="named business calendars; roles pick one in defaults.<role>.calendar",
    )
    due_calendar: Literal["business", "calendar"] | None = Field(
        default=None,
        description="count due times in business hours or calendar time (None: the settings "
        "decide); a task's dueCalendar property still wins",
    )
    retention_cases: bool = Field(
        default=True,
        description="the cases are retention cases that the case KPIs count (volume, "
        "retention rate, first-contact resolution); false for back-office bundles",
    )

    incentive_plan: IncentivePlan | None = Field(
        default=None,
        description="how KPIs and QA scores become incentive pay (core/incentive_plan.py); "
        "applies from the first period that starts after the deployment",
    )

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
    #: "business" or "calendar" (the property dueCalendar); None: the settings decide
    due_calendar: str | None = None
    #: the skills an agent needs for the task (the property requiredSkills, core/skills.py)
    required_skills: tuple[SkillNeed, ...] = ()


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
    #: names of the messages / signals whose start events start this process
    start_messages: frozenset[str] = frozenset()
    start_signals: frozenset[str] = frozenset()


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


def due_at(created: datetime, duration: str) -> datetime:
    """``created`` plus an ISO 8601 duration (months and years by the calendar)."""
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    delta: timedelta = TimerEventDefinition.get_timedelta_from_start(parsed, created)
    return created + delta
