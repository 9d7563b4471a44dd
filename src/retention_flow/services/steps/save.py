"""One workflow step, persisted in one transaction.

``save_step`` takes one ``StepInput`` (the case before the step and what the run left)
and answers one ``StepResult``. It is a short pipeline: the stages of ``step_plan``
(status and outcome, work-item projection, incident, audit events, timers, correlation
keys, the changed case columns), the audit rows sealed by ``build_rows``, and one write
of the plan by ``step_write`` (conditional on the case's lock version and sealed audit
head; one statement per table and kind of change, in one pipeline on PostgreSQL).
Here too: loading a case's head and state, and the stub head of a new case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from retention_flow.core.errors import NotFound
from retention_flow.db import tables
from retention_flow.engine.bundle import CompiledBundle, ProcessInfo
from retention_flow.engine.runtime import Snapshot
from retention_flow.services.audit.trail import GENESIS, build_rows
from retention_flow.services.platform.context import AppContext
from retention_flow.services.steps.case_head import CaseHead, Waiting, waiting_of
from retention_flow.services.steps.plan import (
    StepInput,
    StepPlan,
    audit_events,
    case_values,
    plan_incident,
    plan_keys,
    plan_timers,
    project_work_items,
    status_and_outcome,
)
from retention_flow.services.steps.write import write_keys, write_step

CASE = tables.CASE
WORK = tables.WORK_ITEM
TIMER = tables.TIMER
KEYS = tables.CASE_KEY
INCIDENT = tables.INCIDENT
__all__ = ["CaseHead", "StepInput", "StepResult", "Waiting", "save_step", "waiting_of"]
OPEN_STATES = ("ready", "claimed")
HEAD_COLUMNS = [c for c in CASE.c if c.name != "state"]


# Statements built once: a step runs a handful of them, so building, coercing and
# cache-keying fresh statement objects each time would cost more than executing them.
_SELECT_HEAD = select(*HEAD_COLUMNS).where(CASE.c.id == bindparam("b_id"))
_SELECT_STATE = select(CASE.c.state).where(CASE.c.id == bindparam("b_id"))


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


def save_step(ctx: AppContext, session: Session, inp: StepInput) -> StepResult:
    """Persist one step (``inp``: the case before it and what the run left) in the
    session's transaction: the stages of ``step_plan`` in order, sealed audit rows, and
    one write of the plan (``step_write``)."""
    head, snapshot = inp.head, inp.snapshot
    now = ctx.now()
    ending = status_and_outcome(inp, now)
    items = project_work_items(ctx, inp, now)
    incident = plan_incident(inp, now)
    events = audit_events(inp, ending, items, incident)
    rows, sealed = build_rows(
        head.id, head.id, head.audit_seq, head.audit_hash, events, now, ctx.audit_keys.current()
    )
    serializer = ctx.runtime.serializer_version
    plan = StepPlan(
        values=case_values(inp, ending, sealed, ctx.runtime.dump(inp.wf), serializer, now),
        items=items,
        timers=plan_timers(inp),
        keys=plan_keys(head, inp.bundle, snapshot.data, fresh=inp.is_new),
        incident=incident,
        audit_rows=rows,
        completed_columns=inp.completed_columns,
    )
    new_lock = write_step(session.connection(), inp, plan, now)
    new_head = replace(
        head,
        status=ending.status,
        outcome=ending.outcome,
        data=snapshot.data,
        lock_version=new_lock,
        audit_seq=sealed.seq,
        audit_hash=sealed.hash,
        audit_seal_key=sealed.seal_key,
        audit_seal=sealed.seal,
        updated_at=now,
        ended_at=ending.ended_at,
        serializer_version=serializer,
    )
    return StepResult(
        new_head, snapshot, items.new_items, incident.id if incident else None, items.kept_open
    )


def _project_keys(
    session: Session, head: CaseHead, bundle: CompiledBundle, data: dict[str, Any], fresh: bool
) -> None:
    """Rewrite the correlation keys whose value changed (a data correction)."""
    write_keys(session.connection(), head.id, plan_keys(head, bundle, data, fresh))


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
