"""Task queues: a user's page of work, sorted by due time then priority (high first),
with the queue's total.

``available`` is the ready work of the user's roles (or one of them); a partner sees only
its organisation's leads. ``mine`` is what the user has claimed. Each role is read by its
own range scan of the queue index ``(role, state, due_at, priority DESC)`` and the runs
are merged, so a page costs ``limit + offset`` rows however long the queue is. The total
is counted up to ``QUEUE_COUNT_CAP`` (``count == QUEUE_COUNT_CAP`` reads "at least"),
from the index alone. Statements are built once; a page and its count share a session.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, false, func, literal_column, or_, select
from sqlalchemy.engine import Connection

from retention_flow.core.errors import Forbidden, ValidationFailed
from retention_flow.db.json_sql import json_text
from retention_flow.db.session import read_session
from retention_flow.db.tables import CUSTOMER
from retention_flow.services.cases.views import TaskView, task_view
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.skills import mark_not_offered
from retention_flow.services.steps.save import CASE, WORK
from retention_flow.services.tasks.rules import PARTNER_ROLE, SUPERVISOR_ROLES

#: Queue totals are counted up to this many (counting 100,000 rows on every page view
#: would cost more than the page).
QUEUE_COUNT_CAP = 1_000

_ORDER = (WORK.c.due_at, WORK.c.priority.desc())
_MINE = and_(WORK.c.claimed_by == bindparam("b_user"), WORK.c.state == "claimed")
_ROLE = and_(WORK.c.role == bindparam("b_role"), WORK.c.state == "ready")
_ROLE_OF_PARTNER = and_(_ROLE, WORK.c.partner == bindparam("b_partner"))
_ROLES = and_(WORK.c.role.in_(bindparam("b_roles", expanding=True)), WORK.c.state == "ready")


def _page(where: Any) -> Select[Any]:
    return (
        select(WORK)
        .where(where)
        .order_by(*_ORDER)
        .limit(bindparam("b_limit"))
        .offset(bindparam("b_offset"))
    )


def _count(where: Any) -> Select[Any]:
    # a constant, not the id: the queue index alone answers (SQLite keeps the TEXT
    # primary key in the table, so selecting it would visit every counted row)
    inner: Select[Any] = select(literal_column("1")).select_from(WORK).where(where)
    capped = inner.limit(QUEUE_COUNT_CAP).subquery()
    return select(func.count()).select_from(capped)


_PAGE_MINE, _COUNT_MINE = _page(_MINE), _count(_MINE)
_PAGE_ROLE, _PAGE_ROLE_OF_PARTNER = _page(_ROLE), _page(_ROLE_OF_PARTNER)
_COUNT_ROLES, _COUNT_ROLE_OF_PARTNER = _count(_ROLES), _count(_ROLE_OF_PARTNER)


def queue_page(
    ctx: AppContext,
    actor: Actor,
    *,
    queue: str = "available",
    role: str | None = None,
    limit: int = 50,
    offset: int = 0,
    with_count: bool = True,
) -> tuple[list[TaskView], int | None]:
    """(page of work items, the queue's total capped at ``QUEUE_COUNT_CAP``, or None
    when ``with_count`` is false)."""
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    if queue not in ("available", "mine"):
        raise ValidationFailed(
            f"unknown queue '{queue}'",
            errors=[{"field": "queue", "message": "mine or available"}],
        )
    if role is not None and role not in actor.roles and not (actor.roles & SUPERVISOR_ROLES):
        raise Forbidden(f"you do not hold the role '{role}'")
    with read_session(ctx.db) as session:
        conn = session.connection()
        if queue == "mine":
            params = {"b_user": actor.username, "b_limit": limit, "b_offset": offset}
            rows: list[Mapping[Any, Any]] = list(conn.execute(_PAGE_MINE, params).mappings())
            count = _total(conn, rows, offset, limit, with_count, [(_COUNT_MINE, params)])
            return [task_view(r) for r in rows], count
        plain, scoped = _split_roles(actor, role)
        runs = [
            list(conn.execute(statement, {**params, "b_limit": limit + offset, "b_offset": 0}))
            for statement, params in [(_PAGE_ROLE, {"b_role": r}) for r in plain] + scoped
        ]
        merged = heapq.merge(*runs, key=lambda r: (r.due_at, -r.priority, r.id))
        rows = [r._mapping for r in list(merged)[offset : offset + limit]]
        counts = [(_COUNT_ROLES, {"b_roles": plain})] if plain else []
        counts += [(_COUNT_ROLE_OF_PARTNER, params) for _s, params in scoped]
        count = _total(conn, rows, offset, limit, with_count, counts)
        return mark_not_offered(conn, actor.username, [task_view(r) for r in rows]), count


def _split_roles(
    actor: Actor, role: str | None
) -> tuple[list[str], list[tuple[Select[Any], dict[str, Any]]]]:
    """The roles read as they are, and the partner role read for the actor's own
    organisation only (partners see only the leads allocated to them)."""
    roles = [role] if role is not None else sorted(actor.roles)
    scoped_partner = PARTNER_ROLE in roles and not (actor.roles & SUPERVISOR_ROLES)
    plain = [r for r in roles if not (r == PARTNER_ROLE and scoped_partner)]
    scoped = (
        [(_PAGE_ROLE_OF_PARTNER, {"b_role": PARTNER_ROLE, "b_partner": actor.partner or ""})]
        if scoped_partner
        else []
    )
    return plain, scoped


def _total(
    conn: Connection,
    rows: list[Any],
    offset: int,
    limit: int,
    wanted: bool,
    counts: list[tuple[Select[Any], dict[str, Any]]],
) -> int | None:
    if not wanted:
        return None
    if len(rows) < limit and (rows or offset == 0):
        return offset + len(rows)  # the page reached the queue's end: no count needed
    total = sum(int(conn.execute(statement, params).scalar_one()) for statement, params in counts)
    return min(total, QUEUE_COUNT_CAP)


def list_queue(
    ctx: AppContext,
    actor: Actor,
    *,
    queue: str = "available",
    role: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[TaskView]:
    """The page of ``queue_page`` without its count."""
    page, _count = queue_page(
        ctx, actor, queue=queue, role=role, limit=limit, offset=offset, with_count=False
    )
    return page


# --------------------------------------------------------------------------- filtered pages

#: due states a queue can be filtered by (``overdue``: due now or earlier; ``today``: later
#: today, UTC; ``later``: after today)
DUE_STATES = ("overdue", "today", "later")
_SEARCH_MAX = 100


@dataclass(frozen=True)
class QueueFilter:
    """What a queue page shows: one of the user's roles (None: all of them), a process,
    a due state and a search over business key and customer (id or name), each optional."""

    role: str | None = None
    process_id: str | None = None
    due: str | None = None
    search: str | None = None


def like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_cases(text: str) -> Select[Any]:
    """Ids of the cases whose customer id or register name contains ``text`` (any case)."""
    pattern = like(text)
    customer_id = json_text(CASE.c.data, "customer_id")
    named = select(CUSTOMER.c.id).where(func.lower(CUSTOMER.c.name).like(pattern, escape="\\"))
    return select(CASE.c.id).where(
        or_(
            func.lower(customer_id).like(pattern, escape="\\"),
            customer_id.in_(named),
            func.lower(json_text(CASE.c.data, "customer_name")).like(pattern, escape="\\"),
        )
    )


def _filter_conditions(ctx: AppContext, actor: Actor, flt: QueueFilter) -> list[Any]:
    if flt.role is not None and flt.role not in actor.roles:
        raise Forbidden(f"you do not hold the role '{flt.role}'")
    if flt.due is not None and flt.due not in DUE_STATES:
        raise ValidationFailed(
            f"unknown due state '{flt.due}'",
            errors=[{"field": "due", "message": " or ".join(DUE_STATES)}],
        )
    plain, scoped = _split_roles(actor, flt.role)
    lanes: list[Any] = [WORK.c.role.in_(plain)] if plain else []
    if scoped:
        lanes.append(and_(WORK.c.role == PARTNER_ROLE, WORK.c.partner == (actor.partner or "")))
    conditions: list[Any] = [WORK.c.state == "ready", or_(false(), *lanes)]
    if flt.process_id:
        conditions.append(WORK.c.process_id == flt.process_id)
    if flt.due:
        now = ctx.now()
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
        conditions.append(
            {
                "overdue": WORK.c.due_at <= now,
                "today": and_(WORK.c.due_at > now, WORK.c.due_at < tomorrow),
                "later": WORK.c.due_at >= tomorrow,
            }[flt.due]
        )
    text = (flt.search or "").strip()[:_SEARCH_MAX]
    if text:
        conditions.append(
            or_(
                func.lower(WORK.c.business_key).like(like(text), escape="\\"),
                WORK.c.case_id.in_(customer_cases(text)),
            )
        )
    return conditions


def filtered_page(
    ctx: AppContext, actor: Actor, flt: QueueFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[TaskView], int]:
    """(a page of the ready work matching ``flt``, by due time then priority; the number
    matching, capped at ``QUEUE_COUNT_CAP``)."""
    limit, offset = max(1, min(limit, 500)), max(0, offset)
    where = and_(*_filter_conditions(ctx, actor, flt))
    page = select(WORK).where(where).order_by(*_ORDER, WORK.c.id).limit(limit).offset(offset)
    with read_session(ctx.db) as session:
        rows = list(session.execute(page).mappings())
        if len(rows) < limit and (rows or offset == 0):
            count = offset + len(rows)
        else:
            count = int(session.execute(_count(where)).scalar_one())
        items = mark_not_offered(session.connection(), actor.username, map(task_view, rows))
    return items, min(count, QUEUE_COUNT_CAP)


def queue_facets(ctx: AppContext, actor: Actor) -> dict[str, dict[str, int]]:
    """The ready work open to the user, counted per role and per process (one grouped
    scan each), for the queue's filter choices."""
    where = and_(*_filter_conditions(ctx, actor, QueueFilter()))
    out: dict[str, dict[str, int]] = {"role": {}, "process": {}}
    with read_session(ctx.db) as session:
        for key, column in (("role", WORK.c.role), ("process", WORK.c.process_id)):
            rows = session.execute(select(column, func.count()).where(where).group_by(column))
            out[key] = {str(r[0]): int(r[1]) for r in rows}
    return out
