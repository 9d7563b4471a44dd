"""The stages of one step, as plain functions from what happened to what to write.

``steps.save_step`` runs them in this order — status and outcome, work-item projection,
incident, audit events, timers, correlation keys, case row — and hands the resulting
``StepPlan`` to ``step_write.write_step``. Nothing here touches the database, so each
stage can be read and tested on its own; the order of the audit events (and so the
hash chain) is fixed by ``audit_events``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retention_flow.core.skills import work_item_routing
from retention_flow.engine.bundle import CompiledBundle
from retention_flow.engine.runtime import Snapshot, StepFailed
from retention_flow.services.audit.trail import Head, NewEvent, diff
from retention_flow.services.platform.context import AppContext
from retention_flow.services.steps.case_head import CaseHead, Waiting


@dataclass(frozen=True)
class StepInput:
    """One step to persist: the case before it (``head``; ``before`` is what it waited
    on, None for a new case) and what the run left (``wf``, ``snapshot``, ``events``).

    The remaining fields say what kind of step it was: ``insert_case`` (the insert-only
    columns of a new case), ``completed_task`` (with ``completed_columns``, the work-time
    columns its row gets as it closes), ``cancelled``, ``failure`` (an incident) and
    ``escalate`` (element id -> new priority, for SLA timers that fired).
    """

    head: CaseHead
    wf: Any
    bundle: CompiledBundle
    snapshot: Snapshot
    events: Sequence[NewEvent]
    actor: str
    before: Waiting | None = None
    insert_case: Mapping[str, Any] | None = None
    completed_task: str | None = None
    completed_columns: Mapping[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    failure: StepFailed | None = None
    escalate: Mapping[str, int] | None = None

    @property
    def is_new(self) -> bool:
        return self.insert_case is not None

    @property
    def open_before(self) -> Mapping[str, str]:
        """The open work items before the step (task id -> element id): exactly the
        projection of the ready tasks then, both written in one transaction."""
        return self.before.ready if self.before is not None else {}


@dataclass(frozen=True)
class Ending:
    status: str
    outcome: str | None
    ended_at: datetime | None


def status_and_outcome(inp: StepInput, now: datetime) -> Ending:
    """The case's status after the step, its outcome, and when it ended."""
    if inp.cancelled:
        return Ending("cancelled", inp.head.outcome or "cancelled", now)
    if inp.failure is not None:
        return Ending("incident", None, None)
    if inp.snapshot.completed:
        raw = inp.snapshot.data.get(inp.bundle.manifest.outcome_variable)
        return Ending("completed", str(raw) if raw is not None else None, now)
    return Ending("active", None, None)


def data_events(inp: StepInput) -> list[NewEvent]:
    """What the automatic steps did to the data, or a data change without them."""
    snapshot, head = inp.snapshot, inp.head
    if snapshot.ran:
        old, new = diff(head.data, snapshot.data)
        detail = {"elements": snapshot.ran}
        return [
            NewEvent(
                "engine_steps",
                "engine",
                data_before=old or None,
                data_after=new or None,
                detail=detail,
            )
        ]
    if head.data != snapshot.data and not inp.is_new:
        old, new = diff(head.data, snapshot.data)
        return [NewEvent("data_changed", inp.actor, data_before=old, data_after=new)]
    return []


@dataclass
class WorkItemPlan:
    """The work-item projection of a step: rows to insert, rows to close (task id ->
    ``completed``/``cancelled``), priorities to raise, and their audit events."""

    new_items: list[dict[str, Any]] = field(default_factory=list)
    closed: dict[str, str] = field(default_factory=dict)
    escalated: list[tuple[str, int]] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    #: work items open before the step are still open
    kept_open: bool = False


def project_work_items(ctx: AppContext, inp: StepInput, now: datetime) -> WorkItemPlan:
    """New ready tasks in, finished ones closed, escalated ones raised."""
    plan = WorkItemPlan()
    existing = inp.open_before
    ready_ids = {t.task_id for t in inp.snapshot.ready}
    for task in inp.snapshot.ready:
        if task.task_id not in existing:
            item = _new_item(ctx, inp, task, now)
            plan.new_items.append(item)
            detail = {
                "role": item["role"],
                "due_at": item["due_at"].isoformat(),
                "priority": item["priority"],
            }
            plan.events.append(
                NewEvent(
                    "task_ready",
                    "engine",
                    element_id=task.element_id,
                    task_id=task.task_id,
                    detail=detail,
                )
            )
    for wid, element in existing.items():
        if wid in ready_ids:
            continue
        done = wid == inp.completed_task
        plan.closed[wid] = "completed" if done else "cancelled"
        if not done:
            plan.events.append(
                NewEvent("task_cancelled", inp.actor, element_id=element, task_id=wid)
            )
    # SLA escalation: a non-interrupting timer fired on a task that stays open
    escalate = inp.escalate or {}
    for wid, element in existing.items():
        if escalate and wid in ready_ids and element in escalate:
            plan.escalated.append((wid, escalate[element]))
            plan.events.append(
                NewEvent(
                    "task_escalated",
                    "clock",
                    element_id=element,
                    task_id=wid,
                    detail={"priority": escalate[element]},
                )
            )
    plan.kept_open = any(wid in ready_ids for wid in existing)
    return plan


def _new_item(ctx: AppContext, inp: StepInput, task: Any, now: datetime) -> dict[str, Any]:
    head, bundle, meta = inp.head, inp.bundle, task.meta
    role = (meta.role if meta else None) or head.starter_role
    defaults = bundle.manifest.defaults.get(role)
    due = (
        (meta.due if meta else None) or (defaults.due if defaults else None)
    ) or ctx.settings.default_due
    priority = meta.priority if meta and meta.priority is not None else None
    return {
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
        "priority": ctx.settings.default_priority if priority is None else priority,
        "form": meta.form_file if meta else None,
        "partner": task.partner,
        "created_at": now,
        "ended_at": None,
        "ended_by": None,
        **work_item_routing(meta, inp.snapshot.data, head.segment, head.channel),
    }


@dataclass(frozen=True)
class IncidentPlan:
    id: str
    row: dict[str, Any]
    event: NewEvent


def plan_incident(inp: StepInput, now: datetime) -> IncidentPlan | None:
    """The incident row and its event when the automatic steps failed."""
    failure, head = inp.failure, inp.head
    if failure is None:
        return None
    incident_id = str(uuid.uuid4())
    event = NewEvent(
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
    row = {
        "id": incident_id,
        "case_id": head.id,
        "process_id": head.process_id,
        "process_version": head.process_version,
        "element_id": failure.element_id,
        "task_id": failure.task_id,
        "error_type": type(failure.error).__name__,
        "error_code": failure.error_code,
        "data": inp.snapshot.data,
        "message": str(failure.error)[:4000],
        "traceback": failure.traceback,
        "status": "open",
        "created_at": now,
    }
    return IncidentPlan(incident_id, row, event)


def audit_events(
    inp: StepInput, ending: Ending, items: WorkItemPlan, incident: IncidentPlan | None
) -> list[NewEvent]:
    """The step's audit events in chain order: the operation's own, the data change,
    the work items, the incident, the case's end."""
    events = [*inp.events, *data_events(inp), *items.events]
    if incident is not None:
        events.append(incident.event)
    if ending.status in ("completed", "cancelled"):
        events.append(
            NewEvent(f"case_{ending.status}", inp.actor, detail={"outcome": ending.outcome})
        )
    return events


@dataclass(frozen=True)
class TimerPlan:
    """Replace the case's pending timers (``delete`` the old ones, insert ``rows``)."""

    delete: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)


def plan_timers(inp: StepInput) -> TimerPlan:
    """Rewrite the pending timers only when their set (task, due time) changed."""
    snapshot, before = inp.snapshot, inp.before
    now_timers = {(t.task_id, t.due_at) for t in snapshot.timers}
    if before is not None and before.timers == now_timers:
        return TimerPlan()
    rows = [
        {
            "id": t.task_id,
            "case_id": inp.head.id,
            "element_id": t.element_id,
            "kind": t.kind,
            "due_at": t.due_at,
            "state": "pending",
            "locked_by": None,
            "locked_until": None,
            "attempts": 0,
        }
        for t in snapshot.timers
    ]
    return TimerPlan(delete=before is not None and bool(before.timers), rows=rows)


@dataclass(frozen=True)
class KeyPlan:
    """Correlation keys to drop (by name) and rows to insert."""

    delete: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def plan_keys(
    head: CaseHead, bundle: CompiledBundle, data: Mapping[str, Any], fresh: bool
) -> KeyPlan:
    """Rewrite the correlation keys whose value changed (all of them for a new case)."""
    changed = [
        k for k in bundle.manifest.correlation_keys if fresh or head.data.get(k) != data.get(k)
    ]
    rows = [
        {"case_id": head.id, "key": k, "value": str(data[k])}
        for k in changed
        if data.get(k) is not None
    ]
    return KeyPlan([] if fresh else changed, rows)


#: the case columns a step may change, beside its lock version and audit head
_ALWAYS = ("state", "audit_seq", "audit_hash", "audit_seal_key", "audit_seal", "updated_at")


def case_values(
    inp: StepInput, ending: Ending, sealed: Head, state: str, serializer: str, now: datetime
) -> dict[str, Any]:
    """The case row's new values: every column for a new case; for an existing one only
    those that changed (the state, audit head and ``updated_at`` always do)."""
    head = inp.head
    values: dict[str, Any] = {
        "state": state,
        "audit_seq": sealed.seq,
        "audit_hash": sealed.hash,
        "audit_seal_key": sealed.seal_key,
        "audit_seal": sealed.seal,
        "updated_at": now,
    }
    changes = {
        "status": (ending.status, head.status),
        "outcome": (ending.outcome, head.outcome),
        "ended_at": (ending.ended_at, head.ended_at),
        "serializer_version": (serializer, head.serializer_version),
        "data": (inp.snapshot.data, head.data),
    }
    for column, (new, old) in changes.items():
        if inp.is_new or new != old:
            values[column] = new
    return values


@dataclass
class StepPlan:
    """Everything one step writes."""

    values: dict[str, Any]
    items: WorkItemPlan
    timers: TimerPlan
    keys: KeyPlan
    incident: IncidentPlan | None
    audit_rows: list[dict[str, Any]]
    completed_columns: Mapping[str, Any] = field(default_factory=dict)
