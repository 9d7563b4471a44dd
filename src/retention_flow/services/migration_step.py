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

from sqlalchemy import and_, delete, insert, select, update
from sqlmodel import Session

from ..core.errors import CaseConflict
from ..db.session import write_session
from ..db.tables import CASE_MIGRATION_ITEM as ITEM
from ..engine import migrate as engine_migrate
from ..engine.bundle import CompiledBundle, ProcessInfo
from .audit import NewEvent
from .context import Actor, AppContext
from .processes import bundle_for, process_of
from .stepping import retrying, run_and_save
from .steps import CASE, KEYS, OPEN_STATES, TIMER, WORK, CaseHead, load_head, load_state

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


def migrate_case(ctx: AppContext, target: Target, case_id: str) -> str:
    """Migrate one case of a migration; answers its item's status afterwards."""

    def once() -> str:
        with write_session(ctx.db) as session:
            claimed = session.connection().execute(
                update(ITEM)
                .where(
                    and_(
                        ITEM.c.migration_id == target.migration_id,
                        ITEM.c.case_id == case_id,
                        ITEM.c.status == "pending",
                    )
                )
                .values(status="migrated", updated_at=ctx.now())
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
    old_keys = bundle_for(ctx, session, head.deployment_id).manifest.correlation_keys
    keys_changed = bool(added) or old_keys != new_bundle.manifest.correlation_keys
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
    the new version's element, name, role and form; pending timers are written again when
    they differ from the snapshot's; correlation keys when ``keys`` (the key names or the
    data changed). ``save_step`` already added and closed items and timers by task id."""
    conn = session.connection()
    moved = conn.execute(
        update(CASE)
        .where(and_(CASE.c.id == head.id, CASE.c.deployment_id == head.deployment_id))
        .values(
            process_version=target.to_version,
            deployment_id=target.to_deployment_id,
            channel=new.channel,
        )
    )
    if moved.rowcount != 1:
        raise CaseConflict(f"case {head.id} was changed by someone else; try again")
    _reproject_items(conn, head, snapshot)
    _reproject_timers(conn, head.id, snapshot)
    if keys:
        conn.execute(delete(KEYS).where(KEYS.c.case_id == head.id))
        rows = [
            {"case_id": head.id, "key": k, "value": str(snapshot.data[k])}
            for k in bundle.manifest.correlation_keys
            if snapshot.data.get(k) is not None
        ]
        if rows:
            conn.execute(insert(KEYS), rows)


_ITEM_COLUMNS = ("element_id", "name", "role", "form", "partner")


def _reproject_items(conn: Any, head: CaseHead, snapshot: Any) -> None:
    if not snapshot.ready:
        return
    stored = {
        r.id: tuple(getattr(r, c) for c in _ITEM_COLUMNS)
        for r in conn.execute(
            select(WORK.c.id, *(WORK.c[c] for c in _ITEM_COLUMNS)).where(
                and_(WORK.c.case_id == head.id, WORK.c.state.in_(OPEN_STATES))
            )
        )
    }
    for task in snapshot.ready:
        meta = task.meta
        wanted = (
            task.element_id,
            task.name,
            (meta.role if meta else None) or head.starter_role,
            meta.form_file if meta else None,
            task.partner,
        )
        if task.task_id in stored and stored[task.task_id] != wanted:
            conn.execute(
                update(WORK)
                .where(WORK.c.id == task.task_id)
                .values(dict(zip(_ITEM_COLUMNS, wanted, strict=True)))
            )


def _reproject_timers(conn: Any, case_id: str, snapshot: Any) -> None:
    wanted = {(t.task_id, t.element_id, t.kind, t.due_at) for t in snapshot.timers}
    stored = {
        (r.id, r.element_id, r.kind, r.due_at)
        for r in conn.execute(
            select(TIMER.c.id, TIMER.c.element_id, TIMER.c.kind, TIMER.c.due_at).where(
                and_(TIMER.c.case_id == case_id, TIMER.c.state == "pending")
            )
        )
    }
    if stored == wanted:
        return
    conn.execute(delete(TIMER).where(and_(TIMER.c.case_id == case_id, TIMER.c.state == "pending")))
    if snapshot.timers:
        conn.execute(
            insert(TIMER),
            [
                {
                    "id": t.task_id,
                    "case_id": case_id,
                    "element_id": t.element_id,
                    "kind": t.kind,
                    "due_at": t.due_at,
                    "state": "pending",
                    "locked_by": None,
                    "locked_until": None,
                    "attempts": 0,
                }
                for t in snapshot.timers
            ],
        )


def pending_ids(session: Session, migration_id: str, limit: int) -> list[str]:
    return list(
        session.execute(
            select(ITEM.c.case_id)
            .where(and_(ITEM.c.migration_id == migration_id, ITEM.c.status == "pending"))
            .order_by(ITEM.c.case_id)
            .limit(limit)
        ).scalars()
    )
