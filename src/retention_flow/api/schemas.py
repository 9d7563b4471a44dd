"""Request and response schemas of the REST API (the tables live in ``db/models.py``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retention_flow.services.audit.views import AuditKeysView
from retention_flow.services.cases.views import CaseView, SignalOutcome, TaskView
from retention_flow.services.scans.views import ScanView
from retention_flow.services.tasks.views import Completed
from retention_flow.services.tasks.views import TaskDetail as TaskDetailView

#: Largest value of an integer column (PostgreSQL ``integer``).
MAX_INT = 2**31 - 1


class CaseStatus(StrEnum):
    """A case's status (the ``status`` filter of case lists)."""

    active = "active"
    completed = "completed"
    cancelled = "cancelled"
    incident = "incident"


class Problem(BaseModel):
    """RFC 7807 problem body; ``code`` is a stable machine word."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int


class Me(BaseModel):
    username: str
    roles: list[str]
    partner: str | None


# --------------------------------------------------------------------------- processes


class ProcessVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    process_id: str
    version: int
    name: str
    channel: str | None
    deployment_id: str
    file_name: str
    deployed_by: str
    deployed_at: datetime


class ProcessPublic(BaseModel):
    process_id: str
    name: str
    latest_version: int
    versions: list[ProcessVersionPublic]
    open_incidents: dict[int, int] = Field(
        default_factory=dict, description="version -> open incidents (versions with any)"
    )


class ProcessesPublic(BaseModel):
    data: list[ProcessPublic]
    count: int


class BundleIssue(BaseModel):
    file: str | None = None
    element_id: str | None = None
    message: str


class ValidationResult(BaseModel):
    valid: bool
    errors: list[BundleIssue]
    processes: list[str] = []


class DeployPublic(BaseModel):
    deployment_id: str
    created: bool
    versions: list[ProcessVersionPublic]


# --------------------------------------------------------------------------- cases/tasks


#: the service views are the response schemas: field names are the contract's keys
TaskPublic = TaskView
TaskDetail = TaskDetailView
CasePublic = CaseView


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    process_id: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    business_key: str | None = Field(default=None, min_length=1, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    version: int | None = Field(default=None, ge=1, le=MAX_INT)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correlation: dict[str, str | int] = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict)


SignalOut = SignalOutcome


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any]


CompleteResult = Completed


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


# --------------------------------------------------------------------------- audit


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    case_id: str | None
    type: str
    actor: str
    at: datetime
    element_id: str | None
    task_id: str | None
    data_before: dict[str, Any] | None
    data_after: dict[str, Any] | None
    detail: dict[str, Any] | None
    hash: str
    prev_hash: str


class HistoryPublic(BaseModel):
    data: list[AuditEventPublic]
    count: int


class AuditProblemPublic(BaseModel):
    kind: str
    reason: str
    stream: str | None = None
    seq: int | None = None
    line: int | None = None


class CheckpointSummaryPublic(BaseModel):
    file: str
    lines: int
    last_at: str | None = None
    streams: int
    incomplete_tail: bool


class VerifyPublic(BaseModel):
    ok: bool
    streams: int
    events: int
    broken_stream: str | None = None
    broken_seq: int | None = None
    reason: str | None = None
    #: the first finding's kind (resealed, truncated, checkpoint_forged, ...)
    kind: str | None = None
    problems: list[AuditProblemPublic] = []
    problem_count: int = 0
    #: the checkpoint file compared with (None: none written yet)
    checkpoints: CheckpointSummaryPublic | None = None


#: the keys an auditor needs: the view the audit admin service answers with
AuditKeysPublic = AuditKeysView


# --------------------------------------------------------------------------- scans


#: a scan and its pages: the views scan intake answers with
ScanPublic = ScanView


class ScanPageResolve(BaseModel):
    """Resolve an exception page: assign it to a case, or discard it with a reason."""

    decision: Literal["assign", "discard"]
    case_number: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, min_length=3, max_length=1000)


class ScansPublic(BaseModel):
    data: list[ScanPublic]
    count: int
