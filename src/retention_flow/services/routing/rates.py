"""Retention rates learned from the audit trail: for every ended customer case with a
segment, each agent who completed a task on it (``task_completed`` events) is credited
with the case's outcome once; their team (``app_user.team``) and everyone together are
credited too. Read over ``routing_history_days`` and kept for ``routing_rates_seconds``
(one grouped query per refresh)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import and_, case, func, select

from retention_flow.db.session import read_session
from retention_flow.db.tables import AUDIT_EVENT, CASE, USER
from retention_flow.services.platform.context import AppContext
from retention_flow.services.routing.offering import RateBook

_cache: dict[int, tuple[float, RateBook]] = {}
_lock = threading.Lock()
#: actors whose completions are not an agent's work
_NOT_AGENTS = ("system", "engine", "clock")


def learned_rates(ctx: AppContext) -> RateBook:
    """The rate book as of now (cached per database for ``routing_rates_seconds``)."""
    key = id(ctx.db)
    ttl = ctx.settings.routing_rates_seconds
    found = _cache.get(key)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    book = read_rates(ctx)
    if ttl > 0:
        with _lock:
            _cache[key] = (time.monotonic() + ttl, book)
    return book


def forget(ctx: AppContext) -> None:
    with _lock:
        _cache.pop(id(ctx.db), None)


def read_rates(ctx: AppContext) -> RateBook:
    since = ctx.now() - timedelta(days=ctx.settings.routing_history_days)
    worked = (
        select(AUDIT_EVENT.c.actor, AUDIT_EVENT.c.case_id)
        .where(AUDIT_EVENT.c.type == "task_completed", AUDIT_EVENT.c.at >= since)
        .where(AUDIT_EVENT.c.actor.not_in(_NOT_AGENTS))
        .distinct()
        .subquery()
    )
    query = (
        select(
            worked.c.actor,
            USER.c.team,
            CASE.c.segment,
            func.sum(case((CASE.c.outcome == "retained", 1), else_=0)),
            func.count(),
        )
        .select_from(worked)
        .join(CASE, CASE.c.id == worked.c.case_id)
        .outerjoin(USER, USER.c.username == worked.c.actor)
        .where(and_(CASE.c.ended_at >= since, CASE.c.outcome.is_not(None)))
        .where(CASE.c.segment.is_not(None))
        .group_by(worked.c.actor, USER.c.team, CASE.c.segment)
    )
    book = RateBook()
    with read_session(ctx.db) as session:
        for actor, team, segment, retained, cases in session.execute(query):
            book.add(actor, team, segment, int(retained or 0), int(cases))
    return book
