"""Agent skills, kept by team leads (browser, API, CLI): list, set (add or change the
proficiency) and remove, each change audited on the system stream in its transaction.

A team lead with a team (``app_user.team``) keeps the skills of their team's members;
admins and leads without a team keep everyone's. Agents read their own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from retention_flow.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SkillsMissing,
    ValidationFailed,
)
from retention_flow.core.skills import MAX_PROFICIENCY, SKILL_KINDS, missing, why_not
from retention_flow.core.text_rules import check_name
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import AGENT_SKILL, USER
from retention_flow.services.audit.trail import NewEvent, append_system
from retention_flow.services.cases.views import TaskView
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.routing.views import SkillView
from retention_flow.services.tasks.rules import SUPERVISOR_ROLES

SK = AGENT_SKILL


def held_by(conn: Connection, username: str) -> dict[tuple[str, str], int]:
    """What one agent holds: (kind, value) -> proficiency."""
    rows = conn.execute(
        select(SK.c.kind, SK.c.value, SK.c.proficiency).where(SK.c.username == username)
    )
    return {(r.kind, r.value): int(r.proficiency) for r in rows}


def _row(r: Any) -> SkillView:
    return SkillView(
        username=r.username,
        kind=r.kind,
        value=r.value,
        proficiency=int(r.proficiency),
        updated_by=r.updated_by,
        updated_at=r.updated_at.isoformat() if r.updated_at else None,
    )


def _lead_team(session: Session, actor: Actor) -> str | None:
    """The team the actor keeps skills of (None: everyone's)."""
    if not (actor.roles & SUPERVISOR_ROLES):
        raise Forbidden("only a team lead or an admin keeps agents' skills")
    if "admin" in actor.roles:
        return None
    team = session.execute(select(USER.c.team).where(USER.c.username == actor.username))
    return team.scalar_one_or_none()


def list_skills(ctx: AppContext, actor: Actor, username: str | None = None) -> list[SkillView]:
    """Skills of one agent or, for a team lead, of their team (everyone for an admin)."""
    with read_session(ctx.db) as session:
        query = select(SK).order_by(SK.c.username, SK.c.kind, SK.c.value)
        if not (actor.roles & SUPERVISOR_ROLES):
            if username not in (None, actor.username):
                raise Forbidden("you may read only your own skills")
            username = actor.username
        else:
            team = _lead_team(session, actor)
            if team is not None:
                members = select(USER.c.username).where(USER.c.team == team)
                query = query.where(SK.c.username.in_(members))
        if username is not None:
            query = query.where(SK.c.username == username)
        return [_row(r) for r in session.execute(query)]


def _check(kind: str, value: str, proficiency: int | None) -> None:
    if kind not in SKILL_KINDS:
        raise ValidationFailed(
            f"unknown skill kind '{kind}'",
            errors=[{"field": "kind", "message": " or ".join(SKILL_KINDS)}],
        )
    check_name(value, "value")
    if proficiency is not None and not 1 <= proficiency <= MAX_PROFICIENCY:
        raise ValidationFailed(
            f"proficiency is 1 to {MAX_PROFICIENCY}",
            errors=[{"field": "proficiency", "message": f"1 to {MAX_PROFICIENCY}"}],
        )


def _member(session: Session, actor: Actor, username: str) -> None:
    team = _lead_team(session, actor)
    person = session.execute(
        select(USER.c.team, USER.c.disabled).where(USER.c.username == username)
    ).first()
    if person is None:
        raise NotFound(f"there is no user '{username}'")
    if team is not None and person.team != team:
        raise Forbidden(f"you lead team '{team}'; {username} is not in it")


def set_skill(
    ctx: AppContext, actor: Actor, username: str, kind: str, value: str, proficiency: int
) -> SkillView:
    """Give an agent a skill, or change its proficiency (audited as ``skill_set``)."""
    _check(kind, value, proficiency)
    now = ctx.now()
    with write_session(ctx.db) as session:
        _member(session, actor, username)
        key = and_(SK.c.username == username, SK.c.kind == kind, SK.c.value == value)
        before = session.execute(select(SK.c.proficiency).where(key)).scalar_one_or_none()
        values = {"proficiency": proficiency, "updated_by": actor.username, "updated_at": now}
        if before is None:
            session.execute(insert(SK).values(username=username, kind=kind, value=value, **values))
        else:
            session.execute(update(SK).where(key).values(**values))
        skill = {"username": username, "kind": kind, "value": value}
        append_system(
            session,
            [
                NewEvent(
                    "skill_set",
                    actor.username,
                    data_before={"proficiency": before} if before is not None else None,
                    data_after={"proficiency": proficiency},
                    detail=skill,
                )
            ],
            now,
        )
        session.commit()
    return SkillView(
        **skill, proficiency=proficiency, updated_by=actor.username, updated_at=now.isoformat()
    )


def remove_skill(ctx: AppContext, actor: Actor, username: str, kind: str, value: str) -> None:
    """Take a skill away (audited as ``skill_removed``); one not held is already gone."""
    _check(kind, value, None)
    now = ctx.now()
    with write_session(ctx.db) as session:
        _member(session, actor, username)
        key = and_(SK.c.username == username, SK.c.kind == kind, SK.c.value == value)
        before = session.execute(select(SK.c.proficiency).where(key)).scalar_one_or_none()
        if before is None:
            return  # already gone: nothing to change or audit
        session.execute(delete(SK).where(key))
        append_system(
            session,
            [
                NewEvent(
                    "skill_removed",
                    actor.username,
                    data_before={"proficiency": before},
                    detail={"username": username, "kind": kind, "value": value},
                )
            ],
            now,
        )
        session.commit()


def mark_not_offered(conn: Connection, username: str, items: Iterable[TaskView]) -> list[TaskView]:
    """The queue items, with ``not_offered`` set on those whose required skills the agent
    lacks (one query, only when a listed item requires any)."""
    listed = list(items)
    if not any(item.required_skills for item in listed):
        return listed
    held = held_by(conn, username)
    reasons = [why_not(item.required_skills, held) for item in listed]
    return [
        item if why is None else item.model_copy(update={"not_offered": why})
        for item, why in zip(listed, reasons, strict=True)
    ]


def lacks(session: Session, username: str, item: Any) -> list[str]:
    """What ``username`` lacks of the task's required skills (one query, only if any)."""
    required = item.get("required_skills")
    return missing(required, held_by(session.connection(), username)) if required else []


def check_skills(session: Session, username: str, item: Any, *, assignee: bool = False) -> None:
    """Refuse a task whose required skills ``username`` lacks: 403 for the agent taking
    it, 409 for a team lead assigning it to them; the message names what is missing."""
    lacking = lacks(session, username, item)
    if not lacking:
        return
    if assignee:
        raise Conflict(
            f"{username} lacks what task {item['id']} needs: {'; '.join(lacking)}",
            errors=[{"field": "assignee", "message": "lacks skills: " + "; ".join(lacking)}],
        )
    raise SkillsMissing(
        f"task {item['id']} needs the skill {'; '.join(lacking)}; ask your team lead "
        "if you should have it"
    )
