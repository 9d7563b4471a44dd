"""One workflow step, persisted in one transaction.

``save_step`` writes the new workflow state (conditional on the case's lock version
and sealed audit head), the work-item projection (new ready tasks in, finished ones closed),
the pending timers, the correlation keys and the audit events, through SQLAlchemy
Core statements on the tables: a handful of statements and one commit per step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlmodel import Session

from ..core.errors import CaseConflict, NotFound
from ..core.skills import work_item_routing
from ..db import tables
from ..engine.bundle import CompiledBundle, ProcessInfo
from ..engine.runtime import Snapshot, StepFailed
from .audit import GENESIS, NewEvent, build_rows, diff, insert_rows
from .context import AppContext
from .readable import as_object
from .signals_wait import project_signal_waits

CASE = tables.CASE
WORK = tables.WORK_ITEM
TIMER = tables.TIMER
KEYS = tables.CASE_KEY
INCIDENT = tables.INCIDENT
OPEN_STATES = ("ready", "claimed")
HEAD_COLUMNS = [c for c in CASE.c if c.name != "state"]


@dataclass(frozen=True)
class CaseHead:
    """A case row without its (large) workflow state."""

    id: str
    business_key: str | None
    idempotency_key: str | None
    process_id: str
    process_version: int
    deployment_id: str
    channel: str | None
    status: str
    outcome: str | None
    data: dict[str, Any]
    serializer_version: str
    lock_version: int
    started_by: str
    starter_role: str
    audit_seq: int
    audit_hash: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    audit_seal_key: str | None = None
    audit_seal: str | None = None
    segment: str | None = None
    channel_reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, dict):  # a row written behind our back (readable.py)
            object.__setattr__(self, "data", as_object(self.data))


@dataclass(frozen=True)
class Waiting:
    """What a case waited on before a step: its open work items and pending timers."""

    ready: dict[str, str]  # task id -> element id
    timers: set[tuple[str, datetime]]
    signals: frozenset[str] = frozenset()


def waiting_of(snapshot: Snapshot) -> Waiting:
    return Waiting(
        {t.task_id: t.element_id for t in snapshot.ready},
        {(t.task_id, t.due_at) for t in snapshot.timers},
        frozenset(snapshot.signals),
    )


# Statements built once: a step runs a handful of them, so building, coercing and
# cache-keying fresh statement objects each time would cost more than executing them.
_SELECT_HEAD = select(*HEAD_COLUMNS).where(CASE.c.id == bindparam("b_id"))
_SELECT_STATE = select(CASE.c.state).where(CASE.c.id == bindparam("b_id"))
_STEP_COLUMNS = (
    "status",
    "outcome",
    "data",
    "state",
    "serializer_version",
    "audit_seq",
    "audit_hash",
    "audit_seal_key",
    "audit_seal",
    "updated_at",
    "ended_at",
    "lock_version",
)
_UPDATE_CASE = (
    update(CASE)
    .where(
        and_(
            CASE.c.id == bindparam("b_id"),
            CASE.c.lock_version == bindparam("b_lock"),
            CASE.c.audit_seq == bindparam("b_seq"),
        )
    )
    .values({c: bindparam(c) for c in _STEP_COLUMNS})
)
_INSERT_CASE = insert(CASE)
_CLOSE_ITEM = (
    update(WORK)
    .where(WORK.c.id == bindparam("b_id"))
    .values(
        state=bindparam("state"), ended_at=bindparam("ended_at"), ended_by=bindparam("ended_by")
    )
)
_INSERT_ITEM = insert(WORK)
_ESCALATE_ITEM = (
    update(WORK).where(WORK.c.id == bindparam("b_id")).values(priority=bindparam("priority"))
)
_INSERT_TIMER = insert(TIMER)
_DELETE_TIMERS = delete(TIMER).where(
    and_(TIMER.c.case_id == bindparam("b_case"), TIMER.c.state == "pending")
)


def load_head(session: Session, case_id: str) -> CaseHead:
    row = session.connection().execute(_SELECT_HEAD, {"b_id": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return CaseHead(**row)


def load_state(session: Session, case_id: str) -> str:
    return str(session.connection().execute(_SELECT_STATE, {"b_id": case_id}).scalar_one())


def checkout(ctx: AppContext, session: Session, head: CaseHead, process: ProcessInfo) -> Any:
    """The case's live workflow: from memory if current, else restored from its state."""
    wf = ctx.live.take(head.id, head.lock_version)
    if wf is None:
        wf = ctx.runtime.load(process, load_state(session, head.id), head.serializer_version)
    return wf


def rebuilder(
    ctx: AppContext, session: Session, head: CaseHead, process: ProcessInfo
) -> Callable[[], Any]:
    return lambda: ctx.runtime.load(process, load_state(session, head.id), head.serializer_version)


@dataclass
class StepResult:
    head: CaseHead
    snapshot: Snapshot
    new_work_items: list[dict[str, Any]]
    incident_id: str | None = None
    #: work items open before the step are still open (their claims live in the table)
    kept_open_items: bool = False


def save_step(
    ctx: AppContext,
    session: Session,
    *,
    head: CaseHead,
    wf: Any,
    bundle: CompiledBundle,
    snapshot: Snapshot,
    events: list[NewEvent],
    actor: str,
    insert_case: dict[str, Any] | None = None,
    completed_task: str | None = None,
    cancelled: bool = False,
    failure: StepFailed | None = None,
    before: Waiting | None = None,
    escalate: dict[str, int] | None = None,
) -> StepResult:
    """Persist one step. ``head`` and ``before`` describe the case before it (for a new
    case: a stub head and no ``before``)."""
    now = ctx.now()
    events = list(events)
    outcome_var = bundle.manifest.outcome_variable
    if cancelled:
        status, outcome, ended = "cancelled", head.outcome or "cancelled", now
    elif failure is not None:
        status, outcome, ended = "incident", None, None
    elif snapshot.completed:
        raw = snapshot.data.get(outcome_var)
        status, outcome, ended = "completed", (str(raw) if raw is not None else None), now
    else:
        status, outcome, ended = "active", None, None

    if snapshot.ran:
        old, new = diff(head.data, snapshot.data)
        events.append(
            NewEvent(
                "engine_steps",
                "engine",
                data_before=old or None,
                data_after=new or None,
                detail={"elements": snapshot.ran},
            )
        )
    elif head.data != snapshot.data and insert_case is None:
        old, new = diff(head.data, snapshot.data)
        events.append(NewEvent("data_changed", actor, data_before=old, data_after=new))

    # The open work items are exactly the projection of the ready tasks before the step
    # (both were written in one transaction), so no query is needed to know them.
    existing = before.ready if before is not None else {}
    ready_ids = {t.task_id for t in snapshot.ready}
    new_items: list[dict[str, Any]] = []
    for task in snapshot.ready:
        if task.task_id in existing:
            continue
        meta = task.meta
        role = (meta.role if meta else None) or head.starter_role
        due = (
            (meta.due if meta else None)
            or _role_default_due(bundle, role)
            or ctx.settings.default_due
        )
        priority = (
            meta.priority if meta and meta.priority is not None else ctx.settings.default_priority
        )
        item = {
            "id": task.task_id,
            "case_id": head.id,
            "business_key": head.business_key,
            "process_id": head.process_id,
            "element_id": task.element_id,
            "name": task.name,
            "role": role,
            "state": "ready",
            "claimed_by": None,
            "claimed_at": None,
            "due_at": ctx.due_at(
                now,
                due,
                meta.due_calendar if meta else bundle.manifest.due_calendar,
                ctx.calendar_for(bundle, role),
            ),
            "priority": priority,
            "form": meta.form_file if meta else None,
            "partner": task.partner,
            "created_at": now,
            "ended_at": None,
            "ended_by": None,
            **work_item_routing(meta, snapshot.data, head.segment, head.channel),
        }
        new_items.append(item)
        events.append(
            NewEvent(
                "task_ready",
                "engine",
                element_id=task.element_id,
                task_id=task.task_id,
                detail={"role": role, "due_at": item["due_at"].isoformat(), "priority": priority},
            )
        )
    gone = [wid for wid in existing if wid not in ready_ids]
    for wid in gone:
        if wid != completed_task:
            events.append(NewEvent("task_cancelled", actor, element_id=existing[wid], task_id=wid))

    # SLA escalation: a non-interrupting timer fired on a task that stays open
    escalated = [
        (wid, escalate[element])
        for wid, element in existing.items()
        if escalate and wid in ready_ids and element in escalate
    ]
    for wid, priority in escalated:
        events.append(
            NewEvent(
                "task_escalated",
                "clock",
                element_id=existing[wid],
                task_id=wid,
                detail={"priority": priority},
            )
        )

    incident_id = None
    if failure is not None:
        incident_id = str(uuid.uuid4())
        events.append(
            NewEvent(
                "incident_raised",
                "engine",
                element_id=failure.element_id,
                task_id=failure.task_id,
                detail={
                    "incident_id": incident_id,
                    "error": f"{type(failure.error).__name__}: {failure.error}",
                    "code": failure.error_code,
                },
            )
        )
    if status in ("completed", "cancelled"):
        events.append(NewEvent(f"case_{status}", actor, detail={"outcome": outcome}))

    rows, sealed = build_rows(
        head.id, head.id, head.audit_seq, head.audit_hash, events, now, ctx.audit_keys.current()
    )
    state = ctx.runtime.dump(wf)
    values = {
        "status": status,
        "outcome": outcome,
        "data": snapshot.data,
        "state": state,
        "serializer_version": ctx.runtime.serializer_version,
        "audit_seq": sealed.seq,
        "audit_hash": sealed.hash,
        "audit_seal_key": sealed.seal_key,
        "audit_seal": sealed.seal,
        "updated_at": now,
        "ended_at": ended,
    }
    conn = session.connection()
    if insert_case is not None:
        conn.execute(_INSERT_CASE, {**insert_case, **values, "lock_version": 1})
        new_lock = 1
    else:
        new_lock = head.lock_version + 1
        result = conn.execute(
            _UPDATE_CASE,
            {
                **values,
                "lock_version": new_lock,
                "b_id": head.id,
                "b_lock": head.lock_version,
                "b_seq": head.audit_seq,
            },
        )
        if result.rowcount != 1:
            raise CaseConflict(f"case {head.id} was changed by someone else; try again")

    if gone:
        conn.execute(
            _CLOSE_ITEM,
            [
                {
                    "b_id": wid,
                    "state": "completed" if wid == completed_task else "cancelled",
                    "ended_at": now,
                    "ended_by": actor,
                }
                for wid in gone
            ],
        )
    if new_items:
        conn.execute(_INSERT_ITEM, new_items)
    if escalated:
        conn.execute(_ESCALATE_ITEM, [{"b_id": wid, "priority": p} for wid, p in escalated])
    _project_timers(conn, head.id, snapshot, before)
    project_signal_waits(conn, head.id, snapshot.signals, before.signals if before else None)
    _project_keys(session, head, bundle, snapshot.data, fresh=insert_case is not None)
    if failure is not None:
        session.execute(
            insert(INCIDENT).values(
                id=incident_id,
                case_id=head.id,
                process_id=head.process_id,
                process_version=head.process_version,
                element_id=failure.element_id,
                task_id=failure.task_id,
                error_type=type(failure.error).__name__,
                error_code=failure.error_code,
                data=snapshot.data,
                message=str(failure.error)[:4000],
                traceback=failure.traceback,
                status="open",
                created_at=now,
            )
        )
    insert_rows(session, rows)
    new_head = replace(
        head,
        status=status,
        outcome=outcome,
        data=snapshot.data,
        lock_version=new_lock,
        audit_seq=sealed.seq,
        audit_hash=sealed.hash,
        audit_seal_key=sealed.seal_key,
        audit_seal=sealed.seal,
        updated_at=now,
        ended_at=ended,
        serializer_version=ctx.runtime.serializer_version,
    )
    remaining = [wid for wid in existing if wid in ready_ids]
    return StepResult(new_head, snapshot, new_items, incident_id, bool(remaining))


def _role_default_due(bundle: CompiledBundle, role: str) -> str | None:
    defaults = bundle.manifest.defaults.get(role)
    return defaults.due if defaults else None


def _project_timers(conn: Any, case_id: str, snapshot: Snapshot, before: Waiting | None) -> None:
    now_timers = {(t.task_id, t.due_at) for t in snapshot.timers}
    if before is not None and before.timers == now_timers:
        return
    if before is not None and before.timers:
        conn.execute(_DELETE_TIMERS, {"b_case": case_id})
    if snapshot.timers:
        conn.execute(
            _INSERT_TIMER,
            [
                {
                    "id": t.task_id,
                    "case_id": case_id,
                    "element_id": t.element_id,
                    "kind": t.kind,
                    "due_at": t.due_at,
                    "state": "pending",
                    "locked_by": None,
                    "locked_until": None,
                    "attempts": 0,
                }
                for t in snapshot.timers
            ],
        )


def _project_keys(
    session: Session, head: CaseHead, bundle: CompiledBundle, data: dict[str, Any], fresh: bool
) -> None:
    keys = bundle.manifest.correlation_keys
    if not keys:
        return
    changed = [k for k in keys if fresh or head.data.get(k) != data.get(k)]
    if not changed:
        return
    if not fresh:
        session.execute(
            delete(KEYS).where(and_(KEYS.c.case_id == head.id, KEYS.c.key.in_(changed)))
        )
    rows = [
        {"case_id": head.id, "key": k, "value": str(data[k])}
        for k in changed
        if data.get(k) is not None
    ]
    if rows:
        session.execute(insert(KEYS), rows)


def new_head(
    *,
    case_id: str,
    process: ProcessInfo,
    version: int,
    deployment_id: str,
    business_key: str | None,
    idempotency_key: str | None,
    actor: str,
    starter_role: str,
    now: datetime,
    data: dict[str, Any],
) -> tuple[CaseHead, dict[str, Any]]:
    """A stub head for a case about to be inserted, and the insert-only columns."""
    head = CaseHead(
        id=case_id,
        business_key=business_key,
        idempotency_key=idempotency_key,
        process_id=process.process_id,
        process_version=version,
        deployment_id=deployment_id,
        channel=process.channel,
        status="active",
        outcome=None,
        data=data,
        serializer_version="",
        lock_version=0,
        started_by=actor,
        starter_role=starter_role,
        audit_seq=0,
        audit_hash=GENESIS,
        created_at=now,
        updated_at=now,
        ended_at=None,
    )
    insert_cols = {
        "id": case_id,
        "business_key": business_key,
        "idempotency_key": idempotency_key,
        "process_id": process.process_id,
        "process_version": version,
        "deployment_id": deployment_id,
        "channel": process.channel,
        "started_by": actor,
        "starter_role": starter_role,
        "created_at": now,
    }
    return head, insert_cols
