"""Work time on a task: when work starts, pauses and ends, so handling time measures the
agent's work and not the moment the form was submitted.

A task's work starts when whoever may work it claims it or opens its page (``claims.open_for_work``:
the browser's task page; on the API, the claim), and it pauses when the task is
released or assigned to someone else. ``work_item`` keeps the open interval
(``work_started_at`` / ``work_started_by``, None while paused), the first start
(``first_worked_at``: the end of the waiting time) and the seconds handled so far
(``handling_seconds``). At completion the open interval is added, if the one completing is
the one who started it; a task completed straight from the queue without being opened
handles in 0 s, honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from retention_flow.services.steps.save import WORK


def _open_seconds(item: Mapping[Any, Any], user: str | None, now: datetime) -> float:
    started = item.get("work_started_at")
    if started is None or (user is not None and item.get("work_started_by") != user):
        return 0.0
    return max(0.0, float((now - started).total_seconds()))


def start_values(item: Mapping[Any, Any], user: str, now: datetime) -> dict[str, Any]:
    """Columns for work starting (or going on) for ``user``: an interval already open for
    the same user goes on; one of somebody else is closed into the handled seconds."""
    if item.get("work_started_at") is not None and item.get("work_started_by") == user:
        return {}
    return {
        "work_started_at": now,
        "work_started_by": user,
        "first_worked_at": item.get("first_worked_at") or now,
        "handling_seconds": _handled(item, now),
    }


def pause_values(item: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    """Columns for work pausing (release, assignment to someone else)."""
    if item.get("work_started_at") is None:
        return {}
    return {
        "work_started_at": None,
        "work_started_by": None,
        "handling_seconds": _handled(item, now),
    }


def _handled(item: Mapping[Any, Any], now: datetime) -> float | None:
    before = item.get("handling_seconds")
    if item.get("work_started_at") is None:
        return before
    return round((before or 0.0) + _open_seconds(item, None, now), 6)


def completion_values(item: Mapping[Any, Any], user: str, now: datetime) -> dict[str, Any]:
    """Columns when ``user`` completes the task: the handled seconds, final."""
    return {
        "work_started_at": None,
        "work_started_by": None,
        "first_worked_at": item.get("first_worked_at") or now,
        "handling_seconds": round(
            (item.get("handling_seconds") or 0.0) + _open_seconds(item, user, now), 6
        ),
    }


def write(session: Session, task_id: str, values: dict[str, Any]) -> None:
    if values:
        session.connection().execute(update(WORK).where(WORK.c.id == task_id).values(**values))
