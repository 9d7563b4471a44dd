"""Read queries the API needs beside the core use cases: scoped case lists with totals,
partner isolation, queue sizes (for metrics) and open work. Queue pages and their totals
live in ``services.queue``, request idempotency in ``services.idempotency``.

Partner isolation: a case belongs to a partner organisation when its data holds
``allocated_partner == <organisation>`` (the sales-partner process's allocation step
writes it). A user holding the ``partner`` role sees only those cases and their tasks;
anything else answers ``NotFound``, exactly like a case that does not exist, so existence
does not leak. (Work items carry their own ``partner`` scope, which ``services.tasks``
enforces too; the API checks both.)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select

from retention_flow.core.errors import NotFound, ValidationFailed
from retention_flow.db.json_sql import json_text, json_text_indexed
from retention_flow.db.session import read_session
from retention_flow.services.cases.views import CaseView, TaskView, case_view, task_view
from retention_flow.services.platform import readable
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.steps.save import (
    CASE,
    HEAD_COLUMNS,
    INCIDENT,
    OPEN_STATES,
    WORK,
    CaseHead,
)
from retention_flow.services.tasks.queue_pages import customer_cases, like

#: a case's status, as ``list_cases`` filters by it
CASE_STATUSES = ("active", "completed", "cancelled", "incident")

PARTNER_KEY = "allocated_partner"


def is_partner(actor: Actor) -> bool:
    return "partner" in actor.roles


def _partner_of_case() -> ColumnElement[str]:
    return json_text(CASE.c.data, PARTNER_KEY)


def check_case_visible(ctx: AppContext, actor: Actor, case_id: str) -> None:
    """NotFound unless the actor may see this case (only partners are restricted)."""
    if not is_partner(actor):
        return
    with read_session(ctx.db) as session:
        org = session.execute(
            select(_partner_of_case()).where(CASE.c.id == case_id)
        ).scalar_one_or_none()
    if org is None or org != actor.partner:
        raise NotFound(f"case {case_id} not found")


def check_task_visible(ctx: AppContext, actor: Actor, task_id: str) -> None:
    if not is_partner(actor):
        return
    with read_session(ctx.db) as session:
        org = session.execute(
            select(_partner_of_case())
            .select_from(WORK.join(CASE, CASE.c.id == WORK.c.case_id))
            .where(WORK.c.id == task_id)
        ).scalar_one_or_none()
    if org is None or org != actor.partner:
        raise NotFound(f"task {task_id} not found")


def list_cases(
    ctx: AppContext,
    actor: Actor,
    *,
    status: str | None = None,
    channel: str | None = None,
    process_id: str | None = None,
    business_key: str | None = None,
    customer: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    partial: bool = False,
) -> tuple[list[CaseView], int]:
    """Cases newest first, filtered (``created_from`` <= created < ``created_to``), with the
    total matching; partners see their own only. An unknown ``status`` is refused (422),
    not answered with an empty list. The channel matches in any case; with ``partial``
    (the auditor's search) the business key matches any part of it in any case, and the
    customer any part of the customer's id or name."""
    if status is not None and status not in CASE_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(CASE_STATUSES)}",
            errors=[{"field": "status", "message": f"one of {', '.join(CASE_STATUSES)}"}],
        )
    conditions: list[ColumnElement[bool]] = []
    for name, value in (
        ("status", status),
        ("process_id", process_id),
        ("business_key", None if partial else business_key),
    ):
        if value is not None:
            conditions.append(CASE.c[name] == value)
    if channel is not None:  # channels are lower case; a search for "Inbound" finds them
        conditions.append(func.lower(CASE.c.channel) == channel.lower())
    if partial and business_key is not None:
        conditions.append(func.lower(CASE.c.business_key).like(like(business_key), escape="\\"))
    if customer is not None and partial:
        conditions.append(CASE.c.id.in_(customer_cases(customer)))
    elif customer is not None:
        # the form of the expression index ix_case_customer_id (migration 0023)
        conditions.append(json_text_indexed(CASE.c.data, "customer_id") == customer)
    if created_from is not None:
        conditions.append(CASE.c.created_at >= created_from)
    if created_to is not None:
        conditions.append(CASE.c.created_at < created_to)
    if is_partner(actor):
        conditions.append(_partner_of_case() == (actor.partner or ""))
    where = and_(True, *conditions)
    with read_session(ctx.db) as session:
        heads = [
            CaseHead(**r)
            for r in session.execute(
                select(*HEAD_COLUMNS)
                .where(where)
                .order_by(CASE.c.created_at.desc(), CASE.c.id)
                .limit(limit)
                .offset(offset)
            ).mappings()
        ]
        count = select(func.count()).select_from(CASE).where(where)
        total = int(session.execute(count).scalar_one())
        tasks: dict[str, list[TaskView]] = defaultdict(list)
        if heads:
            rows = session.execute(
                select(WORK)
                .where(WORK.c.case_id.in_([h.id for h in heads]))
                .where(WORK.c.state.in_(OPEN_STATES))
                .order_by(WORK.c.due_at, WORK.c.priority.desc())
            ).mappings()
            for row in rows:
                tasks[row["case_id"]].append(task_view(row))
        return [case_view(h, tasks[h.id]) for h in heads], total


def queue_sizes(ctx: AppContext) -> list[tuple[str, str, int]]:
    """(role, state, count) of open work items: one grouped scan of the queue index."""
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(WORK.c.role, WORK.c.state, func.count())
            .where(WORK.c.state.in_(OPEN_STATES))
            .group_by(WORK.c.role, WORK.c.state)
        ).all()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def open_work(
    ctx: AppContext,
    *,
    role: str | None = None,
    due_before: datetime | None = None,
    limit: int = 100,
) -> list[TaskView]:
    """Open work items, ready and claimed, of every role (or one) for a team lead's
    overview: by due time, then priority; ``due_before`` keeps the overdue ones."""
    condition: ColumnElement[bool] = WORK.c.state.in_(OPEN_STATES)
    if role is not None:
        condition = and_(condition, WORK.c.role == role)
    if due_before is not None:
        condition = and_(condition, WORK.c.due_at < due_before)
    query = (
        select(WORK)
        .where(condition)
        .order_by(WORK.c.due_at, WORK.c.priority.desc())
        .limit(max(1, min(limit, 500)))
    )
    with read_session(ctx.db) as session:
        return [task_view(r) for r in session.execute(query).mappings()]


# --------------------------------------------------------------------------- reads for the API


def process_models(ctx: AppContext) -> list[dict[str, Any]]:
    """Each process model with its versions (oldest first), its latest version and its
    open incidents per version (versions without any left out)."""
    from retention_flow.services.process_models.deployments import list_versions

    grouped: dict[str, list[Any]] = defaultdict(list)
    for version in list_versions(ctx):
        grouped[version.process_id].append(version)
    incidents: dict[str, dict[int, int]] = defaultdict(dict)
    with read_session(ctx.db) as session:
        rows = session.execute(
            select(INCIDENT.c.process_id, INCIDENT.c.process_version, func.count())
            .where(INCIDENT.c.status == "open")
            .group_by(INCIDENT.c.process_id, INCIDENT.c.process_version)
        )
        for pid, version, count in rows:
            if pid is not None and version is not None:
                incidents[pid][int(version)] = int(count)
    return [
        {
            "process_id": pid,
            "name": versions[-1].name,
            "latest_version": versions[-1].version,
            "versions": versions,
            "open_incidents": incidents.get(pid, {}),
        }
        for pid, versions in sorted(grouped.items())
    ]


def case_history(ctx: AppContext, case_id: str) -> list[Any]:
    from retention_flow.services.audit.trail import history

    with read_session(ctx.db) as session:
        if session.execute(select(CASE.c.id).where(CASE.c.id == case_id)).first() is None:
            raise NotFound(f"case {case_id} not found")
        return [readable.audit_event(e) for e in history(session, case_id)]


def verify_audit(ctx: AppContext) -> dict[str, Any]:
    """Every chain with its seals, and the server's checkpoint file when there is one."""
    from retention_flow.services.audit.admin import verify_trail

    return verify_trail(ctx)


def database_ready(ctx: AppContext) -> dict[str, Any]:
    """Whether the database answers and its schema is at the current migration."""
    from sqlalchemy import text

    from retention_flow.db.migrate import current_revision, head_revision

    try:
        with read_session(ctx.db) as session:
            session.execute(text("SELECT 1"))
        current = current_revision(ctx.db)
    except Exception as exc:  # any driver error means "not ready"
        return {"ready": False, "database": f"unreachable: {type(exc).__name__}"}
    head = head_revision()
    return {
        "ready": current == head,
        "database": "ok",
        "migration": current,
        "expected_migration": head,
    }


def assignable_users(ctx: AppContext, actor: Actor) -> dict[str, list[str]]:
    """For each work role, the enabled users a supervisor may give its tasks to: holders
    of the role, and for a team lead who leads a team the members of that team (the rule
    ``claims.assign`` enforces; an admin or a lead without a team picks from everyone)."""
    from retention_flow.db.tables import USER

    with read_session(ctx.db) as session:
        rows = list(
            session.execute(
                select(USER.c.username, USER.c.roles, USER.c.team, USER.c.partner).where(
                    USER.c.disabled.is_(False)
                )
            )
        )
    team = None
    if "admin" not in actor.roles:
        team = next((r.team for r in rows if r.username == actor.username), None)
    out: dict[str, list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.username):
        if team is not None and row.team != team:
            continue
        for role in row.roles or []:
            out[str(role)].append(str(row.username))
    return dict(out)
