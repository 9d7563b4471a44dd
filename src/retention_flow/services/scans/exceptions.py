"""The back-office exception queue for scanned pages that could not be routed.

An exception page has its own case of the ``scan_exception`` process (processes/intake):
its *Resolve scan exception* task sits in the back_office queue (``GET /api/tasks``) with
the page's reasons and image URL in the task context. Completing it — through
``POST /api/scans/{id}/pages/{n}/resolve`` (:func:`resolve`, which checks the case number
first and answers with the page) or the ordinary task completion — runs the
``resolve_scan_page`` service task inside that step:

* discard → the page row is marked ``discarded`` in the same transaction, audited;
* assign → the page is marked ``assigning`` and a ``scan_page_assign`` job is queued in
  the same transaction; the job (:func:`assign_scan_page`, also run at once by
  :func:`resolve`) delivers the page to the named case as a form to *verify* (a person
  still confirms the ticked offer) and marks it ``assigned`` in that case's step. If the
  named case does not take it, the page gets a new exception task with the reason: a page
  is never dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, insert, select, update

from retention_flow.core.errors import Conflict, RetentionFlowError, ScriptError, ValidationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import JOB, SCAN_PAGE, WORK_ITEM
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.cases import lifecycle as cases
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.scans.ocr_jobs import exception_data, load_page
from retention_flow.services.scans.outcome import deliver, open_exception
from retention_flow.services.steps.scope import current_step
from retention_flow.services.tasks import work_items as tasks

ASSIGN_JOB = "scan_page_assign"
RESOLVE_TASK = "resolve_scan_exception"


def _job_id(exception_case_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"scan-assign:{exception_case_id}"))


def _assign_payload(
    scan_id: str, page_no: int, case_number: str, exception_case_id: str, by: str
) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "page_no": page_no,
        "case_number": case_number,
        "exception_case_id": exception_case_id,
        "by": by,
    }


# --------------------------------------------------------------------------- service task


def resolve_scan_page(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Service task of the exception process: record the back office's decision."""
    step = current_step()
    scan_id, page_no = str(params.get("scan_id")), int(params.get("page_no") or 0)
    decision = data.get("decision")
    conn = step.connection()
    page = conn.execute(
        select(SCAN_PAGE.c.exception_case_id, SCAN_PAGE.c.resolution).where(
            and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
        )
    ).first()
    if page is None or page.exception_case_id != step.case_id:
        raise ScriptError(f"page {page_no} of scan {scan_id} is not this exception's page")
    if page.resolution is not None:  # the step is retried: it was recorded already
        return {"status": page.resolution}
    where = and_(SCAN_PAGE.c.scan_id == scan_id, SCAN_PAGE.c.page_no == page_no)
    detail: dict[str, Any] = {"scan_id": scan_id, "page_no": page_no, "reason": data.get("reason")}
    if decision == "discard":
        conn.execute(
            update(SCAN_PAGE).where(where).values(resolution="discarded", resolved_by=step.actor)
        )
        step.events.append(NewEvent("scan_page_discarded", step.actor, detail=detail))
        return {"status": "discarded"}
    if decision != "assign" or not data.get("case_number"):
        raise ScriptError("decision must be 'discard', or 'assign' with a case_number")
    case_number = str(data["case_number"])
    job_id = _job_id(step.case_id)
    conn.execute(
        insert(JOB).values(
            id=job_id,
            kind=ASSIGN_JOB,
            payload=_assign_payload(scan_id, page_no, case_number, step.case_id, step.actor),
            state="queued",
            run_at=step.now,
            attempts=0,
            max_attempts=5,
            created_at=step.now,
        )
    )
    conn.execute(
        update(SCAN_PAGE).where(where).values(resolution="assigning", resolved_by=step.actor)
    )
    step.events.append(
        NewEvent("scan_page_assigned", step.actor, detail={**detail, "case_number": case_number})
    )
    return {"status": "assigning", "job_id": job_id, "case_number": case_number}


# --------------------------------------------------------------------------- job


def assign_scan_page(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Job: deliver an assigned exception page to the named case (idempotent)."""
    scan_id, page_no = str(payload["scan_id"]), int(payload["page_no"])
    number, owner = str(payload["case_number"]), str(payload["exception_case_id"])
    by = str(payload["by"])

    def expect(page: Mapping[str, Any]) -> bool:
        return bool(page["exception_case_id"] == owner and page["resolution"] == "assigning")

    page = load_page(ctx, scan_id, page_no)
    if not expect(page):
        return
    message: dict[str, Any] = {
        str(f["target"]): f.get("value")
        for f in readable.objects(page["fields"])
        if f.get("target")
    }
    message.update(
        case_number=number, uncertain=True, scan_id=scan_id, page_no=page_no, assigned_by=by
    )
    values: dict[str, Any] = {
        "status": "verification",
        "case_number": number,
        "resolution": "assigned",
    }
    actor = Actor(str(by), frozenset({"back_office"}))
    try:
        deliver(ctx, actor, scan_id, page_no, number, message, values, expect)
    except RetentionFlowError as exc:
        reasons = [
            *readable.names(page["reasons"]),
            f"assigned to {number} by {by}; the case did not take the form: {exc.detail}",
        ]
        values = {"reasons": reasons, "case_number": page["case_number"]}
        data = exception_data(scan_id, page_no, page["filename"], {**page, **values})
        key = f"scan-exception:{scan_id}:{page_no}:{owner}"
        open_exception(ctx, scan_id, page_no, values, data, key=key, expect=expect)


# --------------------------------------------------------------------------- resolve


def resolve(
    ctx: AppContext,
    actor: Actor,
    scan_id: str,
    page_no: int,
    *,
    decision: str,
    case_number: str | None = None,
    reason: str | None = None,
) -> None:
    """Complete the page's exception task: assign it to ``case_number`` (checked first:
    an open case must carry it) or discard it with ``reason``."""
    page = load_page(ctx, scan_id, page_no)
    owner = page["exception_case_id"]
    if page["status"] != "exception" or owner is None or page["resolution"] is not None:
        raise Conflict(f"page {page_no} of scan {scan_id} is not an open exception")
    if decision == "assign":
        if not case_number:
            raise ValidationFailed(
                "assign needs a case number",
                errors=[{"field": "case_number", "message": "required"}],
            )
        with read_session(ctx.db) as session:
            cases.find_case_for(session, {"case_number": case_number})  # 404 when none
    with read_session(ctx.db) as session:
        task_id = session.execute(
            select(WORK_ITEM.c.id).where(
                and_(
                    WORK_ITEM.c.case_id == owner,
                    WORK_ITEM.c.element_id == RESOLVE_TASK,
                    WORK_ITEM.c.state.in_(("ready", "claimed")),
                )
            )
        ).scalar_one_or_none()
    if task_id is None:
        raise Conflict(f"the exception task of page {page_no} of scan {scan_id} is not open")
    form = {"decision": decision, "case_number": case_number, "reason": reason}
    tasks.complete(ctx, actor, str(task_id), {k: v for k, v in form.items() if v is not None})
    if decision == "assign" and case_number:
        assign_scan_page(ctx, _assign_payload(scan_id, page_no, case_number, owner, actor.username))
        with write_session(ctx.db) as session:  # done here: the worker need not run it again
            session.execute(
                update(JOB)
                .where(and_(JOB.c.id == _job_id(owner), JOB.c.state == "queued"))
                .values(state="done", finished_at=ctx.now())
            )
            session.commit()
