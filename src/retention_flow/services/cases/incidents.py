"""Incidents: a failed automatic step (``steps.save_step`` records it with the element,
the error and its code, the case data at failure, the process version). List, read and
retry them, one at a time with an optional data correction, or in bulk
(``incident_batches``).

A case has at most one open incident: it waits at the failed element in status
``incident``. A retry runs the element again on the case's state (after the correction,
if any) in the case's own step; it resolves the incident whether the step now succeeds
or fails again (a new incident is then raised, with the new error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import IncidentNotOpen, NotFound
from retention_flow.db.session import read_session
from retention_flow.engine.data_patch import merge_patch, patch_open_tasks
from retention_flow.engine.runtime import Operation
from retention_flow.services.audit.trail import NewEvent, diff
from retention_flow.services.cases.data_checks import check_data_patch, require_reason
from retention_flow.services.cases.views import (
    BeforeCommit,
    CaseView,
    IncidentCount,
    IncidentDetailView,
    IncidentView,
)
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for
from retention_flow.services.steps.runner import step_case
from retention_flow.services.steps.save import CASE, INCIDENT, CaseHead

STATUSES = ("open", "resolved", "all")


def incident_filter(
    *,
    process_id: str | None = None,
    version: int | None = None,
    element_id: str | None = None,
    error_code: str | None = None,
    since: datetime | None = None,
    status: str = "open",
) -> list[Any]:
    """SQL conditions on the incident table for the list's (and bulk retry's) filter."""
    conditions: list[Any] = []
    if status != "all":
        conditions.append(INCIDENT.c.status == status)
    for column, value in (
        (INCIDENT.c.process_id, process_id),
        (INCIDENT.c.process_version, version),
        (INCIDENT.c.element_id, element_id),
        (INCIDENT.c.error_code, error_code),
    ):
        if value is not None:
            conditions.append(column == value)
    if since is not None:
        conditions.append(INCIDENT.c.created_at >= since)
    return conditions


_LIST_COLUMNS = (
    INCIDENT.c.id,
    INCIDENT.c.case_id,
    CASE.c.business_key,
    CASE.c.status.label("case_status"),
    INCIDENT.c.process_id,
    INCIDENT.c.process_version,
    INCIDENT.c.element_id,
    INCIDENT.c.error_type,
    INCIDENT.c.error_code,
    INCIDENT.c.message,
    INCIDENT.c.status,
    INCIDENT.c.created_at,
    INCIDENT.c.resolved_at,
    INCIDENT.c.resolved_by,
)


def _shown(row: Any) -> dict[str, Any]:
    out = {c.name: row[c.name] for c in _LIST_COLUMNS}
    out["error"] = f"{row['error_type']}: {row['message']}"
    for key in ("created_at", "resolved_at"):
        out[key] = utc_iso(out[key]) if out[key] is not None else None
    del out["message"]
    return out


def list_incidents(
    ctx: AppContext, *, limit: int = 50, offset: int = 0, **filters: Any
) -> tuple[list[IncidentView], int]:
    """Newest first; ``filters`` as ``incident_filter``."""
    conditions = incident_filter(**filters)
    where = and_(*conditions) if conditions else None
    query = (
        select(*_LIST_COLUMNS)
        .join(CASE, CASE.c.id == INCIDENT.c.case_id)
        .order_by(INCIDENT.c.created_at.desc(), INCIDENT.c.id)
        .limit(limit)
        .offset(offset)
    )
    count = select(func.count()).select_from(INCIDENT)
    if where is not None:
        query, count = query.where(where), count.where(where)
    with read_session(ctx.db) as session:
        rows = [IncidentView.of(_shown(r)) for r in session.execute(query).mappings()]
        return rows, int(session.execute(count).scalar_one())


def incident_counts(ctx: AppContext, **filters: Any) -> list[IncidentCount]:
    """How many incidents match ``filters`` (as ``incident_filter``) per process, version,
    element and error code, the largest group first."""
    conditions = incident_filter(**filters)
    keys = (
        INCIDENT.c.process_id,
        INCIDENT.c.process_version,
        INCIDENT.c.element_id,
        INCIDENT.c.error_code,
    )
    query = select(*keys, func.count().label("count")).group_by(*keys)
    if conditions:
        query = query.where(and_(*conditions))
    with read_session(ctx.db) as session:
        rows = [IncidentCount.of(r) for r in session.execute(query).mappings()]
    return sorted(rows, key=lambda r: (-r.count, r.process_id or "", r.process_version or 0))


def get_incident(ctx: AppContext, incident_id: str) -> IncidentDetailView:
    """One incident with the element's name, the case data at failure and the traceback."""
    with read_session(ctx.db) as session:
        row = (
            session.execute(
                select(
                    *_LIST_COLUMNS,
                    INCIDENT.c.task_id,
                    INCIDENT.c.data,
                    INCIDENT.c.traceback,
                    CASE.c.deployment_id,
                )
                .join(CASE, CASE.c.id == INCIDENT.c.case_id)
                .where(INCIDENT.c.id == incident_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"incident {incident_id} not found")
        shown = _shown(row)
        bundle = bundle_for(ctx, session, row["deployment_id"])
    return IncidentDetailView.of(
        shown,
        task_id=row["task_id"],
        element_name=element_name(bundle, row["process_id"], row["element_id"]),
        data=row["data"],
        traceback=row["traceback"],
    )


def element_name(bundle: Any, process_id: str | None, element_id: str) -> str | None:
    """The diagram's name of an element (None when it has none or is unknown)."""
    for info in bundle.processes.values():
        specs = [info.spec, *info.subprocess_specs.values()]
        if process_id is not None and info.process_id != process_id:
            continue
        for spec in specs:
            for task_spec in spec.task_specs.values():
                if getattr(task_spec, "bpmn_id", None) == element_id:
                    return getattr(task_spec, "bpmn_name", None)
    return None


def case_incidents(ctx: AppContext, case_id: str) -> list[dict[str, Any]]:
    """Every incident of a case, oldest first (raw rows)."""
    with read_session(ctx.db) as session:
        if session.execute(select(CASE.c.id).where(CASE.c.id == case_id)).first() is None:
            raise NotFound(f"case {case_id} not found")
        rows = session.execute(
            select(INCIDENT).where(INCIDENT.c.case_id == case_id).order_by(INCIDENT.c.created_at)
        ).mappings()
        return [dict(r) for r in rows]


# --------------------------------------------------------------------------- retry


def retry_incident(
    ctx: AppContext,
    actor: Actor,
    incident_id: str,
    patch: dict[str, Any] | None = None,
    reason: str | None = None,
    before_commit: BeforeCommit | None = None,
) -> CaseView:
    """Run the failed element of this (open) incident again, after merging ``patch`` into
    the case data (checked against the forms; a reason is then required). Answers the
    case. ``before_commit`` writes more in the step's transaction."""
    with read_session(ctx.db) as session:
        found = session.execute(
            select(INCIDENT.c.case_id, INCIDENT.c.status).where(INCIDENT.c.id == incident_id)
        ).first()
    if found is None:
        raise NotFound(f"incident {incident_id} not found")
    if found.status != "open":
        raise IncidentNotOpen(f"incident {incident_id} is {found.status}")
    return _retry(ctx, actor, str(found.case_id), incident_id, patch, reason, before_commit)


def retry_case(
    ctx: AppContext,
    actor: Actor,
    case_id: str,
    patch: dict[str, Any] | None = None,
    reason: str | None = None,
) -> CaseView:
    """Retry the open incident of a case, whichever it is."""
    return _retry(ctx, actor, case_id, None, patch, reason, None)


def _retry(
    ctx: AppContext,
    actor: Actor,
    case_id: str,
    incident_id: str | None,
    patch: dict[str, Any] | None,
    reason: str | None,
    before_commit: BeforeCommit | None,
) -> CaseView:
    if patch:
        reason = require_reason(reason)
    reason = (reason or "").strip() or None

    def make(
        session: Session, head: CaseHead
    ) -> tuple[Operation | None, list[NewEvent], dict[str, Any]]:
        open_ids = list(
            session.execute(
                select(INCIDENT.c.id).where(
                    and_(INCIDENT.c.case_id == head.id, INCIDENT.c.status == "open")
                )
            ).scalars()
        )
        if incident_id is not None and incident_id not in open_ids:
            raise IncidentNotOpen(f"incident {incident_id} is no longer open")
        session.execute(
            update(INCIDENT)
            .where(INCIDENT.c.id.in_(open_ids))
            .values(status="resolved", resolved_at=ctx.now(), resolved_by=actor.username)
        )
        detail: dict[str, Any] = {"incidents": open_ids}
        if reason:
            detail["reason"] = reason
        if not patch:
            return None, [NewEvent("incident_retried", actor.username, detail=detail)], {}
        bundle = bundle_for(ctx, session, head.deployment_id)
        data = merge_patch(head.data, check_data_patch(bundle, head.data, patch))
        old, new = diff(head.data, data)
        detail["patch"] = patch
        event = NewEvent(
            "incident_retried", actor.username, data_before=old, data_after=new, detail=detail
        )
        return patch_open_tasks(patch), [event], {"base_data": data}

    _result, view = step_case(
        ctx, actor, case_id, make, allowed_status=("incident",), before_commit=before_commit
    )
    return view
