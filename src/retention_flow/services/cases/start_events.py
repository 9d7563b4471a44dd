"""Cases started by an event from outside: a message or signal that a deployed process's
start event catches. The latest version of each process is the one that starts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from retention_flow.core.errors import Conflict, MessageNotCorrelated
from retention_flow.db import tables
from retention_flow.db.session import read_session
from retention_flow.engine.bundle import ProcessInfo
from retention_flow.engine.runtime import Runtime
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.lifecycle import _start, correlate_message
from retention_flow.services.cases.views import BeforeCommit, CaseView, answer_of, recording
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.platform.idempotency import Answer, Record, idempotent
from retention_flow.services.process_models.deployments import bundle_for, process_of

PV = tables.PROCESS_VERSION


def _latest_processes(ctx: AppContext, session: Session) -> list[tuple[ProcessInfo, int]]:
    """Every deployed process at its latest version, compiled (from the spec cache)."""
    latest = (
        select(PV.c.process_id, func.max(PV.c.version).label("version"))
        .group_by(PV.c.process_id)
        .subquery()
    )
    rows = session.execute(
        select(PV.c.process_id, PV.c.version, PV.c.deployment_id).join(
            latest,
            (PV.c.process_id == latest.c.process_id) & (PV.c.version == latest.c.version),
        )
    ).all()
    found = []
    for process_id, version, deployment_id in rows:
        bundle = bundle_for(ctx, session, str(deployment_id))
        found.append((process_of(bundle, str(process_id)), int(version)))
    return found


def processes_started_by(ctx: AppContext, kind: str, name: str) -> list[tuple[ProcessInfo, int]]:
    """The latest processes whose start event catches the message or signal ``name``."""
    with read_session(ctx.db) as session:
        processes = _latest_processes(ctx, session)
    attr = "start_messages" if kind == "message" else "start_signals"
    return sorted(
        ((p, v) for p, v in processes if name in getattr(p, attr)),
        key=lambda pv: pv[0].process_id,
    )


def start_by_message(
    ctx: AppContext,
    actor: Actor,
    message_name: str,
    correlation: dict[str, Any],
    payload: dict[str, Any],
    before_commit: BeforeCommit | None = None,
) -> CaseView | None:
    """Start a case of the one process whose start event catches ``message_name``; None
    when no process does. The correlation values become the case's start data (so later
    messages correlate on them); the payload arrives through the start event."""
    starters = processes_started_by(ctx, "message", message_name)
    if not starters:
        return None
    if len(starters) > 1:
        names = ", ".join(p.process_id for p, _ in starters)
        raise Conflict(f"message '{message_name}' starts more than one process ({names})")
    process, version = starters[0]
    start_data = {k: v for k, v in correlation.items() if k not in ("case_id", "id")}
    business_key = start_data.pop("business_key", None)
    return _start(
        ctx,
        actor,
        process.process_id,
        start_data,
        str(business_key) if business_key is not None else None,
        None,
        version,
        operation=Runtime.start_by_event(Runtime.deliver_message(message_name, payload)),
        started_by=NewEvent(
            "message_correlated",
            actor.username,
            data_after=payload,
            detail={"message": message_name, "correlation": correlation, "started": True},
        ),
        before_commit=before_commit,
    )


def start_by_signal(
    ctx: AppContext, actor: Actor, signal_name: str, payload: dict[str, Any]
) -> list[CaseView]:
    """Start one case of every latest process whose start event catches the signal."""
    started = []
    for process, version in processes_started_by(ctx, "signal", signal_name):
        started.append(
            _start(
                ctx,
                actor,
                process.process_id,
                {},
                None,
                None,
                version,
                operation=Runtime.start_by_event(Runtime.deliver_signal(signal_name, payload)),
                started_by=NewEvent(
                    "signal_received",
                    actor.username,
                    data_after=payload,
                    detail={"signal": signal_name, "started": True},
                ),
            )
        )
    return started


def receive_message(
    ctx: AppContext,
    actor: Actor,
    message_name: str,
    correlation: dict[str, Any],
    data: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> Answer:
    """A message from outside: delivered to the one open case that matches ``correlation``
    and waits for it; when none does and a process starts with this message, a new case
    of it. Once per (user, message name, idempotency key): the answer commits with the
    step, and a repeat answers it again as a replay (see ``idempotency``)."""
    payload = data or {}

    def deliver_or_start(record: Record | None) -> dict[str, Any]:
        keep = recording(record)
        try:
            return answer_of(
                correlate_message(ctx, actor, message_name, correlation, payload, keep)
            )
        except MessageNotCorrelated:
            started = start_by_message(ctx, actor, message_name, correlation, payload, keep)
            if started is None:
                raise
            return answer_of(started)

    request = {"correlation": correlation, "data": data}
    return idempotent(
        ctx, actor, f"message:{message_name}", idempotency_key, request, deliver_or_start
    )
