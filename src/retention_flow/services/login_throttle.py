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

The counters live in the database (``login_throttle``), so every API process counts the
same failures. Unknown user names are counted exactly like known ones: a 429 does not
tell whether an account exists.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..core.errors import TooManyAttempts
from ..db.session import read_session, write_session
from ..db.tables import LOGIN_THROTTLE
from .context import AppContext

#: the client address when there is none (the CLI, an ASGI server that gives none)
LOCAL_CLIENT = "local"
_USERNAME_MAX = 200
_CLIENT_MAX = 64
_ATTEMPTS = 3  # a concurrent first failure from the same address takes the insert


def _key(username: str, client: str | None) -> tuple[str, str]:
    return username[:_USERNAME_MAX], (client or LOCAL_CLIENT)[:_CLIENT_MAX]


def _key_where(username: str, client: str) -> object:
    return and_(LOGIN_THROTTLE.c.username == username, LOGIN_THROTTLE.c.client == client)


def check(ctx: AppContext, username: str, client: str | None) -> bool:
    """Refuse (``TooManyAttempts``) while this address must wait for this user name.

    Answers whether failures are on record for the pair (so a success knows to clear
    them without writing on every login)."""
    name, address = _key(username, client)
    with read_session(ctx.db) as session:
        row = session.execute(
            select(LOGIN_THROTTLE.c.blocked_until).where(_key_where(name, address))  # type: ignore[arg-type]
        ).first()
    if row is None:
        return False
    if row.blocked_until is not None and row.blocked_until > ctx.now():
        wait = row.blocked_until - ctx.now()
        raise TooManyAttempts(
            f"too many failed logins for this user name from your address: "
            f"wait {_in_minutes(wait)} before trying again",
            retry_after=_seconds(wait),
        )
    return True


def record_failure(ctx: AppContext, username: str, client: str | None) -> None:
    """Count a failed login; from ``login_max_failures`` on, raise ``TooManyAttempts``
    with the wait this failure starts (otherwise return, and the caller answers 401)."""
    name, address = _key(username, client)
    settings = ctx.settings
    now = ctx.now()
    window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
    for attempt in range(_ATTEMPTS):
        try:
            failures = _count(ctx, name, address, now, window_start)
            break
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    beyond = failures - settings.login_max_failures
    if beyond < 0:
        return
    cap = settings.login_max_delay_minutes * 60
    # 2**beyond grows without end; past the cap it no longer matters
    seconds = cap if beyond > 40 else min(cap, settings.login_delay_seconds * 2**beyond)
    wait = timedelta(seconds=seconds)
    with write_session(ctx.db) as session:
        session.execute(
            update(LOGIN_THROTTLE)
            .where(_key_where(name, address))  # type: ignore[arg-type]
            .values(blocked_until=now + wait)
        )
        session.commit()
    raise TooManyAttempts(
        f"invalid user name or password; after {failures} failed logins from your address, "
        f"wait {_in_minutes(wait)} before trying again",
        retry_after=_seconds(wait),
    )


def _count(ctx: AppContext, name: str, address: str, now: datetime, window_start: datetime) -> int:
    """Add one failure for the pair (starting again after a quiet window); answer the
    count. One transaction: the row lock (PostgreSQL) or the write lock (SQLite) makes
    concurrent failures from several processes count one by one."""
    table = LOGIN_THROTTLE
    with write_session(ctx.db) as session:
        # forget pairs quiet for a whole window (an index range on last_failure_at)
        session.execute(
            delete(table).where(
                and_(
                    table.c.last_failure_at < window_start,
                    or_(table.c.blocked_until.is_(None), table.c.blocked_until < now),
                )
            )
        )
        moved = session.execute(
            update(table)
            .where(_key_where(name, address))  # type: ignore[arg-type]
            .values(
                failures=case(
                    (table.c.last_failure_at < window_start, 1), else_=table.c.failures + 1
                ),
                last_failure_at=now,
            )
        )
        if moved.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(
                insert(table).values(username=name, client=address, failures=1, last_failure_at=now)
            )
        failures = session.execute(
            select(table.c.failures).where(_key_where(name, address))  # type: ignore[arg-type]
        ).scalar_one()
        session.commit()
    return int(failures)


def clear(ctx: AppContext, username: str, client: str | None) -> None:
    """A successful login: this address starts again from zero (others keep theirs)."""
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
