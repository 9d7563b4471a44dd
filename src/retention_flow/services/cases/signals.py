"""Signals: one broadcast reaches every case that waits for it, and starts a case of
every process whose start event catches it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from retention_flow.core.data_limits import check_case_data
from retention_flow.core.errors import (
    CaseNotActive,
    CaseSuspended,
    MessageNotCorrelated,
    ValidationFailed,
)
from retention_flow.db import tables
from retention_flow.db.session import read_session
from retention_flow.engine.runtime import Operation, Runtime
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases.start_events import start_by_signal
from retention_flow.services.cases.views import SignalOutcome, SignalSkipped
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.runner import step_case
from retention_flow.services.steps.save import CaseHead

SIGNAL_WAIT = tables.SIGNAL_WAIT
CASE = tables.CASE
#: cases one request reaches at most; a broadcast to more answers ``remaining`` and is
#: sent again (each case catches a signal once: a case that caught it waits no more)
MAX_PER_REQUEST = 5000


def waiting_cases(ctx: AppContext, name: str, limit: int) -> tuple[list[str], int]:
    """Active and suspended cases waiting for signal ``name`` (oldest first, at most
    ``limit``) and how many wait in all. A suspended case does not catch it: it is
    answered as skipped, so the sender knows whom the signal missed."""
    where = (SIGNAL_WAIT.c.name == name) & CASE.c.status.in_(("active", "suspended"))
    joined = SIGNAL_WAIT.join(CASE, CASE.c.id == SIGNAL_WAIT.c.case_id)
    with read_session(ctx.db) as session:
        ids = session.execute(
            select(SIGNAL_WAIT.c.case_id)
            .select_from(joined)
            .where(where)
            .order_by(CASE.c.created_at, CASE.c.id)
            .limit(limit)
        ).scalars()
        found = [str(i) for i in ids]
        total = len(found)
        if total == limit:
            total = int(
                session.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
            )
    return found, total


def broadcast(
    ctx: AppContext, actor: Actor, name: str, data: dict[str, Any] | None = None
) -> SignalOutcome:
    """Deliver signal ``name`` with ``data`` to every active case that waits for it (each
    in its own step transaction, audited), and start the processes it starts."""
    if not name.strip():
        raise ValidationFailed(
            "a signal needs a name", errors=[{"field": "name", "message": "empty"}]
        )
    payload = check_case_data(dict(data or {}), ctx.data_limits)
    started = [case.id for case in start_by_signal(ctx, actor, name, payload)]
    targets, waiting = waiting_cases(ctx, name, MAX_PER_REQUEST)
    delivered: list[str] = []
    skipped: list[SignalSkipped] = []

    def make(
        _session: Session, _head: CaseHead
    ) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        event = NewEvent(
            "signal_received", actor.username, data_after=payload, detail={"signal": name}
        )
        return Runtime.deliver_signal(name, payload), [event], {}

    for case_id in targets:
        try:
            step_case(ctx, actor, case_id, make)
        except (CaseNotActive, CaseSuspended, MessageNotCorrelated) as exc:  # ended, held, moved on
            skipped.append(SignalSkipped(case_id=case_id, reason=exc.detail))
        else:
            delivered.append(case_id)
    return SignalOutcome(
        signal=name,
        delivered=delivered,
        started=started,
        skipped=skipped,
        remaining=max(0, waiting - len(targets)),
    )
