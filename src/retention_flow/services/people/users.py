"""Users: add, change password, set roles, disable, authenticate.

Passwords are hashed with argon2id (argon2-cffi). Every change that must end existing
sessions (disable, new password, new roles) bumps ``token_version``; tokens carry the
version they were issued under and stop working when it moves on.

Failed logins are throttled per user name and client address (``login_throttle``, used
by ``auth.login``), not by locking the account: a guesser elsewhere cannot lock the real
user out. An administrator setting a new password or enabling the user clears the user's
throttling on every address.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from retention_flow.core.config import Settings
from retention_flow.core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from retention_flow.core.roles import ROLES, SKILL_GROUPS
from retention_flow.core.text_rules import check_name
from retention_flow.db.models import User
from retention_flow.db.session import read_session, write_session
from retention_flow.db.tables import USER
from retention_flow.services.people import login_throttle
from retention_flow.services.platform.context import Actor, AppContext
from retention_flow.services.platform.view import View

MIN_PASSWORD_LENGTH = 8
#: Roles a partner-bound user may hold (a partner is external: nothing internal).
PARTNER_ROLES = frozenset({"partner"})


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash("not-a-password-of-anyone")


def check_roles(roles: list[str] | tuple[str, ...], partner: str | None) -> list[str]:
    known = ROLES | SKILL_GROUPS
    unknown = sorted(set(roles) - known)
    if unknown:
        raise ValidationFailed(
            f"unknown role '{unknown[0]}'",
            errors=[{"field": "roles", "message": f"unknown role: {r}"} for r in unknown],
        )
    if not roles:
        raise ValidationFailed("at least one role", errors=[{"field": "roles", "message": "empty"}])
    if "partner" in roles and not partner:
        raise ValidationFailed(
            "a partner user needs a partner organisation",
            errors=[{"field": "partner", "message": "required for the partner role"}],
        )
    if partner and set(roles) - PARTNER_ROLES:
        raise ValidationFailed(
            "a user bound to a partner organisation may hold only the partner role",
            errors=[{"field": "roles", "message": "partner users hold only 'partner'"}],
        )
    return sorted(set(roles))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            errors=[{"field": "password", "message": f"min {MIN_PASSWORD_LENGTH} characters"}],
        )


class UserView(View):
    """A user as the faces show it: never the password hash or the token version."""

    username: str
    roles: list[str]
    partner: str | None
    team: str | None
    disabled: bool


def public(user: User) -> UserView:
    return UserView(
        username=user.username,
        roles=list(user.roles),
        partner=user.partner,
        team=user.team,
        disabled=user.disabled,
    )


def _team(team: str | None) -> str | None:
    team = (team or "").strip() or None
    if team is not None:
        check_name(team, "team")
    if team is not None and len(team) > 100:
        raise ValidationFailed(
            "a team name is at most 100 characters",
            errors=[{"field": "team", "message": "too long"}],
        )
    return team


def set_team(ctx: AppContext, username: str, team: str | None) -> UserView:
    """Put a user in a team (or none); KPIs group agents' work by team."""
    return _update(ctx, username, team=_team(team))


def add_user(
    ctx: AppContext,
    username: str,
    password: str,
    roles: list[str],
    partner: str | None = None,
    team: str | None = None,
) -> UserView:
    username = username.strip()
    if not username or len(username) > 200:
        raise ValidationFailed(
            "a user name is 1-200 characters", errors=[{"field": "username", "message": "length"}]
        )
    check_name(username, "username")
    checked = check_roles(roles, partner)
    _check_password(password)
    now = ctx.now()
    user = User(
        id=str(uuid.uuid4()),
        username=username,
        password_hash=hasher(ctx.settings).hash(password),
        roles=checked,
        partner=partner or None,
        team=_team(team),
        created_at=now,
        updated_at=now,
    )
    with write_session(ctx.db) as session:
        session.add(user)
        try:
            session.commit()
        except IntegrityError as exc:
            raise Conflict(f"user '{username}' already exists") from exc
        return public(user)


def _update(ctx: AppContext, username: str, **values: Any) -> UserView:
    with write_session(ctx.db) as session:
        result = session.execute(
            update(USER)
            .where(USER.c.username == username)
            .values(token_version=USER.c.token_version + 1, updated_at=ctx.now(), **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"user '{username}' not found")
        session.commit()
        ctx.actors.forget(username)  # this process stops honouring old tokens at once
        user = session.execute(select(User).where(User.username == username)).scalar_one()  # type: ignore[arg-type]
        return public(user)


def set_password(ctx: AppContext, username: str, password: str) -> UserView:
    """New password; ends existing sessions and clears a lock."""
    _check_password(password)
    answer = _update(ctx, username, password_hash=hasher(ctx.settings).hash(password))
    login_throttle.clear_user(ctx, username)
    return answer


def set_roles(
    ctx: AppContext, username: str, roles: list[str], partner: str | None = None
) -> UserView:
    """Replace the roles (and the partner organisation when given); ends existing sessions."""
    with read_session(ctx.db) as session:
        current = session.execute(select(USER.c.partner).where(USER.c.username == username)).first()
    if current is None:
        raise NotFound(f"user '{username}' not found")
    org = partner if partner is not None else current.partner
    return _update(ctx, username, roles=check_roles(roles, org), partner=org)


def disable(ctx: AppContext, username: str) -> UserView:
    """Disable a user: logins fail and every token issued so far stops working."""
    return _update(ctx, username, disabled=True)


def enable(ctx: AppContext, username: str) -> UserView:
    answer = _update(ctx, username, disabled=False)
    login_throttle.clear_user(ctx, username)
    return answer


def authenticate(ctx: AppContext, username: str, password: str) -> User:
    """The user for these credentials, or ``AuthenticationFailed`` (same answer for every
    reason: unknown user, wrong password, disabled). Counting failures is the caller's
    (``auth.login`` throttles per user name and client address)."""
    settings = ctx.settings
    with read_session(ctx.db) as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()  # type: ignore[arg-type]
    ph = hasher(settings)
    if user is None:
        # Spend the same time as a real check, so timing does not tell who exists.
        dummy = _dummy_hash(settings.password_hash_time_cost, settings.password_hash_memory_kib)
        _verify(ph, dummy, password)
        raise AuthenticationFailed("invalid user name or password")
    if not _verify(ph, user.password_hash, password):
        raise AuthenticationFailed("invalid user name or password")
    if user.disabled:
        raise AuthenticationFailed("invalid user name or password")
    if ph.check_needs_rehash(user.password_hash):
        with write_session(ctx.db) as session:
            session.execute(
                update(USER).where(USER.c.id == user.id).values(password_hash=ph.hash(password))
            )
            session.commit()
    return cast(User, user)


def _verify(ph: PasswordHasher, digest: str, password: str) -> bool:
    try:
        return ph.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def active_actor(ctx: AppContext, username: str, token_version: int) -> Actor:
    """The actor behind a token: the user must exist, be enabled, at that token version.

    Answers are remembered for ``settings.actor_cache_seconds`` (per process), which
    saves a query on every request; a change made in this process is seen at once, one
    made in another process within that many seconds.
    """
    cached = ctx.actors.get(username, token_version)
    if cached is not None:
        return cached
    with read_session(ctx.db) as session:
        row = session.execute(
            select(USER.c.roles, USER.c.partner, USER.c.token_version, USER.c.disabled).where(
                USER.c.username == username
            )
        ).first()
    if row is None or row.disabled or row.token_version != token_version:
        raise AuthenticationFailed("the token is no longer valid; log in again")
    actor = Actor(username, frozenset(row.roles), row.partner)
    ctx.actors.put(username, token_version, actor)
    return actor
