"""Bulk retry of incidents by filter, as worker jobs with progress.

``start_batch`` records the filter and queues a job in one transaction. The job retries,
in chunks, the open incidents that match the filter and were raised before the batch was
requested (so the new incident of a retry that fails again is not retried by the same
batch). Each retry is the case's own step; the batch's counters move in that step's
transaction (``before_commit``), so they stay exact if a worker dies mid-chunk: the job
is leased again and goes on with the incidents still open. An incident whose retry is
refused (its case changed meanwhile, suspended, ...) is counted as skipped with the
reason and not tried again by this batch.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import NotFound, RetentionFlowError
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import INCIDENT_BATCH, JOB
from retention_flow.services.cases.data_checks import require_reason
from retention_flow.services.cases.incidents import incident_filter, retry_incident
from retention_flow.services.cases.views import CaseView, IncidentBatchView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.save import INCIDENT

BATCH_JOB = "incident_retry_batch"
#: incidents retried per job run; a longer batch queues its next chunk as a new job
CHUNK = 100
FILTER_KEYS = ("process_id", "version", "element_id", "error_code", "since")


def _conditions(batch: dict[str, Any]) -> list[Any]:
    raw = dict(batch["filter"])
    since = raw.get("since")
    raw["since"] = datetime.fromisoformat(since) if since else None
    return [
        *incident_filter(**{k: raw.get(k) for k in FILTER_KEYS}, status="open"),
        INCIDENT.c.created_at < batch["created_at"],
    ]


def start_batch(
    ctx: AppContext, actor: Actor, filters: dict[str, Any], reason: str
) -> IncidentBatchView:
    """Queue a bulk retry of the open incidents matching ``filters``; answers the batch."""
    reason = require_reason(reason)
    stored = {k: filters.get(k) for k in FILTER_KEYS if filters.get(k) is not None}
    since = stored.get("since")
    if isinstance(since, datetime):
        stored["since"] = since.isoformat()
    batch_id, now = str(uuid.uuid4()), ctx.now()
    row = {
        "id": batch_id,
        "filter": stored,
        "reason": reason,
        "requested_by": actor.username,
        "requested_roles": sorted(actor.roles),
        "state": "queued",
        "matched": 0,
        "resolved": 0,
        "failed_again": 0,
        "skipped": 0,
        "errors": [],
        "created_at": now,
    }
    with write_session(ctx.db) as session:
        row["matched"] = int(
            session.execute(
                select(func.count()).select_from(INCIDENT).where(and_(*_conditions(row)))
            ).scalar_one()
        )
        if row["matched"] == 0:
            row.update(state="done", finished_at=now)
        session.execute(insert(INCIDENT_BATCH).values(**row))
        if row["matched"]:
            _queue_job(session, batch_id, now)
        session.commit()
    return get_batch(ctx, batch_id)


def _queue_job(session: Session, batch_id: str, now: datetime) -> None:
    session.execute(
        insert(JOB).values(
            id=str(uuid.uuid4()),
            kind=BATCH_JOB,
            payload={"batch_id": batch_id},
            state="queued",
            run_at=now,
            attempts=0,
            max_attempts=10,
            created_at=now,
        )
    )


def get_batch(ctx: AppContext, batch_id: str) -> IncidentBatchView:
    with read_session(ctx.db) as session:
        row = (
            session.execute(select(INCIDENT_BATCH).where(INCIDENT_BATCH.c.id == batch_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"incident batch {batch_id} not found")
    return IncidentBatchView.of(
        row,
        done=row["resolved"] + row["failed_again"] + row["skipped"],
        created_at=utc_iso(row["created_at"]),
        finished_at=utc_iso(row["finished_at"]) if row["finished_at"] is not None else None,
    )


def run_batch_job(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Worker job: retry one chunk of the batch; queue the next chunk or finish."""
    batch_id = str(payload["batch_id"])
    with read_session(ctx.db) as session:
        batch = (
            session.execute(select(INCIDENT_BATCH).where(INCIDENT_BATCH.c.id == batch_id))
            .mappings()
            .first()
        )
        if batch is None or batch["state"] == "done":
            return
        skipped = [e["incident_id"] for e in batch["errors"]]
        query = select(INCIDENT.c.id).where(and_(*_conditions(dict(batch))))
        if skipped:
            query = query.where(INCIDENT.c.id.not_in(skipped))
        ids = list(session.execute(query.order_by(INCIDENT.c.created_at).limit(CHUNK)).scalars())
    _update(ctx, batch_id, state="running")
    actor = Actor(batch["requested_by"], frozenset(batch["requested_roles"]))
    for incident_id in ids:
        _retry_one(ctx, actor, batch_id, str(incident_id), batch["reason"])
    if len(ids) < CHUNK:
        _update(ctx, batch_id, state="done", finished_at=ctx.now())
        return
    with write_session(ctx.db) as session:
        _queue_job(session, batch_id, ctx.now())
        session.commit()


def _retry_one(ctx: AppContext, actor: Actor, batch_id: str, incident_id: str, reason: str) -> None:
    def count(session: Session, view: CaseView) -> None:
        column = "failed_again" if view.status == "incident" else "resolved"
        session.execute(
            update(INCIDENT_BATCH)
            .where(INCIDENT_BATCH.c.id == batch_id)
            .values({column: INCIDENT_BATCH.c[column] + 1})
        )

    try:
        retry_incident(ctx, actor, incident_id, reason=reason, before_commit=count)
    except RetentionFlowError as exc:
        with write_session(ctx.db) as session:
            errors = session.execute(
                select(INCIDENT_BATCH.c.errors)
                .where(INCIDENT_BATCH.c.id == batch_id)
                .with_for_update()
            ).scalar_one()
            entry = {"incident_id": incident_id, "code": exc.code, "detail": exc.detail}
            session.execute(
                update(INCIDENT_BATCH)
                .where(INCIDENT_BATCH.c.id == batch_id)
                .values(skipped=INCIDENT_BATCH.c.skipped + 1, errors=[*errors, entry])
            )
            session.commit()


def _update(ctx: AppContext, batch_id: str, **values: Any) -> None:
    with write_session(ctx.db) as session:
        session.execute(
            update(INCIDENT_BATCH).where(INCIDENT_BATCH.c.id == batch_id).values(**values)
        )
        session.commit()
