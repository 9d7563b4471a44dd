"""Login throttling per (user name, client address), with growing waits.

Failed logins are counted per user name *and* client address (OWASP Authentication Cheat
Sheet: throttle rather than lock, so that a guesser cannot lock the real user out). After
``login_max_failures`` failures from one address, that address must wait before it may
try that user name again: ``login_delay_seconds`` after the first such failure, doubling
with each further one, up to ``login_max_delay_minutes``. While it waits, its attempts
are refused (``TooManyAttempts``, HTTP 429 with ``Retry-After``) without the password
being checked, so waiting is the only way on. Other addresses are not affected: the real
user logs in from their own while a guesser waits. Failures are forgotten
``login_failure_window_minutes`` after the last one, and a successful login clears the
count of its own address.

Each attempt is counted (and the wait it would start is set) before its password is
checked (``admit``), in one transaction with the row locked, so a burst of concurrent
attempts cannot slip past the limit while the first ones are being checked. The counters
live in the database (``login_throttle``), so every API process counts the same
failures. Unknown user names are counted exactly like known ones: a 429 does not tell
whether an account exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from retention_flow.core.config import Settings
from retention_flow.core.errors import TooManyAttempts
from retention_flow.db.session import write_session
from retention_flow.db.tables import LOGIN_THROTTLE
from retention_flow.services.platform.context import AppContext

#: the client address when there is none (the CLI, an ASGI server that gives none)
LOCAL_CLIENT = "local"
_USERNAME_MAX = 200
_CLIENT_MAX = 64
_ATTEMPTS = 3  # a concurrent first attempt from the same address takes the insert


def _key(username: str, client: str | None) -> tuple[str, str]:
    return username[:_USERNAME_MAX], (client or LOCAL_CLIENT)[:_CLIENT_MAX]


def _key_where(username: str, client: str) -> object:
    return and_(LOGIN_THROTTLE.c.username == username, LOGIN_THROTTLE.c.client == client)


@dataclass(frozen=True)
class Admission:
    """An attempt let through to the password check, already counted as a failure."""

    failures: int
    #: the wait this attempt starts if its password is wrong (None: below the limit)
    wait: timedelta | None


def admit(ctx: AppContext, username: str, client: str | None) -> Admission:
    """Let one login attempt through to the password check, or refuse it
    (``TooManyAttempts``) while this address must wait for this user name.

    The attempt is counted as a failure *before* the password is checked, and the wait
    it would start is set at once, in one transaction with the row locked: a burst of
    concurrent attempts (several threads, several API processes) cannot slip past the
    limit while the first ones are still being checked. A success then clears the
    count (``clear``)."""
    name, address = _key(username, client)
    tries = 0
    while True:
        try:
            return _admit(ctx, name, address)
        except IntegrityError:  # a concurrent first attempt inserted the row first
            tries += 1
            if tries >= _ATTEMPTS:
                raise


def _admit(ctx: AppContext, name: str, address: str) -> Admission:
    settings, table = ctx.settings, LOGIN_THROTTLE
    now = ctx.now()
    window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
    with write_session(ctx.db) as session:
        row = session.execute(
            select(table.c.failures, table.c.last_failure_at, table.c.blocked_until)
            .where(_key_where(name, address))  # type: ignore[arg-type]
            .with_for_update()
        ).first()
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            wait = row.blocked_until - now
            raise TooManyAttempts(
                f"too many failed logins for this user name from your address: "
                f"wait {_in_minutes(wait)} before trying again",
                retry_after=_seconds(wait),
            )
        stale = row is None or row.last_failure_at < window_start
        failures = 1 if stale or row is None else int(row.failures) + 1
        wait = _wait(settings, failures)
        values = {
            "failures": failures,
            "last_failure_at": now,
            "blocked_until": now + wait if wait is not None else None,
        }
        if row is None:
            session.execute(insert(table).values(username=name, client=address, **values))
        else:
            session.execute(update(table).where(_key_where(name, address)).values(**values))  # type: ignore[arg-type]
        _forget_quiet(session, now, window_start)
        session.commit()
    return Admission(failures, wait)


def _forget_quiet(session: Session, now: datetime, window_start: datetime) -> None:
    """Remove pairs quiet for a whole window (an index range on last_failure_at). Rows
    another transaction holds are skipped, not waited for: two logins each holding their
    own row could otherwise deadlock on each other's (PostgreSQL)."""
    table = LOGIN_THROTTLE
    quiet = (
        select(table.c.username, table.c.client)
        .where(
            and_(
                table.c.last_failure_at < window_start,
                or_(table.c.blocked_until.is_(None), table.c.blocked_until < now),
            )
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(table).where(tuple_(table.c.username, table.c.client).in_(quiet)))


def _wait(settings: Settings, failures: int) -> timedelta | None:
    """The wait after ``failures`` failures: none below the limit, then the first wait
    doubling with each further failure, up to the cap."""
    beyond = failures - settings.login_max_failures
    if beyond < 0:
        return None
    cap = settings.login_max_delay_minutes * 60
    # 2**beyond grows without end; past the cap it no longer matters
    seconds = cap if beyond > 40 else min(cap, settings.login_delay_seconds * 2**beyond)
    return timedelta(seconds=seconds)


def refuse(admission: Admission) -> None:
    """The admitted attempt had wrong credentials: if it started a wait, say so
    (``TooManyAttempts``); otherwise return and the caller answers 401."""
    if admission.wait is None:
        return
    raise TooManyAttempts(
        f"invalid user name or password; after {admission.failures} failed logins from "
        f"your address, wait {_in_minutes(admission.wait)} before trying again",
        retry_after=_seconds(admission.wait),
    )


def clear(ctx: AppContext, username: str, client: str | None) -> None:
    """A successful login: this address starts again from zero (others keep theirs);
    also takes back the failure ``admit`` counted for it."""
    name, address = _key(username, client)
    with write_session(ctx.db) as session:
        session.execute(delete(LOGIN_THROTTLE).where(_key_where(name, address)))  # type: ignore[arg-type]
        session.commit()


def clear_user(ctx: AppContext, username: str) -> None:
    """An administrator set a new password or enabled the user: every address starts
    again."""
    with write_session(ctx.db) as session:
        session.execute(
            delete(LOGIN_THROTTLE).where(LOGIN_THROTTLE.c.username == username[:_USERNAME_MAX])
        )
        session.commit()


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _in_minutes(wait: timedelta) -> str:
    """A wait as people read it: whole minutes, rounded up ("1 minute", "8 minutes")."""
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
