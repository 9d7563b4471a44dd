"""Tables. API schemas live elsewhere (``api/schemas.py``); these are storage only.

Hot paths (one workflow step) write through SQLAlchemy Core on ``Model.__table__``;
the SQLModel classes are the single definition of the schema and serve simple reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .json_sql import json_text_indexed
from .types import JSONType, UTCDateTime


def _dt(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


class Deployment(SQLModel, table=True):
    """One deployed bundle (BPMN + DMN + form schemas). Immutable once written."""

    __tablename__ = "deployment"

    id: str = Field(primary_key=True, max_length=36)
    content_hash: str = Field(max_length=64, unique=True)
    files: dict[str, str] = Field(sa_column=Column(JSONType, nullable=False))
    manifest: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    deployed_by: str = Field(max_length=200)
    deployed_at: datetime = _dt()


class ProcessVersion(SQLModel, table=True):
    """A process model at one version; points to the deployment holding its XML."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: str = Field(primary_key=True, max_length=36)
    process_id: str = Field(max_length=200, index=True)
    version: int
    name: str = Field(max_length=400)
    deployment_id: str = Field(foreign_key="deployment.id", max_length=36, index=True)
    file_name: str = Field(max_length=400)
    content_hash: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=100)
    deployed_by: str = Field(max_length=200)
    deployed_at: datetime = _dt()


class Case(SQLModel, table=True):
    """A running (or ended) process instance with its serialized SpiffWorkflow state."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_status_process", "status", "process_id"),
        Index("ix_case_created", "created_at"),
        Index("ix_case_ended", "ended_at"),
        # the heatmap: a version's case ids from the index alone (no read of the state)
        Index("ix_case_process_version", "process_id", "process_version", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    business_key: str | None = Field(default=None, max_length=200, unique=True)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    process_id: str = Field(max_length=200)
    process_version: int
    deployment_id: str = Field(foreign_key="deployment.id", max_length=36)
    channel: str | None = Field(default=None, max_length=100, index=True)
    status: str = Field(max_length=20)  # active | completed | cancelled | incident
    outcome: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    state: str = Field(sa_column=Column(Text, nullable=False))
    serializer_version: str = Field(max_length=20)
    lock_version: int = 0
    started_by: str = Field(max_length=200)
    starter_role: str = Field(max_length=100)
    audit_seq: int = 0
    audit_hash: str = Field(max_length=64)
    created_at: datetime = _dt()
    updated_at: datetime = _dt()
    ended_at: datetime | None = _dt(nullable=True)
    #: HMAC of the audit head (services/audit/seal.py) and the id of its key; NULL only
    #: for heads written before sealing (``retention-flow audit seal-existing``)
    audit_seal_key: str | None = Field(default=None, max_length=40)
    audit_seal: str | None = Field(default=None, max_length=64)
    #: the customer segment (the bundle's ``case_segment`` decision, at the start)
    segment: str | None = Field(default=None, max_length=100, index=True)
    #: why the case went to its first channel (``services/routing/channel_choice.py``)
    channel_reason: str | None = Field(default=None, max_length=400)


class CaseKey(SQLModel, table=True):
    """Correlation keys of a case (manifest ``correlation_keys`` projected from case data)."""

    __tablename__ = "case_key"
    __table_args__ = (Index("ix_case_key_lookup", "key", "value"),)

    case_id: str = Field(foreign_key="case.id", primary_key=True, max_length=36)
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=400)


class WorkItem(SQLModel, table=True):
    """One row per human task: open ones form the queues, finished ones stay for KPIs."""

    __tablename__ = "work_item"
    __table_args__ = (
        Index("ix_work_item_claimed", "claimed_by", "state", "due_at"),
        Index("ix_work_item_partner", "partner", "state", "due_at"),
        Index("ix_work_item_ended", "ended_at"),
        Index("ix_work_item_open", "state", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)  # the SpiffWorkflow task id
    case_id: str = Field(foreign_key="case.id", max_length=36, index=True)
    business_key: str | None = Field(default=None, max_length=200)
    process_id: str = Field(max_length=200)
    element_id: str = Field(max_length=200)
    name: str = Field(max_length=400)
    role: str = Field(max_length=100)
    state: str = Field(max_length=20)  # ready | claimed | completed | cancelled
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = _dt(nullable=True)
    due_at: datetime = _dt()
    priority: int = 50
    form: str | None = Field(default=None, max_length=400)
    #: the partner organisation the task is scoped to (partner lanes), else None
    partner: str | None = Field(default=None, max_length=200)
    created_at: datetime = _dt()
    ended_at: datetime | None = _dt(nullable=True)
    ended_by: str | None = Field(default=None, max_length=200)
    #: work time (services/tasks/work_time.py): the open interval of work (claim or task page
    #: opened by whoever may work it; None while released), the first start (waiting time)
    #: and the seconds handled so far, pauses excluded (final at completion)
    work_started_at: datetime | None = _dt(nullable=True)
    work_started_by: str | None = Field(default=None, max_length=200)
    first_worked_at: datetime | None = _dt(nullable=True)
    handling_seconds: float | None = None
    #: the case's segment, and the skills the task needs (``[{kind, value, min}]``)
    segment: str | None = Field(default=None, max_length=100)
    required_skills: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONType))


# Case search by customer (``queries.list_cases(customer=...)``) reads this index, not
# every case's data (bench/growth.py: a full scan cost 12x from 2k to 20k cases).
Index(
    "ix_case_customer_id",
    json_text_indexed(Case.__table__.c.data, "customer_id"),  # type: ignore[attr-defined]
)


# The queue's order (due time, then priority high first) read straight off the index:
# no sort step for a page of the queue, however long it is.
_work = WorkItem.__table__.c  # type: ignore[attr-defined]
Index("ix_work_item_queue", _work.role, _work.state, _work.due_at, _work.priority.desc())


class SignalWait(SQLModel, table=True):
    """A signal a case waits for (a catching signal event), projected from the workflow
    whenever the case is saved: ``POST /api/signals/{name}`` reaches the cases listed here."""

    __tablename__ = "signal_wait"

    name: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(foreign_key="case.id", primary_key=True, max_length=36, index=True)


class Timer(SQLModel, table=True):
    """A pending timer of a case, projected from the workflow whenever the case is saved."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "state", "due_at"),)

    id: str = Field(primary_key=True, max_length=36)  # the SpiffWorkflow task id
    case_id: str = Field(foreign_key="case.id", max_length=36, index=True)
    element_id: str = Field(max_length=200)
    kind: str = Field(max_length=40)  # duration | date | cycle
    due_at: datetime = _dt()
    #: pending | cancelled; a fired timer's row is replaced by the workflow's next
    #: projection (its firing is in the audit trail as ``timer_fired``)
    state: str = Field(default="pending", max_length=20)
    locked_by: str | None = Field(default=None, max_length=200)
    locked_until: datetime | None = _dt(nullable=True)
    attempts: int = 0


class Job(SQLModel, table=True):
    """Queued background work (OCR pages, service retries), run by the worker."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_ready", "state", "run_at"),)

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=100)
    payload: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    state: str = Field(default="queued", max_length=20)  # queued | running | done | failed
    run_at: datetime = _dt()
    attempts: int = 0
    max_attempts: int = 5
    locked_by: str | None = Field(default=None, max_length=200)
    locked_until: datetime | None = _dt(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _dt()
    finished_at: datetime | None = _dt(nullable=True)


class Incident(SQLModel, table=True):
    """A failed automatic step; the case waits at ``element_id`` until retried."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_open", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="case.id", max_length=36, index=True)
    #: the case's process and version when the step failed (filters, counts per version)
    process_id: str | None = Field(default=None, max_length=200)
    process_version: int | None = None
    element_id: str = Field(max_length=200)
    task_id: str | None = Field(default=None, max_length=36)
    error_type: str = Field(max_length=200)
    #: the stable code of the error (``script_error``, ``script_budget_exceeded``, ...)
    error_code: str | None = Field(default=None, max_length=100)
    #: the case data at failure (what the failed step saw; the agent's input included)
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    message: str = Field(sa_column=Column(Text, nullable=False))
    traceback: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=20)  # open | resolved
    created_at: datetime = _dt()
    resolved_at: datetime | None = _dt(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=200)


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained. One chain per stream: a case id, or ``system``."""

    __tablename__ = "audit_event"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        # the heatmap (services/insight/heatmap.py): a case's events of a period, a task's events
        Index("ix_audit_event_case_at", "case_id", "at"),
        Index("ix_audit_event_task", "task_id"),
        # where sealing began (min id of a sealed event), read by every case's audit
        # check: without it, a scan over all the events written before sealing
        Index(
            "ix_audit_event_sealed",
            "id",
            sqlite_where=text("seal IS NOT NULL"),
            postgresql_where=text("seal IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    stream: str = Field(max_length=36)
    seq: int
    case_id: str | None = Field(default=None, max_length=36, index=True)
    type: str = Field(max_length=60)
    actor: str = Field(max_length=200)
    at: datetime = _dt(index=True)
    element_id: str | None = Field(default=None, max_length=200)
    task_id: str | None = Field(default=None, max_length=36)
    data_before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    data_after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: HMAC of (stream, seq, hash) with the key ``seal_key`` (services/audit/seal.py);
    #: NULL for events written before sealing
    seal_key: str | None = Field(default=None, max_length=40)
    seal: str | None = Field(default=None, max_length=64)


class AuditHead(SQLModel, table=True):
    """Head of non-case audit streams (``system``), locked to append in order."""

    __tablename__ = "audit_head"

    stream: str = Field(primary_key=True, max_length=36)
    seq: int = 0
    hash: str = Field(max_length=64)
    seal_key: str | None = Field(default=None, max_length=40)
    seal: str | None = Field(default=None, max_length=64)


class User(SQLModel, table=True):
    """A person or integration that logs in. Roles are a JSON list of role names."""

    __tablename__ = "app_user"

    id: str = Field(primary_key=True, max_length=36)
    username: str = Field(max_length=200, unique=True)
    password_hash: str = Field(max_length=400)
    roles: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    partner: str | None = Field(default=None, max_length=200)
    #: the team a team lead steers (KPIs are grouped by it)
    team: str | None = Field(default=None, max_length=100)
    disabled: bool = False
    #: Carried in every token; bumping it (disable, new password, new roles) revokes them.
    token_version: int = 1
    created_at: datetime = _dt()
    updated_at: datetime = _dt()


class RevokedToken(SQLModel, table=True):
    """A token ended before its expiry (logout). Kept until the token would have expired."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=200)
    expires_at: datetime = _dt(index=True)
    revoked_at: datetime = _dt()


class LoginThrottle(SQLModel, table=True):
    """Failed logins for one user name from one client address (``services/login_throttle``).

    Kept per address so that failures from one place never lock the user out of another;
    in the database so that every API process counts the same failures.
    """

    __tablename__ = "login_throttle"

    username: str = Field(primary_key=True, max_length=200)
    client: str = Field(primary_key=True, max_length=64)
    failures: int
    last_failure_at: datetime = _dt(index=True)
    blocked_until: datetime | None = _dt(nullable=True)


class IdempotencyKey(SQLModel, table=True):
    """A request made once: the key its user chose for one operation, a fingerprint of
    the request, and the answer given, kept until ``expires_at`` (see
    ``services/platform/idempotency.py``). Keys are per (owner, scope): two users' equal keys, or
    one user's key on two operations, are different requests."""

    __tablename__ = "idempotency_key"

    owner: str = Field(primary_key=True, max_length=200)  # the user who sent the key
    scope: str = Field(primary_key=True, max_length=200)  # the operation
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    state: str = Field(max_length=20)  # pending | done
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    created_by: str = Field(max_length=200)
    created_at: datetime = _dt()
    expires_at: datetime = _dt(index=True)


class CampaignStart(SQLModel, table=True):
    """One case a campaign batch started, in slot ``slot`` (0 .. size-1) of the batch.

    Written in the case start's own transaction, so the rows of a batch are exactly the
    cases it started: a re-run after its worker died only fills the free slots, and the
    primary key and the (batch, customer) key refuse a second start however runs overlap.
    """

    __tablename__ = "campaign_start"
    __table_args__ = (UniqueConstraint("batch_id", "customer_id"),)

    batch_id: str = Field(primary_key=True, max_length=200)
    slot: int = Field(primary_key=True)
    customer_id: str = Field(max_length=200)
    case_id: str = Field(max_length=36)
    started_at: datetime = _dt()
