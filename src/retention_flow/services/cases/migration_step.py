"""One case's migration step: check, migrate, re-project, audit, all in one transaction.

The item row (``case_migration_item``) is claimed first (``pending`` -> ``migrated``,
conditional on it still being pending), then the case is checked and moved with the
same machinery as any step (``stepping.run_and_save``: state, work items, timers, audit
in one commit). A case that cannot move marks its item ``failed`` with the reasons, in
a transaction of its own that changes nothing else. Whatever happens, an item is
decided exactly once: a second worker reaching it finds it no longer pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlmodel import Session

from retention_flow.core.errors import CaseConflict
from retention_flow.db.session import write_session
from retention_flow.db.tables import CASE_MIGRATION_ITEM as ITEM
from retention_flow.engine import migrate as engine_migrate
from retention_flow.engine.bundle import CompiledBundle, ProcessInfo
from retention_flow.services.audit.trail import NewEvent
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.process_models.deployments import bundle_for, process_of
from retention_flow.services.steps.runner import retrying, run_and_save
from retention_flow.services.steps.save import (
    CASE,
    KEYS,
    OPEN_STATES,
    TIMER,
    WORK,
    CaseHead,
    load_head,
    load_state,
)

MIGRATABLE = ("active",)


@dataclass(frozen=True)
class Target:
    """Where a migration goes: the process at two versions, the mapping and defaults."""

    migration_id: str
    process_id: str
    from_version: int
    to_version: int
    from_deployment_id: str
    to_deployment_id: str
    mapping: Mapping[str, str]
    data_defaults: Mapping[str, Any]
    reason: str
    actor: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Target:
        return cls(
            migration_id=row["id"],
            process_id=row["process_id"],
            from_version=row["from_version"],
            to_version=row["to_version"],
            from_deployment_id=row["from_deployment_id"],
            to_deployment_id=row["to_deployment_id"],
            mapping=row["mapping"] or {},
            data_defaults=row["data_defaults"] or {},
            reason=row["reason"],
            actor=row["created_by"],
        )


def case_check(
    ctx: AppContext, session: Session, head: CaseHead, target: Target
) -> tuple[engine_migrate.Check, Any, ProcessInfo, CompiledBundle, dict[str, Any]]:
    """The case's workflow (restored from its stored state), whether it can move, and the
    data it would have there (its own over the migration's defaults)."""
    old = process_of(bundle_for(ctx, session, head.deployment_id), head.process_id)
    new_bundle = bundle_for(ctx, session, target.to_deployment_id)
    new = process_of(new_bundle, target.process_id)
    wf = ctx.runtime.load(old, load_state(session, head.id), head.serializer_version)
    data = {**target.data_defaults, **head.data}
    registry = ctx.runtime.serializer.registry
    result = engine_migrate.check(registry, wf, new, new_bundle, target.mapping, data)
    if head.status not in MIGRATABLE:
        result.problems.insert(
            0, {"reason": "status", "element_id": None, "message": f"the case is {head.status}"}
        )
    if head.deployment_id != target.from_deployment_id:
        result.problems.insert(
            0,
            {
                "reason": "version",
                "element_id": None,
                "message": f"the case is on version {head.process_version}, "
                f"not {target.from_version}",
            },
        )
    return result, wf, new, new_bundle, data


_CLAIM = (
    update(ITEM)
    .where(
        and_(
            ITEM.c.migration_id == bindparam("b_mid"),
            ITEM.c.case_id == bindparam("b_case"),
            ITEM.c.status == "pending",
        )
    )
    .values(status="migrated", updated_at=bindparam("b_now"))
)


def migrate_case(ctx: AppContext, target: Target, case_id: str) -> str:
    """Migrate one case of a migration; answers its item's status afterwards."""

    def once() -> str:
        with write_session(ctx.db) as session:
            claimed = session.connection().execute(
                _CLAIM, {"b_mid": target.migration_id, "b_case": case_id, "b_now": ctx.now()}
            )
            if claimed.rowcount != 1:
                return "decided"  # another worker decided it (or it is not in this migration)
            status = _step(ctx, session, target, case_id)
            session.commit()
        ctx.live.discard(case_id)
        return status

    return retrying(once)


def _step(ctx: AppContext, session: Session, target: Target, case_id: str) -> str:
    head = load_head(session, case_id)
    check, wf, new, new_bundle, data = case_check(ctx, session, head, target)
    if not check.ok:
        _failed(session, target, case_id, check.problems)
        return "failed"
    old = process_of(bundle_for(ctx, session, head.deployment_id), head.process_id)
    registry = ctx.runtime.serializer.registry
    added = {k: v for k, v in target.data_defaults.items() if k not in head.data}
    operation = engine_migrate.migration_operation(registry, new, target.mapping, added)
    event = NewEvent(
        "case_migrated",
        target.actor,
        data_after=added or None,
        detail={
            "migration_id": target.migration_id,
            "process_id": target.process_id,
            "from_version": head.process_version,
            "to_version": target.to_version,
            "from_deployment_id": head.deployment_id,
            "to_deployment_id": target.to_deployment_id,
            "mapping": dict(target.mapping),
            "reason": target.reason,
            "tokens": [t.as_dict() for t in check.tokens],
        },
    )
    result, wf = run_and_save(
        ctx,
        session,
        head,
        wf,
        new_bundle,
        operation,
        lambda: ctx.runtime.load(old, load_state(session, head.id), head.serializer_version),
        [event],
        Actor(target.actor),
        base_data=data,
    )
    # keys whose data changed were written by save_step; all of them when the names did
    old_keys = bundle_for(ctx, session, head.deployment_id).manifest.correlation_keys
    keys_changed = old_keys != new_bundle.manifest.correlation_keys
    reproject(session, head, new, new_bundle, result.snapshot, target, keys=keys_changed)
    return "migrated"  # the item was marked when it was claimed


def _failed(session: Session, target: Target, case_id: str, problems: list[dict[str, Any]]) -> None:
    session.execute(
        update(ITEM)
        .where(and_(ITEM.c.migration_id == target.migration_id, ITEM.c.case_id == case_id))
        .values(
            status="failed",
            error="; ".join(p["message"] for p in problems),
            detail={"problems": problems},
        )
    )


# Statements built once (as in ``steps``): a bulk migration runs them per case.
_MOVE_CASE = (
    update(CASE)
    .where(and_(CASE.c.id == bindparam("b_id"), CASE.c.deployment_id == bindparam("b_from")))
    .values(
        process_version=bindparam("b_version"),
        deployment_id=bindparam("b_to"),
        channel=bindparam("b_channel"),
    )
)
_ITEM_COLUMNS = ("element_id", "name", "role", "form", "partner")
#: an open work item takes the new version's element, name, role, form (if they differ)
_REPROJECT_ITEM = (
    update(WORK)
    .where(
        and_(
            WORK.c.id == bindparam("b_id"),
            or_(*(WORK.c.state == state for state in OPEN_STATES)),  # no IN: executemany
            ~and_(*(WORK.c[c].is_not_distinct_from(bindparam(f"b_{c}")) for c in _ITEM_COLUMNS)),
        )
    )
    .values({c: bindparam(f"b_{c}") for c in _ITEM_COLUMNS})
)
#: a pending timer takes its new element (``save_step`` replaced those whose due moved)
_REPROJECT_TIMER = (
    update(TIMER)
    .where(
        and_(
            TIMER.c.id == bindparam("b_id"),
            TIMER.c.state == "pending",
            ~and_(
                TIMER.c.element_id == bindparam("b_element"), TIMER.c.kind == bindparam("b_kind")
            ),
        )
    )
    .values(element_id=bindparam("b_element"), kind=bindparam("b_kind"))
)


def reproject(
    session: Session,
    head: CaseHead,
    new: ProcessInfo,
    bundle: CompiledBundle,
    snapshot: Any,
    target: Target,
    *,
    keys: bool,
) -> None:
    """The case row names its new version; open work items kept across the migration take
    the new version's element, name, role and form, pending timers their new element
    (``save_step`` already added and closed items and timers by task id and due time);
    correlation keys are written again when ``keys`` (the new version names other keys)."""
    conn = session.connection()
    moved = conn.execute(
        _MOVE_CASE,
        {
            "b_id": head.id,
            "b_from": head.deployment_id,
            "b_version": target.to_version,
            "b_to": target.to_deployment_id,
            "b_channel": new.channel,
        },
    )
    if moved.rowcount != 1:
        raise CaseConflict(f"case {head.id} was changed by someone else; try again")
    if snapshot.ready:
        conn.execute(
            _REPROJECT_ITEM,
            [
                {
                    "b_id": task.task_id,
                    "b_element_id": task.element_id,
                    "b_name": task.name,
                    "b_role": (task.meta.role if task.meta else None) or head.starter_role,
                    "b_form": task.meta.form_file if task.meta else None,
                    "b_partner": task.partner,
                }
                for task in snapshot.ready
            ],
        )
    if snapshot.timers:
        conn.execute(
            _REPROJECT_TIMER,
            [
                {"b_id": t.task_id, "b_element": t.element_id, "b_kind": t.kind}
                for t in snapshot.timers
            ],
        )
    if keys:
        conn.execute(delete(KEYS).where(KEYS.c.case_id == head.id))
        rows = [
            {"case_id": head.id, "key": k, "value": str(snapshot.data[k])}
            for k in bundle.manifest.correlation_keys
            if snapshot.data.get(k) is not None
        ]
        if rows:
            conn.execute(insert(KEYS), rows)


def pending_ids(session: Session, migration_id: str, limit: int) -> list[str]:
    return list(
        session.execute(
            select(ITEM.c.case_id)
            .where(and_(ITEM.c.migration_id == migration_id, ITEM.c.status == "pending"))
            .order_by(ITEM.c.case_id)
            .limit(limit)
        ).scalars()
    )
