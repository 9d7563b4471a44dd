"""Where a read page ends, written exactly once.

A page row leaves ``queued`` (or an exception's ``assigning``) in the same transaction as
what routes it, so a crash or a re-delivered job can never route it twice:

* :func:`deliver` correlates ``response_form_received`` to the case with the page's case
  number *and* writes the page's row inside that case step (one commit). The step first
  locks the page's scan row and checks the page is still in the expected state; if it is
  not (another worker got there first), nothing is written.
* :func:`open_exception` starts the page's back-office exception case (idempotent on the
  page, so a retry finds the same case) and then writes the page row under the same lock
  and check.

The scan becomes ``read`` in the transaction that writes its last queued page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlmodel import Session

from retention_flow.core.errors import RetentionFlowError
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import PROCESS_VERSION, SCAN, SCAN_PAGE
from retention_flow.engine.bundle import load_bundle_path
from retention_flow.engine.runtime import Operation, Runtime
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases import control as case_control
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models import deployments as processes
from retention_flow.services.steps.runner import step_case
from retention_flow.services.steps.save import CaseHead

MESSAGE = "response_form_received"
EXCEPTION_PROCESS = "scan_exception"
#: the shipped bundle with the exception process (repository root / processes / intake)
INTAKE_BUNDLE = Path(__file__).resolve().parents[4] / "processes" / "intake"
INTAKE_ACTOR = Actor("scan-intake", frozenset({"system", "back_office"}))

log = logging.getLogger(__name__)

PageCheck = Callable[[Mapping[str, Any]], bool]


def is_queued(page: Mapping[str, Any]) -> bool:
    return bool(page["status"] == "queued")


class _AlreadyRouted(Exception):
    """The page is no longer in the state this routing expected (someone else routed it)."""


def lock_page(session: Session, scan_id: str, page_no: int) -> Mapping[str, Any] | None:
    """The page's row, with its scan locked: page writes of one scan are serialised
    (a row lock on PostgreSQL; SQLite has one writer anyway)."""
    query = select(SCAN.c.id).where(SCAN.c.id == scan_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    session.execute(query)
    return _page_state(session, scan_id, page_no)


def _page_state(session: Session, scan_id: str, page_no: int) -> Mapping[str, Any] | None:
    row = (
        session.execute(
            select(
                SCAN_PAGE.c.status,
                SCAN_PAGE.c.resolution,
                SCAN_PAGE.c.exception_case_id,
                SCAN_PAGE.c.reasons,
            ).where(and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no))
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def write_page(session: Session, scan_id: str, page_no: int, values: dict[str, Any]) -> None:
    session.execute(
        update(SCAN_PAGE)
        .where(and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no))
        .values(**values)
    )
    left = session.execute(
        select(func.count())
        .select_from(SCAN_PAGE)
        .where(and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.status == "queued"))
    ).scalar_one()
    if not left:
        session.execute(
            update(SCAN)
            .where(and_(SCAN.c.id == scan_id, SCAN.c.status == "reading"))
            .values(status="read")
        )


# --------------------------------------------------------------------------- deliver


def deliver(
    ctx: AppContext,
    actor: Actor,
    scan_id: str,
    page_no: int,
    case_number: str,
    payload: dict[str, Any],
    values: dict[str, Any],
    expect: PageCheck = is_queued,
) -> bool:
    """Correlate the page to its case and write ``values`` to its row, in one step.

    False when the page was routed by someone else meanwhile. Raises the correlation's
    error (no open case, case not waiting...) with nothing written.
    """

    def make(session: Session, head: CaseHead) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        page = lock_page(session, scan_id, page_no)
        if page is None or not expect(page):
            raise _AlreadyRouted
        write_page(session, scan_id, page_no, {**values, "case_id": head.id})
        events = [
            NewEvent(
                "message_correlated",
                actor.username,
                data_after=payload,
                detail={
                    "message": MESSAGE,
                    "correlation": {"case_number": case_number},
                    "scan_id": scan_id,
                    "page_no": page_no,
                },
            )
        ]
        return Runtime.deliver_message(MESSAGE, payload), events, {}

    def find(session: Session) -> str:
        return cases.find_case_for(session, {"case_number": case_number})

    try:
        step_case(ctx, actor, find, make)
    except _AlreadyRouted:
        return False
    return True


# --------------------------------------------------------------------------- exceptions


def ensure_exception_process(ctx: AppContext) -> None:
    """Deploy the shipped intake bundle when no version of the exception process is."""
    with read_session(ctx.db) as session:
        known = session.execute(
            select(PROCESS_VERSION.c.id)
            .where(PROCESS_VERSION.c.process_id == EXCEPTION_PROCESS)
            .limit(1)
        ).first()
    if known is None:
        processes.deploy(ctx, load_bundle_path(INTAKE_BUNDLE), INTAKE_ACTOR)


def open_exception(
    ctx: AppContext,
    scan_id: str,
    page_no: int,
    values: dict[str, Any],
    case_data: dict[str, Any],
    *,
    key: str,
    expect: PageCheck = is_queued,
) -> bool:
    """Start the page's exception case (idempotent on ``key``) and write the page row as
    an exception that case resolves. False when the page was routed meanwhile."""
    reasons = list(values.get("reasons") or [])
    exception_case: str | None = None
    with read_session(ctx.db) as session:  # routed meanwhile: no exception case to open
        current = _page_state(session, scan_id, page_no)
        if current is None or not expect(current):
            return False
    try:
        ensure_exception_process(ctx)
        started = cases.start_case(
            ctx, INTAKE_ACTOR, EXCEPTION_PROCESS, case_data, idempotency_key=key
        )
        exception_case = started.id
    except RetentionFlowError as exc:  # the page is still stored and visible as exception
        log.warning("no exception task for scan %s page %s: %s", scan_id, page_no, exc.detail)
        reasons.append(f"no exception task could be opened: {exc.detail}")
    with write_session(ctx.db) as session:
        page = lock_page(session, scan_id, page_no)
        if page is None or not expect(page):
            session.rollback()
            _drop_unused(ctx, exception_case, page)
            return False
        write_page(
            session,
            scan_id,
            page_no,
            {
                **values,
                "status": "exception",
                "reasons": reasons,
                "exception_case_id": exception_case,
                "resolution": None,
            },
        )
        session.commit()
    return True


def _drop_unused(ctx: AppContext, case_id: str | None, page: Mapping[str, Any] | None) -> None:
    """Another worker routed the page while we opened its exception case: cancel ours."""
    if case_id is None or (page is not None and page["exception_case_id"] == case_id):
        return
    try:
        case_control.cancel_case(
            ctx, INTAKE_ACTOR, case_id, "the page was routed by another worker"
        )
    except RetentionFlowError as exc:
        log.warning("exception case %s not cancelled: %s", case_id, exc.detail)
