"""Work items: queues, claim / unclaim / assign, complete with form validation.

Lanes are roles: a user may claim a task whose role is among theirs; a team lead may
assign any task; completing takes the claim (or claims a ready task in passing)."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import and_, bindparam, select, update
from sqlmodel import Session

from ..core.errors import (
    CaseConflict,
    CaseNotActive,
    Forbidden,
    NotFound,
    RetentionFlowError,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotReady,
    ValidationFailed,
)
from ..db.session import read_session, write_session
from ..db.tables import USER
from ..engine.runtime import Operation, Runtime
from .audit import NewEvent, build_rows, insert_rows
from .context import Actor, AppContext
from .processes import bundle_for
from .stepping import retrying, step_case
from .steps import CASE, OPEN_STATES, WORK, CaseHead
from .task_context import task_context
from .views import task_view

SUPERVISOR_ROLES = frozenset({"team_lead", "admin"})
PARTNER_ROLE = "partner"

_validators: dict[int, Draft202012Validator] = {}
_validators_lock = threading.Lock()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    key = id(schema)
    found = _validators.get(key)
    if found is None:
        found = Draft202012Validator(schema)
        with _validators_lock:
            _validators[key] = found
    return found


def validate_form(schema: dict[str, Any] | None, data: dict[str, Any]) -> None:
    if schema is None:
        return
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        details = [
            {
                "field": ".".join(str(p) for p in e.path) or _missing_field(e) or "(form)",
                "message": e.message,
            }
            for e in errors
        ]
        raise ValidationFailed(
            f"the form data is invalid: {details[0]['field']}: {details[0]['message']}",
            errors=details,
        )


def _missing_field(error: Any) -> str | None:
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                return str(name)
    return None


# --------------------------------------------------------------------------- queues


def list_queue(
    ctx: AppContext,
    actor: Actor,
    *,
    queue: str = "available",
    role: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """``available``: ready tasks of the actor's roles (or one of them); ``mine``: claimed
    by the actor. Sorted by due time, then priority (high first).

    Each role is read with its own index range scan (``role, state, due_at``) and the
    runs are merged, so the cost follows ``limit + offset``, not the queue's length.
    """
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    with read_session(ctx.db) as session:
        if queue == "mine":
            query = (
                select(WORK)
                .where(and_(WORK.c.claimed_by == actor.username, WORK.c.state == "claimed"))
                .order_by(WORK.c.due_at, WORK.c.priority.desc())
                .limit(limit)
                .offset(offset)
            )
            return [task_view(r) for r in session.execute(query).mappings()]
        if queue != "available":
            raise ValidationFailed(
                f"unknown queue '{queue}'",
                errors=[{"field": "queue", "message": "mine or available"}],
            )
        roles = [role] if role is not None else sorted(actor.roles)
        if role is not None and role not in actor.roles and not (actor.roles & SUPERVISOR_ROLES):
            raise Forbidden(f"you do not hold the role '{role}'")
        runs = []
        for one in roles:
            where = and_(WORK.c.role == one, WORK.c.state == "ready")
            if one == PARTNER_ROLE and not (actor.roles & SUPERVISOR_ROLES):
                # partners see only the leads allocated to their own organisation
                where = and_(where, WORK.c.partner == (actor.partner or ""))
            query = (
                select(WORK)
                .where(where)
                .order_by(WORK.c.due_at, WORK.c.priority.desc())
                .limit(limit + offset)
            )
            runs.append([dict(r) for r in session.execute(query).mappings()])
        merged = heapq.merge(*runs, key=lambda r: (r["due_at"], -r["priority"], r["id"]))
        rows = list(merged)[offset : offset + limit]
        return [task_view(r) for r in rows]


def get_task(ctx: AppContext, actor: Actor, task_id: str) -> dict[str, Any]:
    """The work item with its form schema and the case data an agent needs."""
    with read_session(ctx.db) as session:
        item = _load_item(session, task_id, _SELECT_ITEM_CASE)
        _check_can_see(actor, item)
        bundle = bundle_for(ctx, session, item["case_deployment_id"])
        view = task_view(item)
        view["form"] = bundle.forms.get(item["form"]) if item["form"] else None
        view["context"] = task_context(session, item["case_id"], item["case_data"] or {})
        return view


_SELECT_ITEM = select(WORK).where(WORK.c.id == bindparam("b_id"))
#: the work item with what a claim needs of its case (deployment, audit chain head)
_SELECT_ITEM_HEAD = (
    select(
        WORK,
        CASE.c.deployment_id.label("case_deployment_id"),
        CASE.c.audit_seq.label("case_audit_seq"),
        CASE.c.audit_hash.label("case_audit_hash"),
    )
    .join(CASE, CASE.c.id == WORK.c.case_id)
    .where(WORK.c.id == bindparam("b_id"))
)
#: the work item with its case's deployment and data (the task page)
_SELECT_ITEM_CASE = (
    select(
        WORK,
        CASE.c.deployment_id.label("case_deployment_id"),
        CASE.c.data.label("case_data"),
    )
    .join(CASE, CASE.c.id == WORK.c.case_id)
    .where(WORK.c.id == bindparam("b_id"))
)


def _load_item(session: Session, task_id: str, statement: Any = _SELECT_ITEM) -> Mapping[Any, Any]:
    row = session.connection().execute(statement, {"b_id": task_id}).mappings().first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return row


def _load_item_head(session: Session, task_id: str) -> Mapping[Any, Any]:
    """The work item plus its case's deployment and audit head, in one query."""
    return _load_item(session, task_id, _SELECT_ITEM_HEAD)


def _check_role(actor: Actor, item: Mapping[Any, Any]) -> None:
    _check_partner(actor, item)
    if item["role"] not in actor.roles:
        raise Forbidden(
            f"task {item['id']} belongs to role '{item['role']}', which you do not hold"
        )


def _check_partner(actor: Actor, item: Mapping[Any, Any]) -> None:
    """A partner-scoped task is invisible to other organisations: 404, not 403."""
    foreign = item.get("partner") and item["partner"] != actor.partner
    if foreign and not (actor.roles & (SUPERVISOR_ROLES | {"auditor"})):
        raise NotFound(f"task {item['id']} not found")


def _check_four_eyes(session: Session, actor: Actor, item: Mapping[Any, Any], other: str) -> None:
    """The four-eyes principle: whoever completed ``other`` on this case may not do this."""
    done_by = session.execute(
        select(WORK.c.ended_by).where(
            and_(
                WORK.c.case_id == item["case_id"],
                WORK.c.element_id == other,
                WORK.c.state == "completed",
            )
        )
    ).scalars()
    if actor.username in set(done_by):
        raise Forbidden(
            f"four-eyes principle: you completed '{other}' on this case, "
            f"so someone else must do '{item['element_id']}'"
        )


def _four_eyes_partner(
    ctx: AppContext, session: Session, deployment_id: str, element_id: str
) -> str | None:
    bundle = bundle_for(ctx, session, deployment_id)
    return next(
        (
            m.four_eyes_with
            for (_s, e), m in bundle.user_tasks.items()
            if e == element_id and m.four_eyes_with
        ),
        None,
    )


def _check_can_see(actor: Actor, item: Mapping[Any, Any]) -> None:
    _check_partner(actor, item)
    if item["role"] in actor.roles or item["claimed_by"] == actor.username:
        return
    if actor.roles & (SUPERVISOR_ROLES | {"auditor"}):
        return
    raise NotFound(f"task {item['id']} not found")


def _append_case_events(
    session: Session, ctx: AppContext, item: Mapping[Any, Any], events: list[NewEvent]
) -> None:
    """Audit events that change no workflow state (claims): chain on the case head as
    read with the item (``_load_item_head``); a head moved meanwhile is a conflict."""
    case_id, head_seq = item["case_id"], item["case_audit_seq"]
    rows, seq, digest = build_rows(
        case_id, case_id, head_seq, item["case_audit_hash"], events, ctx.now()
    )
    result = session.execute(
        update(CASE)
        .where(and_(CASE.c.id == case_id, CASE.c.audit_seq == head_seq))
        .values(audit_seq=seq, audit_hash=digest, updated_at=ctx.now())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CaseConflict(f"case {case_id} changed meanwhile; try again")
    insert_rows(session, rows)


# --------------------------------------------------------------------------- claims


def claim(ctx: AppContext, actor: Actor, task_id: str) -> dict[str, Any]:
    def once() -> dict[str, Any]:
        with write_session(ctx.db) as session:
            item = _load_item_head(session, task_id)
            if item["state"] == "claimed":
                if item["claimed_by"] == actor.username:
                    return task_view(item)
                raise TaskAlreadyClaimed(
                    f"task {task_id} is already claimed by {item['claimed_by']}"
                )
            if item["state"] != "ready":
                raise TaskNotReady(f"task {task_id} is {item['state']}")
            _check_role(actor, item)
            other = _four_eyes_partner(ctx, session, item["case_deployment_id"], item["element_id"])
            if other:
                _check_four_eyes(session, actor, item, other)
            event = NewEvent(
                "task_claimed", actor.username, element_id=item["element_id"], task_id=task_id
            )
            return _move_claim(session, ctx, item, actor.username, event, TaskAlreadyClaimed)

    return retrying(once)


def _move_claim(
    session: Session,
    ctx: AppContext,
    item: Mapping[Any, Any],
    user: str | None,
    event: NewEvent,
    conflict: type[RetentionFlowError],
) -> dict[str, Any]:
    """Claim for ``user`` (or release when None) if the item is still as it was read
    (``_load_item_head``), audit it on the case's chain, commit, and answer the work item
    as it now stands."""
    was = WORK.c.claimed_by
    unchanged = was.is_(None) if item["claimed_by"] is None else was == item["claimed_by"]
    moved = {
        "state": "claimed" if user else "ready",
        "claimed_by": user,
        "claimed_at": ctx.now() if user else None,
    }
    result = session.execute(
        update(WORK)
        .where(and_(WORK.c.id == item["id"], WORK.c.state == item["state"], unchanged))
        .values(**moved)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise conflict(f"task {item['id']} changed meanwhile (claimed by someone else?)")
    _append_case_events(session, ctx, item, [event])
    session.commit()
    return task_view({**item, **moved})


def unclaim(ctx: AppContext, actor: Actor, task_id: str) -> dict[str, Any]:
    def once() -> dict[str, Any]:
        with write_session(ctx.db) as session:
            item = _load_item_head(session, task_id)
            if item["state"] != "claimed":
                raise TaskNotClaimed(f"task {task_id} is not claimed")
            if item["claimed_by"] != actor.username and not (actor.roles & SUPERVISOR_ROLES):
                raise Forbidden(f"task {task_id} is claimed by {item['claimed_by']}, not by you")
            event = NewEvent(
                "task_unclaimed",
                actor.username,
                element_id=item["element_id"],
                task_id=task_id,
                detail={"was_claimed_by": item["claimed_by"]},
            )
            return _move_claim(session, ctx, item, None, event, CaseConflict)

    return retrying(once)


def assign(
    ctx: AppContext, actor: Actor, task_id: str, assignee: str, reason: str
) -> dict[str, Any]:
    """A team lead (or admin) gives a task to a user, with a reason on record."""
    if not (actor.roles & SUPERVISOR_ROLES):
        raise Forbidden("only a team lead or an admin may assign tasks")
    if not reason or not reason.strip():
        raise ValidationFailed(
            "a reason is required to assign a task",
            errors=[{"field": "reason", "message": "required"}],
        )
    if not assignee or not assignee.strip():
        raise ValidationFailed(
            "an assignee is required", errors=[{"field": "assignee", "message": "required"}]
        )

    def once() -> dict[str, Any]:
        with write_session(ctx.db) as session:
            item = _load_item_head(session, task_id)
            if item["state"] not in OPEN_STATES:
                raise TaskNotReady(f"task {task_id} is {item['state']}")
            _check_assign_scope(session, actor, item, assignee)
            event = NewEvent(
                "task_assigned",
                actor.username,
                element_id=item["element_id"],
                task_id=task_id,
                detail={
                    "assignee": assignee,
                    "reason": reason,
                    "was_claimed_by": item["claimed_by"],
                },
            )
            return _move_claim(session, ctx, item, assignee, event, CaseConflict)

    return retrying(once)


def _check_assign_scope(
    session: Session, actor: Actor, item: Mapping[Any, Any], assignee: str
) -> None:
    """Who may get the task, and from whom a team lead may take it.

    The assignee must be an enabled user holding the task's lane role (and, for a
    partner's lead, of that partner organisation). A team lead who leads a team
    (``app_user.team``) assigns within it: to members of the team, and only tasks that
    are unclaimed or claimed by a member. Admins, and leads without a team (teams are
    optional), are not limited to a team.
    """
    claimant = item["claimed_by"]
    names = {actor.username, assignee} | ({claimant} if claimant else set())
    people = {
        row.username: row
        for row in session.execute(
            select(
                USER.c.username, USER.c.roles, USER.c.team, USER.c.partner, USER.c.disabled
            ).where(USER.c.username.in_(sorted(names)))
        )
    }
    person = people.get(assignee)
    if person is None or person.disabled:
        raise ValidationFailed(
            f"there is no active user '{assignee}'",
            errors=[{"field": "assignee", "message": "no such active user"}],
        )
    if item["role"] not in person.roles:
        raise ValidationFailed(
            f"{assignee} does not hold the role '{item['role']}' this task needs",
            errors=[{"field": "assignee", "message": f"lacks the role {item['role']}"}],
        )
    if item.get("partner") and person.partner != item["partner"]:
        raise ValidationFailed(
            f"this lead belongs to partner '{item['partner']}'; {assignee} does not",
            errors=[{"field": "assignee", "message": "not of the task's partner"}],
        )
    lead = people.get(actor.username)
    team = lead.team if lead is not None and "admin" not in actor.roles else None
    if team is None:
        return
    if person.team != team:
        raise Forbidden(f"you lead team '{team}'; {assignee} is in {_team_name(person.team)}")
    if claimant and claimant != assignee:
        holder = people.get(claimant)
        if holder is None or holder.team != team:
            held = _team_name(holder.team if holder is not None else None)
            raise Forbidden(
                f"task {item['id']} is claimed by {claimant} of {held}, outside your team '{team}'"
            )


def _team_name(team: str | None) -> str:
    return f"team '{team}'" if team else "no team"


# --------------------------------------------------------------------------- complete


def complete(ctx: AppContext, actor: Actor, task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Complete a task with form data → ``{"case": ..., "next_tasks": [...]}``.

    The claimant completes; a ready task of one's own role is claimed in passing.
    Exactly one of two concurrent completions wins; the other gets ``task_not_ready``
    (or ``task_already_claimed``) and nothing is applied twice.
    """
    if not isinstance(data, dict):
        raise ValidationFailed(
            "data must be a JSON object", errors=[{"field": "data", "message": "must be an object"}]
        )

    loaded: dict[int, Mapping[Any, Any]] = {}

    def case_of(session: Session) -> str:
        loaded[id(session)] = item = _load_item(session, task_id)
        return str(item["case_id"])

    def make(session: Session, head: CaseHead) -> tuple[Operation, list[NewEvent], dict[str, Any]]:
        current = loaded.pop(id(session), None) or _load_item(session, task_id)
        if current["state"] not in OPEN_STATES:
            raise TaskNotReady(f"task {task_id} was already {current['state']}")
        if current["state"] == "claimed" and current["claimed_by"] != actor.username:
            raise TaskAlreadyClaimed(f"task {task_id} is claimed by {current['claimed_by']}")
        events: list[NewEvent] = []
        if current["state"] == "ready":
            _check_role(actor, current)
            events.append(
                NewEvent(
                    "task_claimed",
                    actor.username,
                    element_id=current["element_id"],
                    task_id=task_id,
                )
            )
        _check_partner(actor, current)
        other = _four_eyes_partner(ctx, session, head.deployment_id, current["element_id"])
        if other:
            _check_four_eyes(session, actor, current, other)
        bundle = bundle_for(ctx, session, head.deployment_id)
        validate_form(bundle.forms.get(current["form"]) if current["form"] else None, data)
        before = {k: head.data.get(k) for k in data}
        events.append(
            NewEvent(
                "task_completed",
                actor.username,
                element_id=current["element_id"],
                task_id=task_id,
                data_before=before,
                data_after=data,
            )
        )
        return Runtime.complete_user_task(task_id, data), events, {"completed_task": task_id}

    try:
        result, view = step_case(ctx, actor, case_of, make)
    except CaseNotActive as exc:
        raise TaskNotReady(f"task {task_id} cannot be completed: {exc.detail}") from exc
    next_tasks = [task_view(i) for i in result.new_work_items if i["role"] in actor.roles]
    return {"case": view, "next_tasks": next_tasks}
