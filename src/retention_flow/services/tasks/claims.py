"""Claims: claim, unclaim and assign a work item. A claim changes no workflow state, so
it moves the item's claim and appends its audit event on the case's chain in one
transaction, without a workflow step.

Each use case first checks that the actor may see the task (``check_can_see``): a task
the actor cannot see answers 404 like ``GET /api/tasks/{id}``, before its state is looked
at, so a 409 ("not claimed", "already claimed") never tells an outsider how it stands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlmodel import Session

from retention_flow.core.errors import (
    CaseConflict,
    Forbidden,
    RetentionFlowError,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotReady,
    ValidationFailed,
)
from retention_flow.db.session import write_session
from retention_flow.db.tables import USER
from retention_flow.services.audit.trail import NewEvent, build_rows, insert_rows
from retention_flow.services.cases.views import TaskView, task_view
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.skills import check_skills, lacks
from retention_flow.services.steps.runner import retrying
from retention_flow.services.steps.save import CASE, OPEN_STATES, WORK
from retention_flow.services.tasks.rules import (
    SUPERVISOR_ROLES,
    check_can_see,
    check_four_eyes,
    check_not_suspended,
    check_partner,
    check_role,
    four_eyes_partner,
    load_item_head,
)
from retention_flow.services.tasks.work_time import pause_values, start_values, write

#: the claim moves only if the item is still as it was read (state and claimant)
_MOVE_CLAIM = {
    was_claimed: update(WORK)
    .where(
        and_(
            WORK.c.id == bindparam("b_id"),
            WORK.c.state == bindparam("b_state"),
            WORK.c.claimed_by == bindparam("b_was") if was_claimed else WORK.c.claimed_by.is_(None),
        )
    )
    .values(
        state=bindparam("b_new_state"),
        claimed_by=bindparam("b_user"),
        claimed_at=bindparam("b_at"),
    )
    for was_claimed in (False, True)
}
#: the case's audit head moves only from where it was read
_MOVE_HEAD = (
    update(CASE)
    .where(and_(CASE.c.id == bindparam("b_case"), CASE.c.audit_seq == bindparam("b_seq")))
    .values(
        audit_seq=bindparam("b_new_seq"),
        audit_hash=bindparam("b_hash"),
        audit_seal_key=bindparam("b_seal_key"),
        audit_seal=bindparam("b_seal"),
        updated_at=bindparam("b_at"),
    )
)


def _append_case_events(
    session: Session, ctx: AppContext, item: Mapping[Any, Any], events: list[NewEvent]
) -> None:
    """Audit events that change no workflow state (claims): chain on the case head as
    read with the item (``_load_item_head``); a head moved meanwhile is a conflict."""
    case_id, head_seq = item["case_id"], item["case_audit_seq"]
    rows, sealed = build_rows(
        case_id,
        case_id,
        head_seq,
        item["case_audit_hash"],
        events,
        ctx.now(),
        ctx.audit_keys.current(),
    )
    result = session.connection().execute(
        _MOVE_HEAD,
        {
            "b_case": case_id,
            "b_seq": head_seq,
            "b_new_seq": sealed.seq,
            "b_hash": sealed.hash,
            "b_seal_key": sealed.seal_key,
            "b_seal": sealed.seal,
            "b_at": ctx.now(),
        },
    )
    if result.rowcount != 1:
        raise CaseConflict(f"case {case_id} changed meanwhile; try again")
    insert_rows(session, rows)


def claim(ctx: AppContext, actor: Actor, task_id: str) -> TaskView:
    def once() -> TaskView:
        with write_session(ctx.db) as session:
            item = load_item_head(session, task_id)
            check_can_see(actor, item)
            if item["state"] == "claimed":
                if item["claimed_by"] == actor.username:
                    return task_view(item)
                raise TaskAlreadyClaimed(
                    f"task {task_id} is already claimed by {item['claimed_by']}"
                )
            if item["state"] != "ready":
                raise TaskNotReady(f"task {task_id} is {item['state']}")
            check_role(actor, item)
            check_not_suspended(item)
            check_skills(session, actor.username, item)
            other = four_eyes_partner(ctx, session, item["case_deployment_id"], item["element_id"])
            if other:
                check_four_eyes(session, actor, item, other)
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
) -> TaskView:
    """Claim for ``user`` (or release when None) if the item is still as it was read
    (``_load_item_head``), audit it on the case's chain, commit, and answer the work item
    as it now stands."""
    moved = {
        "state": "claimed" if user else "ready",
        "claimed_by": user,
        "claimed_at": ctx.now() if user else None,
    }
    # a claim starts the claimant's work; a release or assignment pauses whoever's it was
    work: dict[str, Any] = {}
    if user is not None and event.type == "task_claimed":
        work = start_values(item, user, ctx.now())
    elif item.get("work_started_by") != user:
        work = pause_values(item, ctx.now())
    result = session.connection().execute(
        _MOVE_CLAIM[item["claimed_by"] is not None],
        {
            "b_id": item["id"],
            "b_state": item["state"],
            "b_was": item["claimed_by"],
            "b_new_state": moved["state"],
            "b_user": user,
            "b_at": moved["claimed_at"],
        },
    )
    if result.rowcount != 1:
        raise conflict(f"task {item['id']} changed meanwhile (claimed by someone else?)")
    write(session, item["id"], work)
    _append_case_events(session, ctx, item, [event])
    session.commit()
    return task_view({**item, **moved})


def open_for_work(ctx: AppContext, actor: Actor, task_id: str) -> bool:
    """The task page was opened by ``actor``: if they may work the task (it is ready and
    of their role, or claimed by them) and are not already on it, their work starts now
    (``services/tasks/work_time.py``; audited as ``task_opened``). Anyone else opening it changes
    nothing. True if work started."""

    def once() -> bool:
        with write_session(ctx.db) as session:
            item = load_item_head(session, task_id)
            check_partner(actor, item)
            mine = item["state"] == "claimed" and item["claimed_by"] == actor.username
            free = item["state"] == "ready" and item["role"] in actor.roles
            free = free and lacks(session, actor.username, item) == []
            values = start_values(item, actor.username, ctx.now()) if mine or free else {}
            if not values:
                return False
            write(session, task_id, values)
            event = NewEvent(
                "task_opened", actor.username, element_id=item["element_id"], task_id=task_id
            )
            _append_case_events(session, ctx, item, [event])
            session.commit()
            return True

    return retrying(once)


def unclaim(ctx: AppContext, actor: Actor, task_id: str) -> TaskView:
    def once() -> TaskView:
        with write_session(ctx.db) as session:
            item = load_item_head(session, task_id)
            check_can_see(actor, item)
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


def assign(ctx: AppContext, actor: Actor, task_id: str, assignee: str, reason: str) -> TaskView:
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

    def once() -> TaskView:
        with write_session(ctx.db) as session:
            item = load_item_head(session, task_id)
            check_can_see(actor, item)
            if item["state"] not in OPEN_STATES:
                raise TaskNotReady(f"task {task_id} is {item['state']}")
            check_not_suspended(item)
            _check_assign_scope(session, actor, item, assignee)
            check_skills(session, assignee, item, assignee=True)
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
