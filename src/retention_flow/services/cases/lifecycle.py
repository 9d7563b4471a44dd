"""Case use cases: start (idempotent), read, correlate a message, fire timers. Each is
one transaction around one workflow step. Incidents live in ``incidents``; cancel,
suspend, resume and data corrections in ``case_control``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core import strict_json
from retention_flow.core.data_limits import check_case_data
from retention_flow.core.errors import Conflict, MessageNotCorrelated, ValidationFailed
from retention_flow.core.text_rules import check_name
from retention_flow.db.session import read_session, write_session
from retention_flow.engine.runtime import Operation, Runtime
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.views import BeforeCommit, CaseView, case_view, open_tasks
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import (
    bundle_for,
    process_of,
    resolve_version,
)
from retention_flow.services.routing.segments import segment_of
from retention_flow.services.steps.runner import new_open, run_and_save, step_case
from retention_flow.services.steps.save import CASE, KEYS, TIMER, CaseHead, load_head, new_head


def _check_data(ctx: AppContext, data: Any, what: str = "data") -> dict[str, Any]:
    return check_case_data(data, ctx.data_limits, what)


# --------------------------------------------------------------------------- start


def start_case(
    ctx: AppContext,
    actor: Actor,
    process_id: str,
    data: dict[str, Any] | None = None,
    *,
    business_key: str | None = None,
    idempotency_key: str | None = None,
    version: int | None = None,
    before_commit: BeforeCommit | None = None,
) -> CaseView:
    """Start a case; answers its view.

    ``idempotency_key`` is a *natural* key unique over all cases (stored on the case):
    for system starters whose key names the thing started (a scan page's exception, a
    demo case). Requests from users go through ``start_case_once``, whose keys are per
    user. ``before_commit(session, view)`` writes more in the start's own transaction
    (not called when the natural key answers an existing case).
    """
    data = _check_data(ctx, data or {})
    if business_key is not None:
        check_name(business_key, "business_key")
    if idempotency_key is not None:
        existing = _by_idempotency_key(ctx, idempotency_key, process_id)
        if existing is not None:
            return existing
    try:
        return _start(
            ctx,
            actor,
            process_id,
            data,
            business_key,
            idempotency_key,
            version,
            before_commit=before_commit,
        )
    except IntegrityError as exc:
        if idempotency_key is not None:
            existing = _by_idempotency_key(ctx, idempotency_key, process_id)
            if existing is not None:
                return existing
        if business_key is not None:
            raise Conflict(
                f"business key '{business_key}' is already used by another case"
            ) from exc
        raise


def _by_idempotency_key(ctx: AppContext, key: str, process_id: str) -> CaseView | None:
    with read_session(ctx.db) as session:
        case_id = session.execute(
            select(CASE.c.id).where(CASE.c.idempotency_key == key)
        ).scalar_one_or_none()
        if case_id is None:
            return None
        head = load_head(session, case_id)
        if head.process_id != process_id:
            raise Conflict(
                f"idempotency key '{key}' was used to start a case of process '{head.process_id}'"
            )
        return case_view(head, open_tasks(session, case_id))


def _start(
    ctx: AppContext,
    actor: Actor,
    process_id: str,
    data: dict[str, Any],
    business_key: str | None,
    idempotency_key: str | None,
    version: int | None,
    *,
    operation: Operation | None = None,
    started_by: NewEvent | None = None,
    before_commit: BeforeCommit | None = None,
) -> CaseView:
    """Insert and run a new case in one transaction. ``operation`` runs first (a start
    message or signal); ``started_by`` is audited after ``case_started``; ``before_commit``
    writes more in the same transaction (an idempotency answer)."""
    with write_session(ctx.db) as session:
        if business_key is not None:
            taken = session.execute(
                select(CASE.c.id).where(CASE.c.business_key == business_key)
            ).first()
            if taken is not None:
                raise Conflict(f"business key '{business_key}' is already used by another case")
        version, deployment_id = resolve_version(session, process_id, version)
        bundle = bundle_for(ctx, session, deployment_id)
        process = process_of(bundle, process_id)
        case_id = str(uuid.uuid4())
        head, insert_cols = new_head(
            case_id=case_id,
            process=process,
            version=version,
            deployment_id=deployment_id,
            business_key=business_key,
            idempotency_key=idempotency_key,
            actor=actor.username,
            starter_role=actor.primary_role,
            now=ctx.now(),
            data={},
        )
        segment = segment_of(bundle, data)
        head = replace(head, segment=segment)
        insert_cols["segment"] = segment
        wf = ctx.runtime.new(process, data)
        events = [
            NewEvent(
                "case_started",
                actor.username,
                data_after=data,
                detail={
                    "process_id": process_id,
                    "version": version,
                    "business_key": business_key,
                    **({"segment": segment} if segment else {}),
                },
            )
        ]
        if started_by is not None:
            events.append(started_by)
        result, wf = run_and_save(
            ctx,
            session,
            head,
            wf,
            bundle,
            operation,
            lambda: ctx.runtime.new(process, data),
            events,
            actor,
            insert_case=insert_cols,
            base_data=data,
        )
        view = case_view(result.head, new_open(result))
        if before_commit is not None:
            before_commit(session, view)
        session.commit()
    ctx.live.put(case_id, result.head.lock_version, wf)
    return view


# --------------------------------------------------------------------------- read


def get_case(ctx: AppContext, case_id: str) -> CaseView:
    with read_session(ctx.db) as session:
        head = load_head(session, case_id)
        return case_view(head, open_tasks(session, case_id))


def list_cases(
    ctx: AppContext,
    *,
    status: str | None = None,
    channel: str | None = None,
    process_id: str | None = None,
    business_key: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CaseView], int]:
    from sqlalchemy import func

    from retention_flow.services.steps.save import HEAD_COLUMNS

    conditions = []
    for column, value in (
        ("status", status),
        ("channel", channel),
        ("process_id", process_id),
        ("business_key", business_key),
    ):
        if value is not None:
            conditions.append(CASE.c[column] == value)
    where = and_(*conditions) if conditions else None
    with read_session(ctx.db) as session:
        query = select(*HEAD_COLUMNS).order_by(CASE.c.created_at.desc()).limit(limit).offset(offset)
        count = select(func.count()).select_from(CASE)
        if where is not None:
            query, count = query.where(where), count.where(where)
        heads = [CaseHead(**r) for r in session.execute(query).mappings()]
        total = int(session.execute(count).scalar_one())
        return [case_view(h, open_tasks(session, h.id)) for h in heads], total


# --------------------------------------------------------------------------- messages


def find_case_for(session: Session, correlation: dict[str, Any]) -> str:
    """The one active case matching every correlation key (case_id, business_key, or a
    key the bundle declared in ``correlation_keys``)."""
    if not correlation:
        raise ValidationFailed(
            "correlation needs at least one key",
            errors=[{"field": "correlation", "message": "empty"}],
        )
    # a suspended case is found too: the step then answers case_suspended (409)
    query = select(CASE.c.id).where(CASE.c.status.in_(("active", "incident", "suspended")))
    for key, value in correlation.items():
        if key in ("case_id", "id"):
            query = query.where(CASE.c.id == str(value))
        elif key == "business_key":
            query = query.where(CASE.c.business_key == str(value))
        else:
            sub = select(KEYS.c.case_id).where(and_(KEYS.c.key == key, KEYS.c.value == str(value)))
            query = query.where(CASE.c.id.in_(sub))
    ids = list(session.execute(query.limit(2)).scalars())
    if not ids:
        raise MessageNotCorrelated(f"no open case matches {correlation}")
    if len(ids) > 1:
        raise Conflict(f"more than one open case matches {correlation}")
    return str(ids[0])


def correlate_message(
    ctx: AppContext,
    actor: Actor,
    message_name: str,
    correlation: dict[str, Any],
    data: dict[str, Any] | None = None,
    before_commit: BeforeCommit | None = None,
) -> CaseView:
    """Deliver a message to the one open case matching ``correlation``; answers the case.
    ``before_commit`` writes more in the step's transaction (see ``step_case``)."""
    payload = _check_data(ctx, data or {})
    strict_json.check(correlation, "correlation")

    def make(
        _session: Session, _head: CaseHead
    ) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        events = [
            NewEvent(
                "message_correlated",
                actor.username,
                data_after=payload,
                detail={"message": message_name, "correlation": correlation},
            )
        ]
        return Runtime.deliver_message(message_name, payload), events, {}

    # the case is looked up inside the step's own transaction: one session, not two
    _result, view = step_case(
        ctx,
        actor,
        lambda session: find_case_for(session, correlation),
        make,
        before_commit=before_commit,
    )
    return view


# --------------------------------------------------------------------------- timers


def fire_due_timers(ctx: AppContext, case_id: str) -> list[str]:
    """Fire this case's timers that are due now; returns the elements that fired."""
    now = ctx.now()
    fired: list[str] = []

    def make(session: Session, head: CaseHead) -> tuple[None, list[NewEvent], dict[str, Any]]:
        due = session.execute(
            select(TIMER.c.id, TIMER.c.element_id).where(
                and_(TIMER.c.case_id == head.id, TIMER.c.state == "pending", TIMER.c.due_at < now)
            )
        ).all()
        fired[:] = [r.element_id for r in due]
        events = [
            NewEvent("timer_fired", "clock", element_id=r.element_id, task_id=r.id) for r in due
        ]
        return None, events, {"escalate": _escalations(ctx, session, head, fired)}

    step_case(ctx, Actor.system(), case_id, make)
    return fired


ESCALATED_PRIORITY = 90


def _escalations(
    ctx: AppContext, session: Session, head: CaseHead, fired: list[str]
) -> dict[str, int]:
    """Tasks whose non-interrupting SLA timer fires now: element id -> new priority."""
    bundle = bundle_for(ctx, session, head.deployment_id)
    result: dict[str, int] = {}
    for element in fired:
        boundary = bundle.boundaries.get(element)
        if boundary is None or boundary.interrupting:
            continue
        metas = [m for (_spec, eid), m in bundle.user_tasks.items() if eid == boundary.attached_to]
        target = next(
            (m.escalated_priority for m in metas if m.escalated_priority is not None), None
        )
        result[boundary.attached_to] = target if target is not None else ESCALATED_PRIORITY
    return result
