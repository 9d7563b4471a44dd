"""Migrating running cases to another version of their process, one or in bulk.

``dry_run`` answers per selected case whether it can move, or why not (a token on an
element the new version lacks and the mapping does not cover; data the new version's
gateways ahead read and the case lacks; a case that is not active). ``start`` records
the migration with one pending item per selected case and queues a worker job, which
migrates them in batches (``RETENTION_FLOW_MIGRATION_BATCH_SIZE``); see
``migration_step`` for why each case moves exactly once even when a worker dies.
``migrate_case`` is the single-case form, run at once in the caller's process.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from retention_flow.core.clock import utc_iso
from retention_flow.core.errors import NotFound, RetentionFlowError, ValidationFailed
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import CASE_MIGRATION as MIGRATION
from retention_flow.db.tables import CASE_MIGRATION_ITEM as ITEM
from retention_flow.db.tables import JOB
from retention_flow.engine import migrate as engine_migrate
from retention_flow.services.cases.migration_step import (
    Target,
    case_check,
    migrate_case,
    pending_ids,
)
from retention_flow.services.cases.views import (
    MigrationCaseCheck,
    MigrationFailure,
    MigrationPlan,
    MigrationProgress,
)
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import (
    bundle_for,
    process_of,
    resolve_version,
)
from retention_flow.services.steps.save import CASE, OPEN_STATES, TIMER, WORK, load_head

log = logging.getLogger(__name__)

MIGRATION_JOB = "case_migration_batch"
STATUSES = frozenset({"active", "incident", "suspended"})


@dataclass
class MigrationRequest:
    process_id: str
    from_version: int
    to_version: int
    case_ids: list[str] | None = None
    elements: list[str] | None = None
    statuses: list[str] = field(default_factory=lambda: ["active"])
    mapping: dict[str, str] = field(default_factory=dict)
    data_defaults: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def case_filter(self) -> dict[str, Any]:
        return {"case_ids": self.case_ids, "elements": self.elements, "statuses": self.statuses}


def _target(ctx: AppContext, session: Session, request: MigrationRequest, actor: Actor) -> Target:
    """Both versions exist and the mapping names elements of each (else 404 / 422)."""
    if request.from_version == request.to_version:
        raise ValidationFailed(
            "from_version and to_version are the same",
            errors=[{"field": "to_version", "message": "must differ from from_version"}],
        )
    bad = sorted(set(request.statuses) - STATUSES)
    if bad:
        raise ValidationFailed(
            f"unknown case status '{bad[0]}'",
            errors=[{"field": "case_filter.statuses", "message": f"one of {sorted(STATUSES)}"}],
        )
    old_version, old_dep = resolve_version(session, request.process_id, request.from_version)
    new_version, new_dep = resolve_version(session, request.process_id, request.to_version)
    old = process_of(bundle_for(ctx, session, old_dep), request.process_id)
    new = process_of(bundle_for(ctx, session, new_dep), request.process_id)
    errors = engine_migrate.mapping_errors(old, new, request.mapping)
    if errors:
        raise ValidationFailed(f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)
    try:
        json.dumps(request.data_defaults)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"data_defaults is not JSON: {exc}") from exc
    return Target(
        migration_id=str(uuid.uuid4()),
        process_id=request.process_id,
        from_version=old_version,
        to_version=new_version,
        from_deployment_id=old_dep,
        to_deployment_id=new_dep,
        mapping=dict(request.mapping),
        data_defaults=dict(request.data_defaults),
        reason=request.reason.strip(),
        actor=actor.username,
    )


def select_cases(session: Session, request: MigrationRequest, target: Target) -> list[str]:
    """Cases of the old version matching the filter: ``case_ids``, ``statuses``, and
    ``elements`` (an open task or a pending timer at one of them)."""
    query = select(CASE.c.id).where(
        and_(
            CASE.c.process_id == target.process_id,
            CASE.c.deployment_id == target.from_deployment_id,
            CASE.c.status.in_(request.statuses),
        )
    )
    if request.case_ids is not None:
        query = query.where(CASE.c.id.in_(request.case_ids))
    if request.elements:
        at_task = select(WORK.c.case_id).where(
            and_(WORK.c.element_id.in_(request.elements), WORK.c.state.in_(OPEN_STATES))
        )
        at_timer = select(TIMER.c.case_id).where(
            and_(TIMER.c.element_id.in_(request.elements), TIMER.c.state == "pending")
        )
        query = query.where(or_(CASE.c.id.in_(at_task), CASE.c.id.in_(at_timer)))
    return list(session.execute(query.order_by(CASE.c.created_at, CASE.c.id)).scalars())


def dry_run(
    ctx: AppContext, actor: Actor, request: MigrationRequest, *, limit: int = 1000
) -> MigrationPlan:
    """Per selected case (the first ``limit`` listed; counts cover all): its tokens and
    whether it can move, or the problems that stop it. Nothing is written."""
    with read_session(ctx.db) as session:
        target = _target(ctx, session, request, actor)
        ids = select_cases(session, request, target)
        rows: list[MigrationCaseCheck] = []
        movable = 0
        for case_id in ids:
            head = load_head(session, case_id)
            check = case_check(ctx, session, head, target)[0]
            movable += check.ok
            if len(rows) < limit:
                rows.append(
                    MigrationCaseCheck(
                        case_id=case_id,
                        business_key=head.business_key,
                        status=head.status,
                        tokens=[t.element_id for t in check.tokens],
                        can_migrate=check.ok,
                        problems=check.problems,
                    )
                )
    return MigrationPlan(
        process_id=target.process_id,
        from_version=target.from_version,
        to_version=target.to_version,
        total=len(ids),
        can_migrate=movable,
        cannot_migrate=len(ids) - movable,
        cases=rows,
    )


def _require_reason(request: MigrationRequest) -> None:
    if not request.reason.strip():
        raise ValidationFailed(
            "a reason is required to migrate cases",
            errors=[{"field": "reason", "message": "required"}],
        )


def _record(
    ctx: AppContext, request: MigrationRequest, actor: Actor, *, queue: bool = False
) -> tuple[Target, int]:
    with write_session(ctx.db) as session:
        target = _target(ctx, session, request, actor)
        ids = select_cases(session, request, target)
        now = ctx.now()
        session.execute(
            insert(MIGRATION).values(
                id=target.migration_id,
                process_id=target.process_id,
                from_version=target.from_version,
                to_version=target.to_version,
                from_deployment_id=target.from_deployment_id,
                to_deployment_id=target.to_deployment_id,
                mapping=dict(target.mapping),
                data_defaults=dict(target.data_defaults),
                case_filter=request.case_filter(),
                reason=target.reason,
                created_by=actor.username,
                created_at=now,
                total=len(ids),
                finished_at=None if ids else now,
            )
        )
        for start in range(0, len(ids), 1000):
            session.execute(
                insert(ITEM),
                [
                    {"migration_id": target.migration_id, "case_id": cid, "status": "pending"}
                    for cid in ids[start : start + 1000]
                ],
            )
        if queue and ids:
            _enqueue(ctx, session, target.migration_id)
        session.commit()
    return target, len(ids)


def _enqueue(ctx: AppContext, session: Session, migration_id: str) -> None:
    """Queue a batch job (``services.worker`` runs it), in the caller's transaction."""
    now = ctx.now()
    session.execute(
        insert(JOB).values(
            id=str(uuid.uuid4()),
            kind=MIGRATION_JOB,
            payload={"migration_id": migration_id},
            state="queued",
            run_at=now,
            attempts=0,
            max_attempts=20,
            created_at=now,
        )
    )


def start(ctx: AppContext, actor: Actor, request: MigrationRequest) -> MigrationProgress:
    """Record the migration, its cases and the job that migrates them (one commit)."""
    _require_reason(request)
    target, _total = _record(ctx, request, actor, queue=True)
    return get_migration(ctx, target.migration_id)


def run_batch(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Worker job: migrate the next batch of pending cases; queue the next batch if more
    remain, or mark the migration finished."""
    migration_id = str(payload["migration_id"])
    target = _load_target(ctx, migration_id)
    with read_session(ctx.db) as session:
        ids = pending_ids(session, migration_id, ctx.settings.migration_batch_size)
    for case_id in ids:
        run_one(ctx, target, case_id)
    if len(ids) == ctx.settings.migration_batch_size:
        with write_session(ctx.db) as session:
            _enqueue(ctx, session, migration_id)
            session.commit()
    else:
        _finish(ctx, migration_id)


def run_one(ctx: AppContext, target: Target, case_id: str) -> str:
    """Migrate one case; a case that fails in a way no check foresaw is marked failed with
    the error (the batch goes on). Database trouble is raised: the job runs again."""
    try:
        return migrate_case(ctx, target, case_id)
    except OperationalError:
        raise
    except Exception as exc:  # recorded on the item, with its type
        detail = exc.detail if isinstance(exc, RetentionFlowError) else str(exc)
        log.warning("migration %s: case %s failed: %s", target.migration_id, case_id, detail)
        with write_session(ctx.db) as session:
            session.execute(
                update(ITEM)
                .where(
                    and_(
                        ITEM.c.migration_id == target.migration_id,
                        ITEM.c.case_id == case_id,
                        ITEM.c.status == "pending",
                    )
                )
                .values(
                    status="failed",
                    error=f"{type(exc).__name__}: {detail}"[:4000],
                    updated_at=ctx.now(),
                )
            )
            session.commit()
        return "failed"


def _load_target(ctx: AppContext, migration_id: str) -> Target:
    with read_session(ctx.db) as session:
        row = session.execute(select(MIGRATION).where(MIGRATION.c.id == migration_id)).first()
    if row is None:
        raise NotFound(f"migration {migration_id} not found")
    return Target.of(dict(row._mapping))


def _finish(ctx: AppContext, migration_id: str) -> None:
    with write_session(ctx.db) as session:
        left = session.execute(
            select(func.count())
            .select_from(ITEM)
            .where(and_(ITEM.c.migration_id == migration_id, ITEM.c.status == "pending"))
        ).scalar_one()
        if not left:
            session.execute(
                update(MIGRATION)
                .where(and_(MIGRATION.c.id == migration_id, MIGRATION.c.finished_at.is_(None)))
                .values(finished_at=ctx.now())
            )
            session.commit()


def get_migration(ctx: AppContext, migration_id: str, *, failures: int = 200) -> MigrationProgress:
    """A migration's request and progress: total, done, failed (with reasons), pending."""
    with read_session(ctx.db) as session:
        row = session.execute(select(MIGRATION).where(MIGRATION.c.id == migration_id)).first()
        if row is None:
            raise NotFound(f"migration {migration_id} not found")
        m = row._mapping
        counts = dict(
            session.execute(
                select(ITEM.c.status, func.count())
                .where(ITEM.c.migration_id == migration_id)
                .group_by(ITEM.c.status)
            ).all()
        )
        failed = session.execute(
            select(ITEM.c.case_id, ITEM.c.error, ITEM.c.detail)
            .where(and_(ITEM.c.migration_id == migration_id, ITEM.c.status == "failed"))
            .order_by(ITEM.c.case_id)
            .limit(failures)
        ).all()
    pending = int(counts.get("pending", 0))
    return MigrationProgress(
        id=m["id"],
        process_id=m["process_id"],
        from_version=m["from_version"],
        to_version=m["to_version"],
        mapping=m["mapping"],
        data_defaults=m["data_defaults"],
        case_filter=m["case_filter"],
        reason=m["reason"],
        created_by=m["created_by"],
        created_at=utc_iso(m["created_at"]),
        finished_at=utc_iso(m["finished_at"]) if m["finished_at"] else None,
        status="running" if pending else "done",
        total=m["total"],
        done=int(counts.get("migrated", 0)),
        failed=int(counts.get("failed", 0)),
        pending=pending,
        failures=[
            MigrationFailure(
                case_id=f.case_id,
                error=f.error,
                problems=(f.detail or {}).get("problems", []),
            )
            for f in failed
        ],
    )


def migrate_one_case(
    ctx: AppContext, actor: Actor, case_id: str, request: MigrationRequest, *, dry_run_only: bool
) -> MigrationPlan | MigrationProgress:
    """Single-case migration: the dry-run answer, or the migration (recorded like a bulk
    one with one case) run at once; answers the migration's progress view."""
    with read_session(ctx.db) as session:
        head = load_head(session, case_id)
    request.process_id = head.process_id
    request.from_version = head.process_version
    request.case_ids = [case_id]
    request.statuses = [head.status] if head.status in STATUSES else ["active"]
    if dry_run_only:
        return dry_run(ctx, actor, request)
    _require_reason(request)
    target, total = _record(ctx, request, actor)
    if total:
        run_one(ctx, target, case_id)
        _finish(ctx, target.migration_id)
    return get_migration(ctx, target.migration_id)
