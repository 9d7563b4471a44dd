"""Case control for the people running live cases: cancel, suspend, resume, correct data.

Each action is one transaction on the case's own row and audit chain (guarded by its lock
version, like every step) and is audited with actor, reason and status or data before →
after. Who may act is the API's business (process owner and admin; cancel also team
lead); the services trust their caller.

Suspension rules (the README's "Operating live cases"):

* a suspended case's tasks stay in its queue but cannot be claimed, assigned or completed
  (409 ``case_suspended``); messages to it answer 409 ``case_suspended`` too (the sender
  retries later: nothing is queued on our side);
* its pending timers are *held* (``timer.state = "held"``): the worker does not fire them;
  at resume they are pending again with their original due times, so a timer that fell
  due while the case was suspended fires at the worker's next pass, once (a cycle timer
  catches up one firing at a time, as after any downtime); timers not yet due keep their
  time;
* data can be corrected while suspended; cancelling a suspended case ends it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlmodel import Session

from retention_flow.core.data_limits import check_limits
from retention_flow.core.errors import CaseConflict, CaseNotActive, CaseSuspended, ValidationFailed
from retention_flow.db.session import write_session
from retention_flow.engine.data_patch import merge_patch, patch_open_tasks
from retention_flow.engine.runtime import Operation, Runtime
from retention_flow.services.audit.trail import NewEvent, build_rows, diff, insert_rows
from retention_flow.services.cases.data_checks import check_data_patch, require_reason
from retention_flow.services.cases.views import CaseView, case_view, open_tasks
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for, process_of
from retention_flow.services.steps.runner import retrying, step_case
from retention_flow.services.steps.save import (
    CASE,
    INCIDENT,
    TIMER,
    CaseHead,
    _project_keys,
    checkout,
    load_head,
)

#: statuses a case can be cancelled / suspended / corrected in
CANCELLABLE = ("active", "incident", "suspended")
SUSPENDABLE = ("active", "incident")
CORRECTABLE = ("active", "incident", "suspended")

_MOVE_CASE = (
    update(CASE)
    .where(
        and_(
            CASE.c.id == bindparam("b_id"),
            CASE.c.lock_version == bindparam("b_lock"),
            CASE.c.audit_seq == bindparam("b_seq"),
        )
    )
    .values(
        status=bindparam("status"),
        data=bindparam("data"),
        lock_version=bindparam("lock_version"),
        audit_seq=bindparam("audit_seq"),
        audit_hash=bindparam("audit_hash"),
        audit_seal_key=bindparam("audit_seal_key"),
        audit_seal=bindparam("audit_seal"),
        updated_at=bindparam("updated_at"),
    )
)


def write_case(
    ctx: AppContext,
    session: Session,
    head: CaseHead,
    events: list[NewEvent],
    *,
    status: str | None = None,
    data: dict[str, Any] | None = None,
    state: str | None = None,
) -> CaseHead:
    """Change the case row without running its workflow (status, data, optionally the
    serialized state) and append ``events`` to its chain, conditional on the head as read:
    someone else's step meanwhile is a ``CaseConflict`` (retried on fresh state)."""
    now = ctx.now()
    rows, sealed = build_rows(
        head.id, head.id, head.audit_seq, head.audit_hash, events, now, ctx.audit_keys.current()
    )
    seq, digest = sealed.seq, sealed.hash
    new = replace(
        head,
        status=status or head.status,
        data=data if data is not None else head.data,
        lock_version=head.lock_version + 1,
        audit_seq=seq,
        audit_hash=digest,
        updated_at=now,
    )
    values = {
        "b_id": head.id,
        "b_lock": head.lock_version,
        "b_seq": head.audit_seq,
        "status": new.status,
        "data": new.data,
        "lock_version": new.lock_version,
        "audit_seq": seq,
        "audit_hash": digest,
        "audit_seal_key": sealed.seal_key,
        "audit_seal": sealed.seal,
        "updated_at": now,
    }
    statement = _MOVE_CASE
    if state is not None:
        statement = _MOVE_CASE.values(
            state=state, serializer_version=ctx.runtime.serializer_version
        )
    if session.connection().execute(statement, values).rowcount != 1:
        raise CaseConflict(f"case {head.id} was changed by someone else; try again")
    insert_rows(session, rows)
    return new


def _status_event(
    kind: str, actor: Actor, head: CaseHead, after: str, reason: str | None, **more: Any
) -> NewEvent:
    detail: dict[str, Any] = {"status_before": head.status, "status_after": after, **more}
    if reason:
        detail["reason"] = reason
    return NewEvent(kind, actor.username, detail=detail)


# --------------------------------------------------------------------------- cancel


def cancel_case(ctx: AppContext, actor: Actor, case_id: str, reason: str) -> CaseView:
    """End the case: its open tasks and timers are cancelled with it."""
    reason = require_reason(reason)

    def make(session: Session, head: CaseHead) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        if head.status == "suspended":  # held timers go with the case like pending ones
            _set_timers(session, head.id, "held", "pending")
        events = [
            _status_event("case_cancel_requested", actor, head, "cancelled", reason),
        ]
        return Runtime.cancel, events, {"cancelled": True}

    _result, view = step_case(ctx, actor, case_id, make, allowed_status=CANCELLABLE)
    return view


# --------------------------------------------------------------------------- suspend / resume


def _set_timers(session: Session, case_id: str, was: str, now: str) -> list[Any]:
    rows = list(
        session.execute(
            select(TIMER.c.id, TIMER.c.element_id, TIMER.c.due_at).where(
                and_(TIMER.c.case_id == case_id, TIMER.c.state == was)
            )
        )
    )
    if rows:
        session.execute(
            update(TIMER)
            .where(and_(TIMER.c.case_id == case_id, TIMER.c.state == was))
            .values(state=now, locked_by=None, locked_until=None)
        )
    return rows


def suspend_case(ctx: AppContext, actor: Actor, case_id: str, reason: str) -> CaseView:
    """Hold the case: no claims or completions, timers held, messages refused."""
    reason = require_reason(reason)

    def once() -> CaseView:
        with write_session(ctx.db) as session:
            head = load_head(session, case_id)
            if head.status == "suspended":
                raise CaseSuspended(f"case {case_id} is already suspended")
            if head.status not in SUSPENDABLE:
                raise CaseNotActive(f"case {case_id} is {head.status}")
            held = _set_timers(session, case_id, "pending", "held")
            event = _status_event(
                "case_suspended",
                actor,
                head,
                "suspended",
                reason,
                timers_held=sorted(r.element_id for r in held),
            )
            new = write_case(ctx, session, head, [event], status="suspended")
            view = case_view(new, open_tasks(session, case_id))
            session.commit()
        return view

    return retrying(once)


def resume_case(ctx: AppContext, actor: Actor, case_id: str, reason: str | None = None) -> CaseView:
    """Back to ``active`` (or ``incident`` when an incident is still open); held timers
    are pending again, those that fell due meanwhile fire at the worker's next pass."""
    reason = (reason or "").strip() or None

    def once() -> CaseView:
        with write_session(ctx.db) as session:
            head = load_head(session, case_id)
            if head.status != "suspended":
                raise CaseNotActive(f"case {case_id} is {head.status}, not suspended")
            incident = session.execute(
                select(INCIDENT.c.id).where(
                    and_(INCIDENT.c.case_id == case_id, INCIDENT.c.status == "open")
                )
            ).first()
            status = "incident" if incident is not None else "active"
            timers = _set_timers(session, case_id, "held", "pending")
            now = ctx.now()
            due = sorted(r.element_id for r in timers if _aware(r.due_at) < now)
            event = _status_event(
                "case_resumed",
                actor,
                head,
                status,
                reason,
                timers_released=sorted(r.element_id for r in timers),
                timers_due=due,
            )
            new = write_case(ctx, session, head, [event], status=status)
            view = case_view(new, open_tasks(session, case_id))
            session.commit()
        return view

    return retrying(once)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --------------------------------------------------------------------------- data


def patch_case_data(
    ctx: AppContext, actor: Actor, case_id: str, patch: Any, reason: str
) -> CaseView:
    """Correct the case data with a JSON merge patch (RFC 7396), checked against the
    types the bundle's forms declare. No workflow step runs: the open tasks get the
    corrected data and the case stays where it is (also when suspended)."""
    reason = require_reason(reason)

    def once() -> tuple[CaseView, Any, int]:
        with write_session(ctx.db) as session:
            head = load_head(session, case_id)
            if head.status not in CORRECTABLE:
                raise CaseNotActive(f"case {case_id} is {head.status}")
            bundle = bundle_for(ctx, session, head.deployment_id)
            new_data = merge_patch(head.data, check_data_patch(bundle, head.data, patch))
            check_limits(new_data, ctx.data_limits)  # the corrected data stays within limits
            old, new = diff(head.data, new_data)
            if not new:
                raise ValidationFailed(
                    "the patch changes nothing", errors=[{"field": "patch", "message": "no change"}]
                )
            wf = checkout(ctx, session, head, process_of(bundle, head.process_id))
            patch_open_tasks(patch)(wf)
            event = NewEvent(
                "case_data_patched",
                actor.username,
                data_before=old,
                data_after=new,
                detail={"reason": reason, "patch": patch},
            )
            updated = write_case(
                ctx, session, head, [event], data=new_data, state=ctx.runtime.dump(wf)
            )
            _project_keys(session, head, bundle, new_data, fresh=False)
            view = case_view(updated, open_tasks(session, case_id))
            session.commit()
        return view, wf, updated.lock_version

    view, wf, lock = retrying(once)
    ctx.live.put(case_id, lock, wf)
    return view
