"""The views of cases and work items, in the shapes of the REST contract: ``CaseView``,
``TaskView`` (and the answer of a signal), with their builders from checked rows.

The field names are the contract's JSON keys; times are the ISO strings ``utc_iso``
makes, so the API answers a view as it stands. ``task_view`` and ``case_view`` build
without validation (the rows were read from our own tables): a queue page or a step's
answer costs about what the dicts did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field
from sqlalchemy import and_, select
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.services.platform.idempotency import Record
from retention_flow.services.platform.view import View
from retention_flow.services.steps.save import OPEN_STATES, WORK, CaseHead


class TaskView(View):
    """A work item as agents and the API see it."""

    id: str
    case_id: str
    business_key: str | None
    process_id: str
    element_id: str
    name: str
    role: str
    state: str
    claimed_by: str | None
    claimed_at: str | None = None
    due_at: str | None
    priority: int
    created_at: str | None
    form: str | None = Field(default=None, description="form schema file name")
    segment: str | None = Field(default=None, description="the case's customer segment")
    required_skills: list[dict[str, Any]] = Field(
        default_factory=list, description="skills an agent needs: [{kind, value, min}]"
    )
    not_offered: str | None = Field(
        default=None, description="why the task is not offered to you (available queue only)"
    )
    #: the partner organisation a lead is scoped to: read by services and pages, not
    #: part of the REST answer
    partner: str | None = Field(default=None, exclude=True)


class CaseView(View):
    """A case with its open work items."""

    id: str
    business_key: str | None
    process_id: str
    process_version: int
    channel: str | None
    status: str
    outcome: str | None
    segment: str | None = None
    channel_reason: str | None = None
    data: dict[str, Any]
    open_tasks: list[TaskView]
    started_by: str
    created_at: str | None
    updated_at: str | None
    ended_at: str | None


class SignalSkipped(View):
    """A waiting case a signal was not delivered to, and why."""

    case_id: str
    reason: str


class SignalOutcome(View):
    """What broadcasting a signal did."""

    signal: str
    delivered: list[str]
    started: list[str]
    skipped: list[SignalSkipped]
    remaining: int


class EventView(View):
    """An audit event of a case's timeline (``at`` as an ISO string)."""

    seq: int
    case_id: str | None
    type: str
    actor: str
    at: str
    element_id: str | None
    task_id: str | None
    data_before: dict[str, Any] | None
    data_after: dict[str, Any] | None
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str


class DiagramMarks(View):
    """Where a case has been on its diagram: element id -> times completed, the current
    elements (open tasks, pending timers) and the failed ones (open incidents)."""

    completed: dict[str, int]
    current: list[str]
    failed: list[str]


class HistoryExport(View):
    """A case's history as one document: the case, its chain check and every event."""

    case: CaseView
    verify: dict[str, Any]
    events: list[EventView]


class CaseHistory(HistoryExport):
    """A case's history page: the export, and the diagram marks."""

    marks: DiagramMarks


#: ``before_commit(session, view)``: write more in a case step's own transaction
BeforeCommit = Callable[[Session, CaseView], None]


V = TypeVar("V", bound=View)


def built(cls: type[V], values: dict[str, Any]) -> V:
    """``cls.model_construct(**values)`` for ``values`` that name every field (no
    defaults, no aliases, no private attributes), at a fifth of its cost: a queue page
    builds fifty. ``tests/unit/test_views.py`` holds it equal to ``model_construct``."""
    view = cls.__new__(cls)
    object.__setattr__(view, "__dict__", values)
    object.__setattr__(view, "__pydantic_fields_set__", set(values))
    object.__setattr__(view, "__pydantic_extra__", None)
    object.__setattr__(view, "__pydantic_private__", None)
    return view


def _iso(value: datetime | None) -> str | None:
    return utc_iso(value) if value is not None else None


def task_view(row: Mapping[Any, Any]) -> TaskView:
    """The view of a work item row (a ``work_item`` row, or the values a step inserted)."""
    return built(
        TaskView,
        dict(
            id=row["id"],
            case_id=row["case_id"],
            business_key=row.get("business_key"),
            process_id=row["process_id"],
            element_id=row["element_id"],
            name=row["name"],
            role=row["role"],
            state=row["state"],
            claimed_by=row.get("claimed_by"),
            claimed_at=_iso(row.get("claimed_at")),
            due_at=_iso(row.get("due_at")),
            priority=row["priority"],
            created_at=_iso(row.get("created_at")),
            form=row.get("form"),
            segment=row.get("segment"),
            required_skills=row.get("required_skills") or [],
            not_offered=None,
            partner=row.get("partner"),
        ),
    )


def open_tasks(session: Session, case_id: str) -> list[TaskView]:
    query = (
        select(WORK)
        .where(and_(WORK.c.case_id == case_id, WORK.c.state.in_(OPEN_STATES)))
        .order_by(WORK.c.due_at, WORK.c.priority.desc())
    )
    return [task_view(r) for r in session.execute(query).mappings()]


def case_view(head: CaseHead, tasks: Iterable[TaskView]) -> CaseView:
    return built(
        CaseView,
        dict(
            id=head.id,
            business_key=head.business_key,
            process_id=head.process_id,
            process_version=head.process_version,
            channel=head.channel,
            status=head.status,
            outcome=head.outcome,
            segment=head.segment,
            channel_reason=head.channel_reason,
            data=head.data,
            open_tasks=list(tasks),
            started_by=head.started_by,
            created_at=_iso(head.created_at),
            updated_at=_iso(head.updated_at),
            ended_at=_iso(head.ended_at),
        ),
    )


def answer_of(view: View) -> dict[str, Any]:
    """A view as the JSON an idempotency key stores and replays."""
    return view.model_dump(mode="json")


def recording(record: Record | None) -> BeforeCommit | None:
    """An idempotency ``record`` (which stores JSON) as a case step's ``before_commit``."""
    if record is None:
        return None
    keep = record

    def before_commit(session: Session, view: CaseView) -> None:
        keep(session, answer_of(view))

    return before_commit


class IncidentView(View):
    """A failed automatic step, as the operations list shows it (times as ISO text)."""

    id: str
    case_id: str
    business_key: str | None
    case_status: str
    process_id: str | None
    process_version: int | None
    element_id: str
    error_type: str
    error_code: str | None
    error: str = Field(description="the error in one line: type and message")
    status: str = Field(description="open | resolved")
    created_at: str
    resolved_at: str | None
    resolved_by: str | None


class IncidentDetailView(IncidentView):
    task_id: str | None
    element_name: str | None
    data: dict[str, Any] | None = Field(description="the case data when the step failed")
    traceback: str


class IncidentCount(View):
    """How many incidents one (process, version, element, error code) holds."""

    process_id: str | None
    process_version: int | None
    element_id: str
    error_code: str | None
    count: int


class MigrationCaseCheck(View):
    """One case of a dry run: where its tokens wait and whether it can move."""

    case_id: str
    business_key: str | None
    status: str
    tokens: list[str]
    can_migrate: bool
    problems: list[dict[str, Any]]


class MigrationPlan(View):
    """A dry run of a migration: per selected case (the first ones listed; counts cover
    all), whether it can move. Nothing is written."""

    dry_run: bool = True
    process_id: str
    from_version: int
    to_version: int
    total: int
    can_migrate: int
    cannot_migrate: int
    cases: list[MigrationCaseCheck]


class MigrationFailure(View):
    case_id: str
    error: str | None
    problems: list[dict[str, Any]]


class MigrationProgress(View):
    """A migration's request and progress (times as ISO text)."""

    id: str
    process_id: str
    from_version: int
    to_version: int
    mapping: dict[str, Any]
    data_defaults: dict[str, Any]
    case_filter: dict[str, Any]
    reason: str
    created_by: str
    created_at: str
    finished_at: str | None
    status: str  # running | done
    total: int
    done: int
    failed: int
    pending: int
    failures: list[MigrationFailure]


class IncidentBatchView(View):
    """A bulk retry of incidents and its progress (times as ISO text)."""

    id: str
    filter: dict[str, Any]
    reason: str
    requested_by: str
    state: str = Field(
        description="queued | running | done (running also while a failed chunk waits to "
        "be tried again by the worker)"
    )
    matched: int = Field(description="open incidents matching the filter when requested")
    done: int = Field(description="resolved + failed_again + skipped")
    resolved: int
    failed_again: int
    skipped: int
    errors: list[dict[str, Any]] = Field(description="skipped incidents and why")
    created_at: str
    finished_at: str | None


__all__ = [
    "BeforeCommit",
    "CaseHistory",
    "CaseView",
    "DiagramMarks",
    "EventView",
    "HistoryExport",
    "IncidentBatchView",
    "IncidentCount",
    "IncidentDetailView",
    "IncidentView",
    "MigrationCaseCheck",
    "MigrationFailure",
    "MigrationPlan",
    "MigrationProgress",
    "SignalOutcome",
    "SignalSkipped",
    "TaskView",
    "answer_of",
    "built",
    "case_view",
    "open_tasks",
    "recording",
    "task_view",
]
